#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60) on the nightly toolchain, with
# AddressSanitizer and the DLMS/COSEM dictionary (fuzz/dictionaries/dlms.dict), and prints each
# target's executions per second, its largest input and its corpus. Installs cargo-fuzz first
# if it is missing.
#
#   scripts/fuzz.sh SECONDS           run; what the fuzzer adds stays under hash names, which git
#                                     ignores
#   scripts/fuzz.sh SECONDS --keep    then merge each target's corpus into its smallest set with
#                                     the same coverage and keep the inputs that are not seeds
#                                     as fuzz/corpus/TARGET/kept-SHA1, to commit: the test
#                                     command replays them on stable
#
# TARGETS="a b" limits the run to those targets. A crash is saved under fuzz/artifacts/TARGET/
# and stops the run with the fuzzer's report.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
keep=${2:-}
max_len=${MAX_LEN:-4096}
dict=dictionaries/dlms.dict

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

# Replaces TARGET's kept-* inputs with the non-seed inputs of its merged (minimal) corpus.
keep_minimal() {
  local target=$1 merged
  merged=$(mktemp -d)
  # The smallest set of inputs that covers what the whole corpus covers.
  cargo +nightly fuzz run "$target" "$merged" "corpus/$target" -- -merge=1 \
    -max_len="$max_len" >/dev/null 2>&1
  rm -f "corpus/$target"/kept-*
  seeds=$(sha1sum "corpus/$target"/seed-* | cut -c1-40)
  for input in "$merged"/*; do
    [ -e "$input" ] || continue
    sum=$(sha1sum "$input" | cut -c1-40)
    grep -qxF "$sum" <<<"$seeds" || cp "$input" "corpus/$target/kept-$sum"
  done
  rm -rf "$merged"
}

printf '%-16s %10s %10s %10s %8s %6s\n' target runs "runs/s" "max input" corpus kept
for target in ${TARGETS:-$(cargo +nightly fuzz list)}; do
  mkdir -p "corpus/$target"
  log=$(mktemp)
  cargo +nightly fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len="$max_len" -dict="$dict" -print_final_stats=1 \
    >"$log" 2>&1 || {
    cat "$log"
    echo "fuzz: $target failed (see above)" >&2
    exit 1
  }
  runs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
  largest=$(find "corpus/$target" -type f -printf '%s\n' | sort -n | tail -1)
  files=$(find "corpus/$target" -type f | wc -l)
  [ "$keep" = --keep ] && keep_minimal "$target"
  kept=$(find "corpus/$target" -name 'kept-*' | wc -l)
  printf '%-16s %10d %10d %10s %8d %6d\n' "$target" "$runs" "$((runs / seconds))" "${largest:-0}" "$files" "$kept"
  rm -f "$log"
done
