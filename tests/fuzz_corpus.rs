//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same functions the
//! cargo-fuzz targets call (those of `dlms` and of `emulator`), plus a deterministic batch of
//! pseudo-random inputs, so every target runs on stable in every test run.

use std::path::PathBuf;

type Runner = fn(&str, &[u8]) -> bool;

/// Every target with the function that runs it.
fn targets() -> Vec<(&'static str, Runner)> {
    let dlms = dlms::fuzzing::TARGETS.map(|t| (t, dlms::fuzzing::run as Runner));
    let emulator = emulator::fuzzing::TARGETS.map(|t| (t, emulator::fuzzing::run as Runner));
    dlms.into_iter().chain(emulator).collect()
}

/// The files of a target's corpus whose names start with `prefix`: `seed-` (made by hand from
/// the test vectors), `kept-` (kept from fuzzing runs by `scripts/fuzz.sh --keep`), or `""`
/// for all, including what a local fuzzing run added.
fn corpus(target: &str, prefix: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn every_target_has_a_seed_corpus_and_replays_it() {
    for (target, run) in targets() {
        assert!(!corpus(target, "seed-").is_empty(), "{target}: no seed");
        let inputs = corpus(target, "");
        for input in inputs {
            assert!(run(target, &input), "unknown target {target}");
        }
    }
}

/// A small xorshift generator: the same inputs on every run.
fn pseudo_random_inputs(seed: u64, count: usize) -> Vec<Vec<u8>> {
    let mut s = seed;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    (0..count)
        .map(|_| {
            let len = (next() % 300) as usize;
            (0..len).map(|_| next() as u8).collect()
        })
        .collect()
}

#[test]
fn every_target_survives_pseudo_random_inputs() {
    for (target, run) in targets() {
        for input in pseudo_random_inputs(0x5EED_0000 ^ target.len() as u64, 300) {
            run(target, &input);
        }
    }
}

#[test]
fn mutated_seeds_do_not_panic() {
    for (target, run) in targets() {
        for seed in corpus(target, "seed-") {
            let noise = pseudo_random_inputs(seed.len() as u64 + 1, 20);
            for (i, noise) in noise.into_iter().enumerate() {
                let mut m = seed.clone();
                if !m.is_empty() {
                    let at = i * 7 % m.len();
                    m[at] ^= noise.first().copied().unwrap_or(0x5A);
                }
                m.truncate(m.len().saturating_sub(i % 3));
                run(target, &m);
            }
        }
    }
}
