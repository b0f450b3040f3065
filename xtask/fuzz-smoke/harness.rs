//! The fuzz smoke harness shared by every cargo-fuzz project's smoke test
//! (`crates/*/tests/fuzz_smoke.rs` include this file with `#[path]`): every
//! corpus file plus deterministic mutations and random inputs go through the
//! very functions the fuzz targets call, in a plain `cargo test` on stable.
//! It lives beside xtask because it belongs to no one crate; it is not a
//! module of xtask.

use std::path::Path;

/// Declares a fuzz project's three smoke tests (include this file with
/// `#[macro_use]`): the corpus has a useful shape (`max_file_len` bounds a seed,
/// when given), and every corpus file and `generated` further inputs pass every
/// target of `targets`.
macro_rules! smoke_tests {
    ($targets:expr, $generated:expr, $max_file_len:expr) => {
        fn fuzz_dir() -> std::path::PathBuf {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
        }

        #[test]
        fn every_target_has_a_meaningful_seed_corpus() {
            harness::check_corpus_shape(&fuzz_dir(), &$targets, $max_file_len);
        }

        #[test]
        fn corpus_files_pass_every_target_check() {
            harness::run_corpus(&fuzz_dir(), &$targets);
        }

        #[test]
        fn generated_inputs_pass_every_target_check() {
            harness::run_generated(&fuzz_dir(), &$targets, $generated);
        }
    };
}

/// A fuzz target's logic: panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// The files of `fuzz_dir/corpus/<target>/`, sorted by name.
pub fn corpus(fuzz_dir: &Path, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir.join("corpus").join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// The tokens of the libFuzzer dictionary (`"..."` lines with `\"`, `\\` and
/// `\xNN` escapes), used as splice material.
pub fn dictionary(fuzz_dir: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(fuzz_dir.join("adu.dict")).unwrap();
    let mut tokens = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(inner) = line.strip_prefix('"').and_then(|l| l.strip_suffix('"')) else {
            assert!(
                line.is_empty() || line.starts_with('#'),
                "bad dictionary line {line}"
            );
            continue;
        };
        let bytes = inner.as_bytes();
        let mut token = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\\' {
                match bytes.get(i + 1) {
                    Some(b'x') => {
                        let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap();
                        token.push(u8::from_str_radix(hex, 16).unwrap());
                        i += 4;
                    }
                    Some(&c) => {
                        token.push(c);
                        i += 2;
                    }
                    None => panic!("dangling escape in {line}"),
                }
            } else {
                token.push(bytes[i]);
                i += 1;
            }
        }
        tokens.push(token);
    }
    tokens
}

/// xorshift64*: small, seeded, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn mutate(rng: &mut Rng, seed: &[u8], others: &[(String, Vec<u8>)], dict: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let len = data.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let extra = rng.bytes(n);
                data.splice(i..i, extra);
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(16)).min(len);
                data.drain(start..end);
            }
            4 => {
                let i = rng.below(len + 1);
                let token = dict[rng.below(dict.len())].clone();
                data.splice(i..i, token);
            }
            5 => {
                // Splice the tail of another seed in.
                let (_, other) = &others[rng.below(others.len())];
                let from = rng.below(other.len() + 1);
                let at = rng.below(len + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            6 if len > 0 => {
                // Repeat a slice: deep nesting, long runs.
                let start = rng.below(len);
                let end = (start + 1 + rng.below(8)).min(len);
                let chunk = data[start..end].to_vec();
                for _ in 0..rng.below(64) {
                    data.splice(start..start, chunk.iter().copied());
                }
            }
            _ => data.truncate(rng.below(len + 1)),
        }
    }
    data
}

/// Each target has 10 to 300 corpus files (each at most `max_file_len`
/// bytes, when given) and the dictionary has at least 50 tokens.
pub fn check_corpus_shape(
    fuzz_dir: &Path,
    targets: &[(&str, Target)],
    max_file_len: Option<usize>,
) {
    for (name, _) in targets {
        let files = corpus(fuzz_dir, name);
        assert!(
            (10..=300).contains(&files.len()),
            "{name}: {} files",
            files.len()
        );
        if let Some(max) = max_file_len {
            for (file, data) in &files {
                assert!(data.len() <= max, "{name}/{file} is too big for a seed");
            }
        }
    }
    assert!(dictionary(fuzz_dir).len() >= 50);
}

/// Every corpus file through its target.
pub fn run_corpus(fuzz_dir: &Path, targets: &[(&str, Target)]) {
    for (name, target) in targets {
        for (file, data) in corpus(fuzz_dir, name) {
            // A failure names the file through the panic message of the target.
            eprintln!("{name}/{file}");
            target(&data);
        }
    }
}

/// `generated` inputs per target: four in five mutate a corpus file, one in
/// five is random bytes. Seeded, so a failure reproduces.
pub fn run_generated(fuzz_dir: &Path, targets: &[(&str, Target)], generated: usize) {
    let dict = dictionary(fuzz_dir);
    for (index, (name, target)) in targets.iter().enumerate() {
        let seeds = corpus(fuzz_dir, name);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1));
        for round in 0..generated {
            let data = if round % 5 == 4 {
                let n = rng.below(96);
                rng.bytes(n)
            } else {
                let (_, seed) = &seeds[rng.below(seeds.len())];
                mutate(&mut rng, seed, &seeds, &dict)
            };
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(
                outcome.is_ok(),
                "{name} failed on generated input #{round}: {:?}",
                String::from_utf8_lossy(&data)
            );
        }
    }
}
