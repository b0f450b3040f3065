//! `cargo xtask codegen [--check]`: generates `crates/adu-model/src/generated/mod.rs`
//! from our API descriptions in `docs/api/`, one per row of [`VERSIONS`].

mod generator;
mod versions;

use std::path::Path;
use std::process::Command;

use crate::util::project_root;

/// One API version: a row of [`VERSIONS`].
pub struct Version {
    /// Its name as an upstream file's `info.version` gives it.
    pub name: &'static str,
    /// Its name on the wire and on command lines (the legacy API's is `v2`); the generated
    /// `ApiVersion` variant is made of it (`v2` is `V2`, `2022-10-01` is `V2022_10_01`).
    pub wire: &'static str,
    /// Our description of it, relative to the workspace root.
    pub description: &'static str,
    /// Its folder among the upstream reference files.
    pub folder: &'static str,
}

/// The API versions, oldest first, one row each. Adding a version is a row here and its
/// description: codegen merges every row's definitions and makes `ApiVersion` of the rows
/// (the newest is the default; whether a version is legacy, and which reads it has, comes
/// from its description), and spec-check finds each row by its name.
pub const VERSIONS: &[Version] = &[
    Version {
        name: "2020-09-01",
        wire: "v2",
        description: "docs/api/deviceupdate-2020-09-01.json",
        folder: "2020-09-01",
    },
    Version {
        name: "2022-10-01",
        wire: "2022-10-01",
        description: "docs/api/deviceupdate-2022-10-01.json",
        folder: "2022-10-01",
    },
    Version {
        name: "2026-06-01",
        wire: "2026-06-01",
        description: "docs/api/deviceupdate-2026-06-01.json",
        folder: "2026-06-01",
    },
];

/// The generated model types, relative to the workspace root.
pub const GENERATED_MODULE: &str = "crates/adu-model/src/generated/mod.rs";

/// The generated `ApiVersion`, relative to the workspace root.
pub const GENERATED_VERSIONS: &str = "crates/adu-model/src/generated/api_version.rs";

/// Runs the task: `codegen` writes the generated files, `codegen --check` only compares.
pub fn run(args: &[String]) -> Result<(), String> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => return Err("usage: cargo xtask codegen [--check]".to_owned()),
    };
    for (file, generated) in generate_from(&project_root())? {
        let target = project_root().join(file);
        let existing = std::fs::read_to_string(&target).unwrap_or_default();
        if existing == generated {
            eprintln!("{file} is up to date");
        } else if check {
            return Err(stale_message(file, &existing, &generated));
        } else {
            std::fs::write(&target, generated)
                .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
            eprintln!("wrote {file}");
        }
    }
    Ok(())
}

/// Reads every version's description under `root` and returns each generated file
/// (relative to `root`) with its formatted text.
pub fn generate_from(root: &Path) -> Result<Vec<(&'static str, String)>, String> {
    let mut texts = Vec::new();
    for version in VERSIONS {
        let path = root.join(version.description);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        texts.push((version, text));
    }
    let models: Vec<(&str, &str)> = texts.iter().map(|(v, t)| (v.name, t.as_str())).collect();
    let rows: Vec<versions::Row<'_>> = texts
        .iter()
        .map(|(v, text)| versions::Row {
            wire: v.wire,
            name: v.name,
            text,
        })
        .collect();
    Ok(vec![
        (
            GENERATED_MODULE,
            format_with_rustfmt(&generator::generate(&models)?)?,
        ),
        (
            GENERATED_VERSIONS,
            format_with_rustfmt(&versions::generate(&rows)?)?,
        ),
    ])
}

/// Formats Rust source with `rustfmt --edition 2021`.
fn format_with_rustfmt(source: &str) -> Result<String, String> {
    let failed = |e: std::io::Error| format!("cannot format the generated code: {e}");
    let file = tempfile::NamedTempFile::new().map_err(failed)?;
    std::fs::write(file.path(), source).map_err(failed)?;
    crate::util::run(
        Command::new("rustfmt")
            .args(["--edition", "2021"])
            .arg(file.path()),
    )?;
    std::fs::read_to_string(file.path()).map_err(failed)
}

/// The error for a stale generated file: names the fix.
fn stale_message(file: &str, existing: &str, generated: &str) -> String {
    let same = existing
        .lines()
        .zip(generated.lines())
        .take_while(|(a, b)| a == b);
    let line = same.count() + 1;
    format!("{file} is stale from line {line}; run `cargo xtask codegen`")
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

    /// The committed files are what the generator makes of `docs/api/`, so a plain
    /// `cargo test` fails when one is stale, as `cargo xtask codegen --check` does.
    #[test]
    fn generated_module_is_fresh() {
        for (file, generated) in generate_from(&project_root()).unwrap() {
            let committed = std::fs::read_to_string(project_root().join(file)).unwrap();
            assert!(
                committed == generated,
                "{}",
                stale_message(file, &committed, &generated)
            );
            assert!(committed.starts_with("// @generated by `cargo xtask codegen`"));
        }
        let stale = stale_message(GENERATED_MODULE, "a\nb\n", "a\nc\n");
        assert!(
            stale.ends_with("line 2; run `cargo xtask codegen`"),
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
        // Whoever accepts it: the older version's values come first.
        let values = "    Red,\n    /// The value `Green`.\n    Green,\n    /// The value `Blue`.\n    Blue,";
        assert!(generated.contains(values), "{generated}");
    }

    /// A version's facts come from its description: legacy when its reads take no
    /// `api-version`, device-management operations when it has the `management` paths.
    #[test]
    fn version_facts_are_read_from_the_descriptions() {
        let query = |name: &str| json!({ "name": name, "in": "query" });
        let version = json!({ "$ref": "#/parameters/V" });
        let get = |parameters: serde_json::Value| json!({ "get": { "parameters": parameters } });
        let legacy = json!({ "paths": {
            "/old/v9/updates/operations/{operationId}": get(json!([])),
            "/old/v9/updates/operations": get(json!([query("$filter"), query("$top")])),
        } });
        let current = json!({
            "paths": {
                "/new/updates/operations/{operationId}": get(json!([version])),
                "/new/updates/operations": get(json!([query("filter"), query("top"), version])),
                "/new/management/operations/{operationId}": get(json!([version])),
                "/new/management/operations": get(json!([query("filter"), query("top"), version])),
            },
            "parameters": { "V": query("api-version") },
        });
        let (legacy, current) = (legacy.to_string(), current.to_string());
        let rows = [
            versions::Row {
                wire: "v9",
                name: "2001-01-01",
                text: &legacy,
            },
            versions::Row {
                wire: "2002-02-02",
                name: "2002-02-02",
                text: &current,
            },
        ];
        let out = versions::generate(&rows).unwrap();
        for expected in [
            "#[default]\n    V2002_02_02,",
            "Self::V2002_02_02, Self::V9]",
            "Self::V9 => \"v9\",",
            "Self::V9 => \"2001-01-01\",",
            "Self::V9 => false,",
            "Self::V2002_02_02 => true,",
            "device: None",
            "get: \"/new/management/operations/{operationId}\"",
            "filter: \"$filter\"",
            "top: \"top\"",
        ] {
            assert!(out.contains(expected), "`{expected}` not in:\n{out}");
        }
        // A kind with a get and no list, or no update reads at all, is refused.
        let half = json!({ "paths": { "/x/updates/operations/{operationId}": get(json!([])) } });
        let half = half.to_string();
        let error = versions::generate(&[versions::Row {
            wire: "v1",
            name: "v1",
            text: &half,
        }])
        .unwrap_err();
        assert!(error.contains("needs both a get and a list"), "{error}");
        let none = json!({ "paths": {} }).to_string();
        let error = versions::generate(&[versions::Row {
            wire: "v1",
            name: "v1",
            text: &none,
        }])
        .unwrap_err();
        assert!(
            error.contains("it has no update-operation reads"),
            "{error}"
        );
    }

    #[test]
    fn conflicts_and_unsupported_input_are_refused_with_a_clear_message() {
        let paint = "/definitions/Paint/properties";
        let cases = [
            // A conflict is an edit of the older version only.
            (true, format!("{paint}/brandName/type"), json!("integer"), "`Paint` conflicts between v1 and v2: properties.brandName.type: v1 \"integer\", v2 \"string\""),
            (true, "/definitions/Paint/required".into(), json!(["colour"]), "`Paint` conflicts between v1 and v2: required: v1 [\"colour\"]"),
            (true, "/definitions/Colour/type".into(), json!("object"), "`Colour` conflicts between v1 and v2: type: v1 \"object\", v2 \"string\""),
            // Bad input is an edit of the only version.
            (false, format!("{paint}/brandName/x-adu-alias"), json!("Brand"), "`x-adu-alias` is for optional properties"),
            (false, format!("{paint}/label/x-adu-boxed"), json!("yes"), "expected a boolean"),
            (false, format!("{paint}/mixedAt/x-adu-rust-type"), json!(null), "property `mixedAt`: a date-time needs `x-adu-rust-type`"),
            (false, format!("{paint}/base/$ref"), json!("#/definitions/Nowhere"), "property `base`: `#/definitions/Nowhere` is not one of our definitions"),
            (false, "/definitions/Paint/required".into(), json!(["colour", "missing"]), "`Paint`: required `missing` is not a property"),
            (false, "/definitions/Colour/type".into(), json!("integer"), "`Colour`: unsupported type Some(\"integer\")"),
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
