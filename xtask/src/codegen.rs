//! `cargo xtask codegen [--check]`: generates `crates/adu-model/src/generated/mod.rs`
//! from our API descriptions in `docs/api/`, one per row of [`VERSIONS`].

mod generator;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::project_root;

/// One API version the project speaks.
pub struct Version {
    /// Its name, as an upstream file's `info.version` gives it.
    pub name: &'static str,
    /// Our description of it, relative to the workspace root.
    pub description: &'static str,
    /// Its folder among the upstream reference files, holding `deviceupdate.json`.
    pub upstream: &'static str,
}

/// The API versions, oldest first. Adding a version is a row here and our description
/// of it: codegen merges every row's definitions, spec-check knows each by its name.
pub const VERSIONS: &[Version] = &[
    Version {
        name: "2020-09-01",
        description: "docs/api/deviceupdate-2020-09-01.json",
        upstream: "2020-09-01",
    },
    Version {
        name: "2022-10-01",
        description: "docs/api/deviceupdate-2022-10-01.json",
        upstream: "2022-10-01",
    },
];

/// The generated module, relative to the workspace root.
pub const GENERATED_MODULE: &str = "crates/adu-model/src/generated/mod.rs";

/// Runs the task: `codegen` writes the module, `codegen --check` only compares.
pub fn run(args: &[String]) -> Result<(), String> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => {
            return Err(format!(
                "usage: cargo xtask codegen [--check] (got `{}`)",
                args.join(" ")
            ))
        }
    };
    let generated = generate_from(&project_root())?;
    let target = project_root().join(GENERATED_MODULE);
    let existing = std::fs::read_to_string(&target).unwrap_or_default();
    if existing == generated {
        eprintln!("{GENERATED_MODULE} is up to date");
    } else if check {
        return Err(stale_message(&existing, &generated));
    } else {
        std::fs::write(&target, generated)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        eprintln!("wrote {GENERATED_MODULE}");
    }
    Ok(())
}

/// Reads every version's description under `root` and returns the formatted module.
pub fn generate_from(root: &Path) -> Result<String, String> {
    let mut texts = Vec::new();
    for version in VERSIONS {
        let path = root.join(version.description);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        texts.push((version.name, text));
    }
    let texts: Vec<(&str, &str)> = texts.iter().map(|(v, t)| (*v, t.as_str())).collect();
    format_with_rustfmt(&generator::generate(&texts)?)
}

/// Formats Rust source with `rustfmt --edition 2021`, through its standard input and output.
fn format_with_rustfmt(source: &str) -> Result<String, String> {
    let failed = |e: std::io::Error| format!("cannot run rustfmt: {e}");
    let mut rustfmt = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(failed)?;
    // rustfmt reads all of its input before it writes, so writing first cannot dead-lock;
    // the pipe closes when the handle taken here is dropped.
    let input = rustfmt
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(source.as_bytes()));
    input.transpose().map_err(failed)?;
    let output = rustfmt.wait_with_output().map_err(failed)?;
    match output.status.success() {
        true => String::from_utf8(output.stdout).map_err(|e| e.to_string()),
        false => Err(format!(
            "rustfmt rejected the generated code ({})",
            output.status
        )),
    }
}

/// The error for a stale module: names the fix and the first differing line.
fn stale_message(existing: &str, generated: &str) -> String {
    let line = existing
        .lines()
        .zip(generated.lines())
        .take_while(|(a, b)| a == b)
        .count();
    format!(
        "{GENERATED_MODULE} is stale (it first differs at line {}); run `cargo xtask codegen`",
        line + 1
    )
}

#[cfg(test)]
mod tests {
    use super::generator::generate;
    use super::*;
    use serde_json::json;

    const TINY: [(&str, &str); 2] = [
        ("v1", include_str!("codegen/snapshot/tiny-v1.json")),
        ("v2", include_str!("codegen/snapshot/tiny-v2.json")),
    ];

    /// The committed module is what the generator makes of `docs/api/`, so a plain
    /// `cargo test` fails when it is stale, as `cargo xtask codegen --check` does.
    #[test]
    fn generated_module_is_fresh() {
        let committed = std::fs::read_to_string(project_root().join(GENERATED_MODULE)).unwrap();
        let generated = generate_from(&project_root()).unwrap();
        assert!(
            committed == generated,
            "{}",
            stale_message(&committed, &generated)
        );
        assert!(committed.starts_with("// @generated by `cargo xtask codegen`"));
        let stale = stale_message("a\nb\n", "a\nc\n");
        assert!(
            stale.ends_with("line 2); run `cargo xtask codegen`"),
            "{stale}"
        );
    }

    /// The formatted output for a tiny two-version description is committed, so that a
    /// change to what the generator emits shows up in review.
    /// `UPDATE_SNAPSHOTS=1 cargo test -p xtask` accepts a deliberate change.
    #[test]
    fn tiny_description_matches_the_snapshot() {
        let generated = format_with_rustfmt(&generate(&TINY).unwrap()).unwrap();
        let path = project_root().join("xtask/src/codegen/snapshot/tiny.rs.snap");
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let snapshot = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(snapshot == generated, "output changed; review it and run `UPDATE_SNAPSHOTS=1 cargo test -p xtask`\n{generated}");
        // What the snapshot must show, whoever accepts it: the older version's values
        // first, the newer version's prose, a box where a type holds itself, the alias.
        for needle in [
            "    /// Only the old version has red.\n    Red,\n    /// The value `Green`.\n    Green,\n",
            "/// A colour, as the new version describes it.",
            "pub base: Option<Box<Paint>>,",
            "base: wire.base.or(wire.base_alias)",
        ] {
            assert!(generated.contains(needle), "missing `{needle}`");
        }
    }

    #[test]
    fn conflicts_and_unsupported_input_are_refused_with_a_clear_message() {
        let paint = "/definitions/Paint/properties";
        let cases = [
            // A conflict is an edit of the older version only.
            (true, format!("{paint}/brandName/type"), json!("integer"), "`Paint` conflicts between v1 and v2: properties.brandName.type: v1 \"integer\", v2 \"string\""),
            (true, "/definitions/Paint/required".into(), json!(["colour"]), "`Paint` conflicts between v1 and v2: required: v1 [\"colour\"]"),
            (true, format!("{paint}/extra"), json!({"type": "string"}), "properties.extra: only in v1"),
            (true, "/definitions/Colour/type".into(), json!("object"), "`Colour` conflicts between v1 and v2: type: v1 \"object\", v2 \"string\""),
            (true, format!("{paint}/label/x-adu-boxed"), json!(false), "properties.label.x-adu-boxed: v1 false, v2 true"),
            // Bad input is an edit of the only version.
            (false, format!("{paint}/brandName/x-adu-alias"), json!("Brand"), "`x-adu-alias` is for optional properties"),
            (false, format!("{paint}/label/x-adu-boxed"), json!("yes"), "expected a boolean"),
            (false, format!("{paint}/brandName/x-adu-boxed"), json!(true), "property `brandName`: `x-adu-boxed` is for `$ref` properties"),
            (false, format!("{paint}/mixedAt/x-adu-rust-type"), json!(null), "property `mixedAt`: a date-time needs `x-adu-rust-type`"),
            (false, format!("{paint}/base/$ref"), json!("#/definitions/Nowhere"), "property `base`: `#/definitions/Nowhere` is not one of our definitions"),
            (false, "/definitions/Paint/required".into(), json!(["colour", "missing"]), "`Paint`: required `missing` is not a property"),
            (false, "/definitions/Colour/type".into(), json!("integer"), "`Colour`: type Some(\"integer\") is not supported"),
        ];
        for (conflict, pointer, value, expected) in cases {
            let mut edited: serde_json::Value = serde_json::from_str(TINY[0].1).unwrap();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            edited.pointer_mut(parent).unwrap()[key] = value;
            let edited = edited.to_string();
            let versions = if conflict {
                &[("v1", edited.as_str()), TINY[1]][..]
            } else {
                &[("v1", edited.as_str())]
            };
            let error = generate(versions).unwrap_err();
            assert!(
                error.contains(expected),
                "expected `{expected}` in: {error}"
            );
        }
        assert!(generate(&[("v1", "{")])
            .unwrap_err()
            .contains("the v1 description is invalid"));
    }
}
