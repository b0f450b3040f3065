//! The fuzz smoke: every seed of `fuzz/corpus/<target>/` plus a few thousand
//! deterministic mutations and random inputs go through the very functions
//! the cargo-fuzz targets call. It runs in plain `cargo test` on stable,
//! where the real fuzzer (see `fuzz/README.md`) cannot run by default.

use std::path::{Path, PathBuf};

#[path = "../fuzz/src/lib.rs"]
mod targets;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 6] = [
    ("decode_response", targets::decode_response),
    ("decode_error_body", targets::decode_error_body),
    ("retry_after", targets::retry_after),
    ("operation_location", targets::operation_location),
    ("timestamp", targets::timestamp),
    ("cli_args", targets::cli_args),
];

/// Generated inputs per target, on top of the corpus.
const GENERATED: usize = 2000;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(target);
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
fn dictionary() -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(fuzz_dir().join("adu.dict")).unwrap();
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

#[test]
fn every_target_has_a_meaningful_seed_corpus() {
    for (name, _) in TARGETS {
        let files = corpus(name);
        assert!(
            (10..=300).contains(&files.len()),
            "{name}: {} seeds",
            files.len()
        );
        for (file, data) in &files {
            assert!(data.len() <= 4096, "{name}/{file} is too big for a seed");
        }
    }
    assert!(dictionary().len() >= 50);
}

#[test]
fn corpus_files_pass_every_target_check() {
    for (name, target) in TARGETS {
        for (file, data) in corpus(name) {
            // A failure names the seed through the panic message of the target.
            eprintln!("{name}/{file}");
            target(&data);
        }
    }
}

#[test]
fn generated_inputs_pass_every_target_check() {
    let dict = dictionary();
    for (index, (name, target)) in TARGETS.into_iter().enumerate() {
        let seeds = corpus(name);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1));
        for round in 0..GENERATED {
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

#[test]
fn huge_bodies_pass_the_decode_targets() {
    // Over the kept bound: the one size the corpus cannot hold.
    let mut response = vec![0u8, 0x01, 0xf4];
    response.extend_from_slice(b"\n");
    response.extend_from_slice(br#"{"error":{"code":"Big","message":""#);
    response.extend(std::iter::repeat_n(b'x', 70_000));
    response.extend_from_slice(br#""}}"#);
    targets::decode_response(&response);
    targets::decode_error_body(&response[1..]);
    let mut ok = vec![1u8, 0x00, 0xc8, b'\n'];
    ok.extend(std::iter::repeat_n(b'[', 100_000));
    targets::decode_response(&ok);
}
