//! The second half of `cargo xtask codegen`: the `ApiVersion` enum and each version's
//! facts, from the rows of `VERSIONS` and their descriptions.
//!
//! A description says which reads its version has and where: the operations family's
//! reads are found by their paths' ends (`/updates/operations/{operationId}`,
//! `/updates/operations`, and the same under `/management/` for device-management
//! operations), the list's query parameters by name (`filter` or `$filter`, `top` or
//! `$top`), and a version whose reads take no `api-version` query parameter is a legacy
//! one, naming itself in its paths.

use std::fmt::Write as _;

use serde_json::Value;

use super::generator::HEADER;

/// A version as the generator reads it: its wire name, its upstream name and the text of
/// its description.
pub struct Row<'a> {
    /// The name on the wire (`v2`, `2022-10-01`).
    pub wire: &'a str,
    /// The name upstream's description gives it.
    pub name: &'a str,
    /// Our description's text.
    pub text: &'a str,
}

/// The reads of one kind of operation in one version.
struct Reads {
    get: String,
    list: String,
    filter: String,
    top: String,
}

/// Generates the module from the rows, oldest first (the newest is the default). The
/// output is valid Rust but not formatted.
pub fn generate(rows: &[Row<'_>]) -> Result<String, String> {
    let (mut variants, mut all) = (String::new(), Vec::new());
    let (mut wire, mut upstream, mut query, mut paths) =
        (String::new(), String::new(), String::new(), String::new());
    for (i, row) in rows.iter().rev().enumerate() {
        let doc: Value = serde_json::from_str(row.text)
            .map_err(|e| format!("the {} description is invalid: {e}", row.name))?;
        let what = |e: String| format!("the {} description: {e}", row.name);
        let update = reads(&doc, "updates").map_err(what)?;
        let update = update.ok_or_else(|| what("it has no update-operation reads".into()))?;
        let device = reads(&doc, "management").map_err(what)?;
        let has_query = takes_api_version(&doc, &update.get);
        let variant = variant(row.wire);
        let mut docs = format!("API version `{}`", row.wire);
        if row.wire != row.name {
            let _ = write!(docs, " (upstream {})", row.name);
        }
        docs.push_str(if i == 0 { ", the default." } else { "." });
        let _ = write!(
            docs,
            " Its update operations are read at `{}`{}",
            update.get,
            match has_query {
                true => format!(" with `?api-version={}`.", row.wire),
                false => ", with no `api-version` query.".to_owned(),
            }
        );
        docs.push_str(match device {
            Some(_) => " It has device-management operations.",
            None => " It has no device-management operations.",
        });
        for line in wrap(&docs) {
            let _ = writeln!(variants, "    /// {line}");
        }
        if i == 0 {
            variants.push_str("    #[default]\n");
        }
        let _ = writeln!(variants, "    {variant},");
        all.push(format!("Self::{variant}"));
        let _ = writeln!(wire, "Self::{variant} => {:?},", row.wire);
        let _ = writeln!(upstream, "Self::{variant} => {:?},", row.name);
        let _ = writeln!(query, "Self::{variant} => {has_query},");
        let device = match &device {
            Some(reads) => format!("Some({})", reads_literal(reads)),
            None => "None".to_owned(),
        };
        let _ = writeln!(
            paths,
            "Self::{variant} => &Paths {{ update: {}, device: {device} }},",
            reads_literal(&update)
        );
    }
    Ok(format!(
        "{HEADER}
//! The API versions, one per row of xtask's `VERSIONS`, and the facts their descriptions
//! give about each.

use crate::version::{{Paths, Reads}};

/// Which version of the API to speak; the newest is the default.
///
/// ```
/// use adu_model::ApiVersion;
///
/// assert_eq!(ApiVersion::default(), ApiVersion::ALL[0]);
/// assert!(!ApiVersion::V2.has_api_version_query());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ApiVersion {{
{variants}}}

impl ApiVersion {{
    /// Every version, newest first.
    pub const ALL: &'static [ApiVersion] = &[{}];

    /// The version's name on the wire and on command lines (`v2` for the legacy API).
    pub const fn as_str(&self) -> &'static str {{
        match self {{ {wire} }}
    }}

    /// The version's name in upstream's description (`info.version`).
    pub const fn upstream_name(&self) -> &'static str {{
        match self {{ {upstream} }}
    }}

    /// Whether requests name the version in an `api-version` query; a legacy version's
    /// paths name it instead.
    pub const fn has_api_version_query(&self) -> bool {{
        match self {{ {query} }}
    }}

    /// The version's reads, as path templates with `{{instanceId}}` and `{{operationId}}`.
    pub(crate) const fn paths(&self) -> &'static Paths {{
        match self {{ {paths} }}
    }}
}}
",
        all.join(", ")
    ))
}

/// The variant made of a wire name: `v2` is `V2`, `2022-10-01` is `V2022_10_01`.
fn variant(wire: &str) -> String {
    format!("V{}", wire.trim_start_matches(['v', 'V']).replace('-', "_"))
}

fn reads_literal(r: &Reads) -> String {
    format!(
        "Reads {{ get: {:?}, list: {:?}, filter: {:?}, top: {:?} }}",
        r.get, r.list, r.filter, r.top
    )
}

/// The get and list reads under `/{segment}/operations`, if the description has them.
fn reads(doc: &Value, segment: &str) -> Result<Option<Reads>, String> {
    let paths = doc["paths"].as_object().into_iter().flatten();
    let gets: Vec<&String> = paths
        .filter(|(_, item)| item.get("get").is_some())
        .map(|(path, _)| path)
        .collect();
    let find = |end: &str| {
        gets.iter()
            .find(|p| p.ends_with(end))
            .map(|p| p.to_string())
    };
    let get = find(&format!("/{segment}/operations/{{operationId}}"));
    let list = find(&format!("/{segment}/operations"));
    let (get, list) = match (get, list) {
        (None, None) => return Ok(None),
        (Some(get), Some(list)) => (get, list),
        _ => {
            return Err(format!(
                "`/{segment}/operations` needs both a get and a list"
            ))
        }
    };
    let query = |name: &str| {
        parameters(doc, &list)
            .into_iter()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .find(|n| n.trim_start_matches('$') == name)
            .map(str::to_owned)
            .ok_or(format!(
                "the list at `{list}` has no `{name}` query parameter"
            ))
    };
    Ok(Some(Reads {
        filter: query("filter")?,
        top: query("top")?,
        get,
        list,
    }))
}

/// Whether the get at `path` takes an `api-version` query parameter.
fn takes_api_version(doc: &Value, path: &str) -> bool {
    parameters(doc, path)
        .iter()
        .any(|p| p["in"] == "query" && p["name"] == "api-version")
}

/// The parameters of the get at `path`, `$ref`s to `#/parameters/` resolved.
fn parameters<'d>(doc: &'d Value, path: &str) -> Vec<&'d Value> {
    let list = doc["paths"][path]["get"]["parameters"].as_array();
    let resolve = |p: &'d Value| match p["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).unwrap_or(p),
        None => p,
    };
    list.into_iter().flatten().map(resolve).collect()
}

/// Words wrapped at about 85 columns, for a doc comment (rustfmt leaves comments alone).
fn wrap(text: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.len() + word.len() > 80 {
            lines.push(word.to_owned());
        } else if line.is_empty() {
            line.push_str(word);
        } else {
            line.push(' ');
            line.push_str(word);
        }
    }
    lines
}
