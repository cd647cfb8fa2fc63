//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same functions the
//! cargo-fuzz targets call, plus a deterministic batch of pseudo-random inputs, so every target
//! runs on stable in every test run.

use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

#[test]
fn every_target_has_a_seed_corpus_and_replays_it() {
    for target in dlms::fuzzing::TARGETS {
        let dir = corpus_dir(target);
        let entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        assert!(!entries.is_empty(), "{target}: empty corpus");
        for path in entries {
            let input = std::fs::read(&path).unwrap();
            assert!(
                dlms::fuzzing::run(target, &input),
                "unknown target {target}"
            );
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
    for target in dlms::fuzzing::TARGETS {
        for input in pseudo_random_inputs(0x5EED_0000 ^ target.len() as u64, 300) {
            dlms::fuzzing::run(target, &input);
        }
    }
}

#[test]
fn mutated_seeds_do_not_panic() {
    for target in dlms::fuzzing::TARGETS {
        for entry in std::fs::read_dir(corpus_dir(target)).unwrap() {
            let seed = std::fs::read(entry.unwrap().path()).unwrap();
            for (i, noise) in pseudo_random_inputs(seed.len() as u64 + 1, 20)
                .into_iter()
                .enumerate()
            {
                let mut m = seed.clone();
                if !m.is_empty() {
                    let at = i * 7 % m.len();
                    m[at] ^= noise.first().copied().unwrap_or(0x5A);
                }
                m.truncate(m.len().saturating_sub(i % 3));
                dlms::fuzzing::run(target, &m);
            }
        }
    }
}
