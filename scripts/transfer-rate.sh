#!/usr/bin/env bash
# Blocks per second for one meter on loopback: a 256 KiB image in 1 KiB blocks, meterfleet's
# driver against meterfleet's emulated meter and against the Gurux-based meter
# (scripts/gurux_meter.py), side by side. Needs the environment ./scripts/test.sh creates.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
M=target/release/meterfleet
PY=.venv/bin/python
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

$M image keygen --out "$dir/vendor" >/dev/null
head -c 262144 /dev/urandom > "$dir/payload.bin"
$M image build --signing-key "$dir/vendor.key" --part 1 --image-version RATE-1 "$dir/payload.bin" -o "$dir/fw.img" >/dev/null
printf 'image_block_size = 1024\nmax_pdu_size = 2048\nactivation_reboot_ms = 200\n' > "$dir/profile.toml"

$M emulate --listen 127.0.0.1:0 --trust-key "$dir/vendor.pub" --profile "$dir/profile.toml" > "$dir/ours.out" 2>/dev/null &
$PY scripts/gurux_meter.py --block-size 1024 --pdu 2048 --store "$dir/stored.bin" > "$dir/gurux.out" &
sleep 1.5
ours=$(awk '{print $4; exit}' "$dir/ours.out")
gurux=$(awk '{print $3; exit}' "$dir/gurux.out")

rate() {
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); s=r['last_block_at']-r['first_block_at']; print(f\"{r['blocks_sent']} blocks in {s:.3f} s: {r['blocks_sent']/s:,.0f} blocks/s ({r['outcome']['result']})\")" "$1"
}
$M upgrade --target "tcp://$ours" --password 12345678 --image "$dir/fw.img" --json "$dir/ours.json" >/dev/null
$M upgrade --target "tcp://$gurux" --image "$dir/fw.img" --json "$dir/gurux.json" >/dev/null
echo "meterfleet driver -> meterfleet emulated meter: $(rate "$dir/ours.json")"
echo "meterfleet driver -> Gurux-based meter:         $(rate "$dir/gurux.json")"
