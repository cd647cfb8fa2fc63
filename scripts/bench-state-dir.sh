#!/usr/bin/env bash
# Blocks per second of one `meterfleet upgrade` (2,001 blocks of 200 bytes, a 400 KB signed
# image) against `meterfleet emulate --state-dir`, where every block is journalled and synced
# before it is acknowledged, and against the same meter in memory, the ceiling of the same run.
# Needs a release build: cargo build --release.
set -euo pipefail
cd "$(dirname "$0")/.."
mf=${MF:-target/release/meterfleet}
runs=${RUNS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$mf" image keygen --out "$work/v" >/dev/null
head -c 400000 /dev/urandom >"$work/payload"
"$mf" image build --signing-key "$work/v.key" --part 1 --image-version APP-9 \
  --out "$work/fw.img" "$work/payload" >/dev/null

# Blocks per second of one upgrade; $1 is "state" or "memory".
rate() {
  local port=4071 state=()
  [ "$1" = state ] && state=(--state-dir "$work/state-$RANDOM")
  "$mf" emulate --listen "127.0.0.1:$port" "${state[@]}" --trust-key "$work/v.pub" >/dev/null 2>&1 &
  local meter=$!
  sleep 0.5
  "$mf" upgrade --target "tcp://127.0.0.1:$port" --password 12345678 --image "$work/fw.img" 2>&1 |
    awk '/sending/ {s=$1} /completeness/ {e=$1} END {printf "%.0f\n", 2001/(e-s)}'
  kill "$meter"
  wait "$meter" 2>/dev/null || true
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
with_state=$(for _ in $(seq "$runs"); do rate state; done | median)
in_memory=$(for _ in $(seq "$runs"); do rate memory; done | median)
echo "with --state-dir: $with_state blocks/s; in memory: $in_memory blocks/s (median of $runs)"
awk -v a="$with_state" -v b="$in_memory" 'BEGIN {printf "ratio: %.2f of the in-memory ceiling\n", a/b}'
