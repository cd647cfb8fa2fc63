#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60) on the nightly toolchain, with
# AddressSanitizer, and prints each target's executions per second, its largest input and its
# corpus. Installs cargo-fuzz first if it is missing.
#
# What the fuzzer adds lands in fuzz/corpus/TARGET/ under hash names, which git ignores; copy an
# input worth keeping to a seed-* name to commit it, and the test command replays it on stable.
# A crash is saved under fuzz/artifacts/TARGET/ and stops the run with the fuzzer's report.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
max_len=${MAX_LEN:-4096}

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

printf '%-16s %10s %10s %10s %8s\n' target runs "runs/s" "max input" corpus
for target in $(cargo +nightly fuzz list); do
  mkdir -p "corpus/$target"
  log=$(mktemp)
  cargo +nightly fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len="$max_len" -print_final_stats=1 >"$log" 2>&1 || {
    cat "$log"
    echo "fuzz: $target failed (see above)" >&2
    exit 1
  }
  runs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
  largest=$(find "corpus/$target" -type f -printf '%s\n' | sort -n | tail -1)
  files=$(find "corpus/$target" -type f | wc -l)
  printf '%-16s %10d %10d %10s %8d\n' "$target" "$runs" "$((runs / seconds))" "${largest:-0}" "$files"
  rm -f "$log"
done
