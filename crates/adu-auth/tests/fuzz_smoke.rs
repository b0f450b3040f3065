//! The fuzz smoke: every seed of `fuzz/corpus/<target>/` plus a few thousand
//! deterministic mutations and random inputs go through the very functions
//! the cargo-fuzz targets call (`fuzz/src/lib.rs`). It runs in plain
//! `cargo test` on stable; the real coverage-guided fuzzer is
//! `cargo xtask fuzz` (see `fuzz/README.md`).

use std::path::{Path, PathBuf};

#[path = "../fuzz/src/lib.rs"]
mod targets;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("token_response", targets::token_response),
    ("token_error", targets::token_error),
    ("implicit_redirect", targets::implicit_redirect),
    ("code_redirect", targets::code_redirect),
];

/// Generated inputs per target, on top of the corpus.
const GENERATED: usize = 1500;

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
            "{name}: {} files",
            files.len()
        );
    }
    assert!(dictionary().len() >= 50);
}

#[test]
fn corpus_files_pass_every_target_check() {
    for (name, target) in TARGETS {
        for (file, data) in corpus(name) {
            // A failure names the file through the panic message of the target.
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
fn huge_token_answers_pass_the_token_targets() {
    // A megabyte: beyond what a corpus file holds.
    let filler = "x".repeat(1 << 20);
    let mut error = vec![0u8, 0x01, 0xf7]; // 503, client credentials, JSON
    error.extend_from_slice(
        format!(
            r#"{{"error":"server_error","error_description":"AADSTS{filler} {}","trace_id":"{}"}}"#,
            targets::CLIENT_SECRET,
            targets::CLIENT_SECRET
        )
        .as_bytes(),
    );
    targets::token_error(&error);
    let mut html = vec![6u8, 0x01, 0xf6]; // 502, text/html
    html.extend_from_slice(format!("<html>{filler}{}</html>", targets::CLIENT_SECRET).as_bytes());
    targets::token_error(&html);
    let mut ok = vec![0u8];
    ok.extend_from_slice(
        format!(r#"{{"access_token":"{filler}","token_type":"Bearer","expires_in":"3599"}}"#)
            .as_bytes(),
    );
    targets::token_response(&ok);
    let mut deep = vec![0u8];
    deep.extend(std::iter::repeat_n(b'[', 100_000));
    targets::token_response(&deep);
}

#[test]
fn huge_redirects_pass_the_redirect_targets() {
    let long = format!(
        "http://localhost:8400/#access_token={}&token_type=Bearer&state={}",
        "t".repeat(1 << 20),
        targets::STATE_PLACEHOLDER
    );
    targets::implicit_redirect(long.as_bytes());
    let many: String = (0..20_000).map(|i| format!("p{i}=v&")).collect();
    targets::code_redirect(
        format!("?{many}code=c&state={}", targets::STATE_PLACEHOLDER).as_bytes(),
    );
}
