#!/usr/bin/env bash
# Figures for the block path beside the loopback ceiling, each measured in the same run
# (docs/figures.md): one meter (confirmed, and unconfirmed bursts), the emulator alone under a
# load generator at 1 and 10,000 meters, a confirmed fleet campaign, and how memory and rate
# grow with the fleet in one process up to the largest this machine's open-file limit allows.
# Run from the repository; it builds the release binary first. Every run is bounded.
set -euo pipefail
cargo build --release --quiet
M="$PWD/target/release/meterfleet"
echo "== one meter, confirmed (3 runs)"
for _ in 1 2 3; do $M bench meter | tail -3; done
echo "== one meter, unconfirmed bursts of 16"
$M bench meter --image-kib 16000 --unconfirmed-blocks 16 | tail -3
echo "== the emulator alone"
$M bench emulator --meters 1 --connections 1 --seconds 3
$M bench emulator --meters 10000 --connections 1000 --seconds 3 2>&1 | grep -v WARN
echo "== a confirmed fleet campaign: 2,000 meters, 256 KiB, 1,000 at once (3 runs)"
for _ in 1 2 3; do
  $M bench fleet --meters 2000 --image-kib 256 --campaign --concurrency 1000 2>&1 | grep -E "^(campaign|ceiling|per meter)" | sed "s/ (a round trip each.*them)//"
done
echo "== the same block path with less of each meter's own work in the middle half: one wave"
echo "   (1,000 meters, 1,000 at once, 256 KiB), and 2,000 meters with a 1 MiB image"
for args in "--meters 1000 --image-kib 256" "--meters 2000 --image-kib 1024"; do
  # shellcheck disable=SC2086
  $M bench fleet $args --campaign --concurrency 1000 2>&1 | grep -E "^campaign (block|request) rate|^ceiling with" | sed "s/ (a round trip each.*them)//"
done
echo "== scale in one process (hard open-file limit: $(ulimit -Hn))"
for n in 1000 5000 10000 19000; do
  echo "-- $n meters"
  $M bench fleet --meters $n --image-kib 16 --campaign --concurrency 500 2>&1 | grep -E "^(meters|mid|campaign|ceiling)"
done
