//! `cargo xtask codegen [--check]`: generates `crates/adu-model/src/generated/mod.rs`
//! from the API description in `docs/api/`.
//!
//! The generator itself lives in `codegen/generator.rs`, which adu-model's
//! `tests/codegen_fresh.rs` also includes, so that a plain `cargo test` notices a
//! stale generated file too.

pub mod generator;

use std::path::{Path, PathBuf};

use crate::util::project_root;

/// The legacy API description, relative to the workspace root.
pub const LEGACY_DESCRIPTION: &str = "docs/api/deviceupdate-2020-09-01.json";
/// The current API description, relative to the workspace root.
pub const CURRENT_DESCRIPTION: &str = "docs/api/deviceupdate-2022-10-01.json";
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
    let root = project_root();
    let generated = generate_from(&root)?;
    let target = root.join(GENERATED_MODULE);
    let existing = std::fs::read_to_string(&target).unwrap_or_default();
    if check {
        if existing == generated {
            eprintln!("{GENERATED_MODULE} is up to date");
            Ok(())
        } else {
            Err(stale_message(&existing, &generated))
        }
    } else if existing == generated {
        eprintln!("{GENERATED_MODULE} is already up to date");
        Ok(())
    } else {
        std::fs::write(&target, generated)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        eprintln!("wrote {GENERATED_MODULE}");
        Ok(())
    }
}

/// Reads both descriptions under `root` and returns the formatted module.
pub fn generate_from(root: &Path) -> Result<String, String> {
    let read = |relative: &str| {
        let path: PathBuf = root.join(relative);
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    generator::generate_formatted(&read(LEGACY_DESCRIPTION)?, &read(CURRENT_DESCRIPTION)?)
}

/// The error for a stale module: names the fix and shows the first difference.
fn stale_message(existing: &str, generated: &str) -> String {
    let first_difference = existing
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| existing.lines().count().min(generated.lines().count()));
    format!(
        "{GENERATED_MODULE} is stale (it first differs at line {}); run `cargo xtask codegen`",
        first_difference + 1
    )
}

#[cfg(test)]
mod tests {
    use super::generator::{generate, generate_formatted};
    use super::*;

    const TINY_LEGACY: &str = include_str!("codegen/snapshot/tiny-legacy.json");
    const TINY_CURRENT: &str = include_str!("codegen/snapshot/tiny-current.json");
    const TINY_SNAPSHOT: &str = "xtask/src/codegen/snapshot/tiny.rs.snap";

    /// The generator's raw output for a tiny description (one enum, one
    /// recursive struct) is committed, so that any change to what the generator
    /// emits shows up in review. `UPDATE_SNAPSHOTS=1 cargo test -p xtask`
    /// rewrites the snapshot.
    #[test]
    fn tiny_description_matches_the_snapshot() {
        let generated = generate(TINY_LEGACY, TINY_CURRENT).unwrap();
        let path = project_root().join(TINY_SNAPSHOT);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let snapshot = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            snapshot == generated,
            "the generator's output changed; review it and run `UPDATE_SNAPSHOTS=1 cargo test -p xtask` \
             to accept it\n--- new output ---\n{generated}"
        );
    }

    #[test]
    fn tiny_description_merges_enum_values_and_boxes_recursion() {
        let generated = generate(TINY_LEGACY, TINY_CURRENT).unwrap();
        // The union of both versions' values, in order, plus the catch-all.
        let red = generated.find("    Red,").unwrap();
        let green = generated.find("    Green,").unwrap();
        let blue = generated.find("    Blue,").unwrap();
        assert!(red < green && green < blue, "{generated}");
        assert!(generated.contains("    Unknown(String),"));
        // The current description wins for docs; the legacy one fills gaps.
        assert!(generated.contains("/// A colour, as the new version describes it."));
        assert!(generated.contains("/// Only the old version has red."));
        // A direct self-reference is boxed; one inside a Vec is not.
        assert!(
            generated.contains("pub base: Option<Box<Paint>>,"),
            "{generated}"
        );
        assert!(
            generated.contains("pub layers: Option<Vec<Paint>>,"),
            "{generated}"
        );
        // A second spelling is read through a wire struct that keeps both apart.
        assert!(
            generated.contains("#[serde(rename_all = \"camelCase\", from = \"PaintWire\")]"),
            "{generated}"
        );
        assert!(
            generated.contains("#[serde(rename = \"Base\", default)]"),
            "{generated}"
        );
        assert!(
            generated.contains("base: wire.base.or(wire.base_alias)"),
            "{generated}"
        );
        // `x-adu-boxed` boxes a property that is not recursive.
        assert!(
            generated.contains("pub label: Option<Box<Label>>,"),
            "{generated}"
        );
        assert!(generated.contains("pub mixed_at: Option<Timestamp>,"));
        assert!(generated.contains("use crate::Timestamp;"));
        assert!(
            generated.contains("pub fn new(colour: Colour, brand_name: impl Into<String>) -> Self")
        );
    }

    #[test]
    fn the_real_description_generates_the_contract_types() {
        let root = project_root();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        let generated = generate(&read(LEGACY_DESCRIPTION), &read(CURRENT_DESCRIPTION)).unwrap();
        assert!(generated.starts_with("// @generated by `cargo xtask codegen`"));
        for needle in [
            "pub enum OperationStatus {",
            "    Undefined,",
            "pub struct Operation {",
            "pub update_id: Option<UpdateId>,",
            "pub struct UpdateOperation {",
            "pub update: Option<UpdateInfo>,",
            "pub details: Option<Vec<Error>>,",
            "#[serde(rename = \"innererror\", default, skip_serializing_if = \"Option::is_none\")]",
            "#[serde(rename = \"innerError\", default)]",
            "innererror: wire.innererror.or(wire.innererror_alias)",
            "pub inner_error: Option<Box<InnerError>>,",
            "pub error: Option<Box<Error>>,",
            "pub last_action_date_time: Timestamp,",
            "#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]\n#[serde(rename_all = \"camelCase\")]\n#[non_exhaustive]\npub struct UpdateId {",
        ] {
            assert!(generated.contains(needle), "missing `{needle}` in:\n{generated}");
        }
    }

    /// An edit of the tiny legacy description.
    type Edit = fn(&mut serde_json::Value);

    fn tiny_with(legacy_edit: impl Fn(&mut serde_json::Value)) -> Result<String, String> {
        let mut legacy: serde_json::Value = serde_json::from_str(TINY_LEGACY).unwrap();
        legacy_edit(&mut legacy);
        generate(&legacy.to_string(), TINY_CURRENT)
    }

    #[test]
    fn conflicting_definitions_are_refused_with_a_clear_message() {
        let cases: [(&str, Edit); 6] = [
            (
                "property `brandName` is `i64` in the legacy one and `String` in the current one",
                |v| {
                    v["definitions"]["Paint"]["properties"]["brandName"]["type"] = "integer".into();
                },
            ),
            (
                "property `brandName` is required in only one of them",
                |v| {
                    v["definitions"]["Paint"]["required"] = serde_json::json!(["colour"]);
                },
            ),
            ("property `extra` is only in the legacy one", |v| {
                v["definitions"]["Paint"]["properties"]["extra"] =
                    serde_json::json!({"type": "string"});
            }),
            ("one is an enum and the other an object", |v| {
                v["definitions"]["Colour"] = v["definitions"]["Paint"].clone();
            }),
            ("different `x-adu-alias` values", |v| {
                v["definitions"]["Paint"]["properties"]["base"]["x-adu-alias"] = "BASE".into();
            }),
            (
                "property `label` is boxed (`x-adu-boxed`) in only one of them",
                |v| {
                    v["definitions"]["Paint"]["properties"]["label"]["x-adu-boxed"] = false.into();
                },
            ),
        ];
        for (expected, edit) in cases {
            let error = tiny_with(edit).unwrap_err();
            assert!(
                error.contains(expected),
                "expected `{expected}` in: {error}"
            );
            assert!(error.contains("definition `"), "{error}");
        }
    }

    #[test]
    fn unsupported_input_is_refused_not_guessed() {
        let cases: [(&str, Edit); 6] = [
            ("`x-adu-alias` is for optional properties", |v| {
                v["definitions"]["Paint"]["properties"]["brandName"]["x-adu-alias"] =
                    "Brand".into();
            }),
            ("`x-adu-boxed` must be true or false", |v| {
                v["definitions"]["Paint"]["properties"]["label"]["x-adu-boxed"] = "yes".into();
            }),
            ("`x-adu-boxed` is for `$ref` properties", |v| {
                v["definitions"]["Paint"]["properties"]["brandName"]["x-adu-boxed"] = true.into();
            }),
            ("a date-time needs `x-adu-rust-type`", |v| {
                let p = &mut v["definitions"]["Paint"]["properties"]["mixedAt"];
                p.as_object_mut().unwrap().remove("x-adu-rust-type");
            }),
            ("refers to `Nowhere`, which is not defined", |v| {
                v["definitions"]["Tube"] = serde_json::json!({
                    "type": "object",
                    "properties": { "paint": { "$ref": "#/definitions/Nowhere" } }
                });
            }),
            (
                "required property `missing` is not among its properties",
                |v| {
                    v["definitions"]["Paint"]["required"] =
                        serde_json::json!(["colour", "missing"]);
                },
            ),
        ];
        for (expected, edit) in cases {
            let error = tiny_with(edit).unwrap_err();
            assert!(
                error.contains(expected),
                "expected `{expected}` in: {error}"
            );
        }
        assert!(generate("{", TINY_CURRENT)
            .unwrap_err()
            .contains("invalid JSON"));
    }

    #[test]
    fn formatted_output_is_what_the_committed_module_holds() {
        let generated = generate_from(&project_root()).unwrap();
        let committed = std::fs::read_to_string(project_root().join(GENERATED_MODULE)).unwrap();
        assert!(committed == generated, "stale; run `cargo xtask codegen`");
        // rustfmt really ran: it breaks the raw output's one-line constructors.
        let root = project_root();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        let raw = generate(&read(LEGACY_DESCRIPTION), &read(CURRENT_DESCRIPTION)).unwrap();
        let one_line = "Self { code: code.into(), message: None,";
        assert!(raw.contains(one_line), "{raw}");
        assert!(!generated.contains(one_line), "{generated}");
        // Errors from the generator come through the formatting step unchanged.
        let error = generate_formatted("{", "{").unwrap_err();
        assert!(error.contains("invalid JSON"), "{error}");
    }

    #[test]
    fn the_stale_message_names_the_fix_and_the_line() {
        let message = stale_message("a\nb\nc\n", "a\nx\nc\n");
        assert!(message.contains("run `cargo xtask codegen`"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }
}
