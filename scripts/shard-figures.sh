#!/usr/bin/env bash
# Figures for issue 17: one shard alone (18,000 meters in one process), then four shards
# (72,000 meters in four processes), each with its campaign shard; RSS per meter and block rate.
set -euo pipefail
# Run from the repository after `cargo build --release`; it works in a temporary folder.
M="$PWD/target/release/meterfleet"
work=$(mktemp -d)
cp scripts/shard-figures.toml "$work/big.toml"
cd "$work"
$M image keygen --out vendor >/dev/null 2>&1 || true
head -c 8000 /dev/urandom > payload
$M image build --signing-key vendor.key --part 1 --image-version APP-2.0.0 --out fw.img payload >/dev/null
run() { # $1 = shards to run (space separated indices)
  local pids=() start
  for i in $1; do
    rm -rf t$i.toml
    $M emulate --scenario big.toml --trust-key vendor.pub --shard-index $i --shard-count 4 --control 127.0.0.1:$((9400+i)) --targets-out t$i.toml > e$i.log 2>&1 &
    pids+=($!)
  done
  start=$(date +%s.%N)
  for i in $1; do while [ ! -s t$i.toml ]; do sleep 0.2; done; done
  echo "started in $(echo "$(date +%s.%N) - $start" | bc) s"
  for p in "${pids[@]}"; do echo "idle RSS pid $p: $(grep VmRSS /proc/$p/status)"; done
  local cpids=()
  for i in $1; do
    $M upgrade --target t$i.toml --image fw.img --concurrency 500 --json r$i.json > u$i.log 2>&1 &
    cpids+=($!)
  done
  sleep 8
  for p in "${pids[@]}"; do echo "mid RSS pid $p: $(grep VmRSS /proc/$p/status)"; done
  wait "${cpids[@]}"
  for p in "${pids[@]}"; do kill $p; done
  wait 2>/dev/null || true
}
echo "== one process: shard 0 alone (18,000 meters)"
run "0"
python3 -c "import json;r=json.load(open('r0.json'))['summary'];print('blocks',r['blocks_sent'],'s',r['duration_seconds'],'rate',r['blocks_sent']/r['duration_seconds'],'ok',r['succeeded'])"
echo "== four processes: shards 0..3 (72,000 meters)"
run "0 1 2 3"
$M report merge r0.json r1.json r2.json r3.json --json merged.json > merge.log
python3 -c "import json;r=json.load(open('merged.json'))['summary'];print('blocks',r['blocks_sent'],'s',r['duration_seconds'],'rate',r['blocks_sent']/r['duration_seconds'],'ok',r['succeeded'])"
