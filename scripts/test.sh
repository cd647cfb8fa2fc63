#!/usr/bin/env bash
# Runs every test of meterfleet, as CI does: formatting, lints, the Rust test suites (unit,
# property, fuzz-corpus replay) and the interop tests against Gurux's Python library, whose
# pinned virtual environment this script creates in .venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Docker Engine answers (the container tests build and run the image; nothing is pulled)"
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "Docker Engine does not answer: start it (for example systemctl start docker); the container tests need it" >&2
  exit 1
fi

echo "== formatting"
cargo fmt --all -- --check

echo "== the protocol core stays sans-IO: no async runtime or socket crate under dlms"
if cargo tree -p dlms --edges normal --prefix none --locked | grep -Ei '^(tokio|mio|async-std|smol|socket2|futures)[ -]'; then
  echo "dlms must not depend on an I/O crate" >&2
  exit 1
fi

echo "== the emulated meter stays sans-IO: emulator/src/device uses neither tokio nor the runtime"
if grep -rnE "tokio|crate::(net|fleet|scenario|control|runtime)\b" emulator/src/device; then
  echo "emulator/src/device must not depend on the runtime or an async runtime" >&2
  exit 1
fi

echo "== lints (every target, benches included, is type-checked here)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== python environment for interop tests (.venv, pinned by scripts/requirements.txt)"
if [ ! -x .venv/bin/python ] || ! cmp -s scripts/requirements.txt .venv/requirements.txt; then
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
  cp scripts/requirements.txt .venv/requirements.txt
fi
export MF_PYTHON="$PWD/.venv/bin/python"
export MF_REQUIRE_INTEROP=1

echo "== tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"

echo "== fuzz targets compile (run them with cargo-fuzz, see fuzz/README.md)"
cargo check --manifest-path fuzz/Cargo.toml --locked --quiet

# One closing line with the totals of every cargo test binary above.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
