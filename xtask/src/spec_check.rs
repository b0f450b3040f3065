//! `cargo xtask spec-check --upstream FILE [--self-test]`: compares our API
//! description (`docs/api/`) with an upstream OpenAPI (Swagger 2.0) file.
//!
//! Only what matters to a client is compared, for the endpoint we describe and
//! every definition reachable from it: the path (case-sensitive) and method, the
//! parameters (name, where they go, required, type, format, length limits,
//! pattern, enum), the host template and its parameter names, the media types,
//! the OAuth2 scopes, the response codes with their headers and body schemas,
//! and for each definition its type, required properties, property types,
//! formats, references and array items, enum values and
//! `x-ms-enum.modelAsString`. Descriptions, titles, examples and other
//! documentation-only fields are ignored.
//!
//! Our description may mark a response or a response header with
//! `"x-adu-observed": true`: the service has been seen to send it although the
//! upstream file leaves it out. Such an item is not reported as missing upstream.
//!
//! `--self-test` applies a fixed list of deliberate alterations to an in-memory
//! copy of the upstream file and fails unless each one is reported.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use serde_json::Value;

use crate::codegen::{CURRENT_DESCRIPTION, LEGACY_DESCRIPTION};
use crate::util::project_root;

const USAGE: &str = "usage: cargo xtask spec-check --upstream FILE [--self-test]";
const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// Runs the task.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut upstream_path = None;
    let mut self_test = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--upstream" => {
                let value = iter
                    .next()
                    .ok_or_else(|| format!("`--upstream` needs a file; {USAGE}"))?;
                upstream_path = Some(value.clone());
            }
            "--self-test" => self_test = true,
            other => return Err(format!("unexpected argument `{other}`; {USAGE}")),
        }
    }
    let upstream_path =
        upstream_path.ok_or_else(|| format!("`--upstream FILE` is required; {USAGE}"))?;
    let upstream = read_json(Path::new(&upstream_path))?;
    let version = ApiVersion::detect(&upstream)?;
    let ours_path = project_root().join(version.our_description());
    let ours = read_json(&ours_path)?;

    if self_test {
        let outcomes = self_test_alterations(&ours, &upstream)?;
        for outcome in &outcomes {
            println!(
                "  detected `{}`: {}",
                outcome.alteration, outcome.report_line
            );
        }
        println!(
            "spec-check self-test: all {} alterations of {upstream_path} were reported ({})",
            outcomes.len(),
            version.label()
        );
        return Ok(());
    }

    let report = compare(&ours, &upstream);
    if report.differences.is_empty() {
        println!(
            "spec-check: {} matches {upstream_path} ({}): {}",
            version.our_description(),
            version.label(),
            report.summary
        );
        Ok(())
    } else {
        for line in &report.differences {
            println!("{line}");
        }
        Err(format!(
            "{} difference(s) between {} and {upstream_path} ({})",
            report.differences.len(),
            version.our_description(),
            version.label()
        ))
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

/// Which of our two descriptions an upstream file corresponds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// The legacy "v2" API, upstream version 2020-09-01.
    Legacy,
    /// The current API, 2022-10-01.
    Current,
}

impl ApiVersion {
    /// From `info.version`, or else from the shape of the paths
    /// (`/deviceupdate/{instanceId}/v2/...` against `/deviceUpdate/...`).
    pub fn detect(upstream: &Value) -> Result<Self, String> {
        match upstream.pointer("/info/version").and_then(Value::as_str) {
            Some("2020-09-01") => return Ok(Self::Legacy),
            Some("2022-10-01") => return Ok(Self::Current),
            _ => {}
        }
        let paths = upstream.get("paths").and_then(Value::as_object);
        let any = |prefix: &str| paths.is_some_and(|p| p.keys().any(|k| k.starts_with(prefix)));
        if any("/deviceupdate/{instanceId}/v2/") {
            Ok(Self::Legacy)
        } else if any("/deviceUpdate/") {
            Ok(Self::Current)
        } else {
            Err(
                "cannot tell which API version the upstream file describes: its `info.version` is \
                 neither 2020-09-01 nor 2022-10-01 and no path starts with \
                 `/deviceupdate/{instanceId}/v2/` or `/deviceUpdate/`"
                    .to_owned(),
            )
        }
    }

    /// Our description of this version, relative to the workspace root.
    pub fn our_description(self) -> &'static str {
        match self {
            Self::Legacy => LEGACY_DESCRIPTION,
            Self::Current => CURRENT_DESCRIPTION,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Legacy => "legacy API, 2020-09-01",
            Self::Current => "current API, 2022-10-01",
        }
    }
}

/// The outcome of a comparison.
#[derive(Debug, Default)]
pub struct Report {
    /// One readable line per difference that matters to a client.
    pub differences: Vec<String>,
    /// What was compared, in one line.
    pub summary: String,
}

#[derive(Default)]
struct Counts {
    operations: Vec<String>,
    parameters: usize,
    responses: usize,
    headers: usize,
    definitions: usize,
    properties: usize,
    enum_values: usize,
}

/// Compares our description with an upstream one.
pub fn compare(ours: &Value, upstream: &Value) -> Report {
    let mut cx = Comparison {
        ours,
        upstream,
        out: Vec::new(),
        counts: Counts::default(),
        pending: VecDeque::new(),
    };
    cx.host();
    let our_paths = ours
        .get("paths")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if our_paths.is_empty() {
        cx.out.push("our description has no paths".to_owned());
    }
    for (path, item) in &our_paths {
        cx.path(path, item);
    }
    cx.definitions();
    let c = &cx.counts;
    let summary =
        format!(
        "{}; {} parameters, {} responses, {} response headers, {} definitions, {} properties and \
         {} enum values compared",
        if c.operations.is_empty() { "no operation".to_owned() } else { c.operations.join(", ") },
        c.parameters,
        c.responses,
        c.headers,
        c.definitions,
        c.properties,
        c.enum_values
    );
    Report {
        differences: cx.out,
        summary,
    }
}

struct Comparison<'a> {
    ours: &'a Value,
    upstream: &'a Value,
    out: Vec<String>,
    counts: Counts,
    /// Definitions still to compare, by name.
    pending: VecDeque<String>,
}

/// Follows local `$ref`s (`#/...`) within `doc`, a few levels deep.
fn resolve<'v>(doc: &'v Value, mut value: &'v Value) -> &'v Value {
    for _ in 0..8 {
        let Some(target) = value.get("$ref").and_then(Value::as_str) else {
            return value;
        };
        let Some(pointer) = target.strip_prefix('#') else {
            return value;
        };
        match doc.pointer(pointer) {
            Some(next) => value = next,
            None => return value,
        }
    }
    value
}

/// How a value reads in a report line.
fn show(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(none)".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn is_observed(value: &Value) -> bool {
    value.get("x-adu-observed").and_then(Value::as_bool) == Some(true)
}

/// The shape of a schema as far as a client cares, as one comparable string:
/// `string`, `string (date-time)`, `ref Error`, `array of ref Error`, ...
fn shape(schema: Option<&Value>) -> String {
    let Some(schema) = schema else {
        return "(none)".to_owned();
    };
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        let name = target.rsplit('/').next().unwrap_or(target);
        return format!("ref {name}");
    }
    let mut text = match schema.get("type").and_then(Value::as_str) {
        Some("array") => format!("array of {}", shape(schema.get("items"))),
        Some(t) => t.to_owned(),
        None if schema.get("allOf").is_some() => "allOf".to_owned(),
        None => "(untyped)".to_owned(),
    };
    if let Some(format) = schema.get("format").and_then(Value::as_str) {
        text.push_str(&format!(" ({format})"));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: BTreeSet<String> = values.iter().map(|v| show(Some(v))).collect();
        text.push_str(&format!(
            " enum [{}]",
            values.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(all_of) = schema.get("allOf").and_then(Value::as_array) {
        let parts: Vec<String> = all_of.iter().map(|s| shape(Some(s))).collect();
        text.push_str(&format!(" [{}]", parts.join(", ")));
    }
    if let Some(extra) = schema.get("additionalProperties") {
        if extra.is_object() {
            text.push_str(&format!(" with values {}", shape(Some(extra))));
        }
    }
    if schema.get("x-nullable").and_then(Value::as_bool) == Some(true) {
        text.push_str(" nullable");
    }
    text
}

/// The definition names a schema refers to, directly or through items,
/// `allOf` and `additionalProperties`.
fn refs_in(schema: &Value, into: &mut Vec<String>) {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        if let Some(name) = target.strip_prefix("#/definitions/") {
            into.push(name.to_owned());
        }
    }
    if let Some(items) = schema.get("items") {
        refs_in(items, into);
    }
    if let Some(extra) = schema.get("additionalProperties") {
        refs_in(extra, into);
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        refs_in(part, into);
    }
    for (_, property) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        refs_in(property, into);
    }
}

impl Comparison<'_> {
    fn want_definitions(&mut self, schema: Option<&Value>) {
        let mut names = Vec::new();
        if let Some(schema) = schema {
            refs_in(schema, &mut names);
        }
        self.pending.extend(names);
    }

    fn host(&mut self) {
        let template = |doc: &Value| {
            doc.pointer("/x-ms-parameterized-host/hostTemplate")
                .cloned()
        };
        let (ours, theirs) = (template(self.ours), template(self.upstream));
        if ours != theirs {
            self.out.push(format!(
                "host: template differs: ours {}, upstream {}",
                show(ours.as_ref()),
                show(theirs.as_ref())
            ));
        }
        let names = |doc: &Value| -> Vec<String> {
            doc.pointer("/x-ms-parameterized-host/parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| show(resolve(doc, p).get("name")))
                .collect()
        };
        let (ours, theirs) = (names(self.ours), names(self.upstream));
        if ours != theirs {
            self.out.push(format!(
                "host: parameter names differ: ours [{}], upstream [{}]",
                ours.join(", "),
                theirs.join(", ")
            ));
        }
    }

    fn path(&mut self, path: &str, ours: &Value) {
        let upstream_paths = self.upstream.get("paths").and_then(Value::as_object);
        let Some(theirs) = upstream_paths.and_then(|p| p.get(path)) else {
            let near = upstream_paths
                .into_iter()
                .flatten()
                .find(|(k, _)| k.eq_ignore_ascii_case(path))
                .map(|(k, _)| k.clone());
            self.out.push(match near {
                Some(near) => {
                    format!("path {path}: upstream spells it {near} (paths are case-sensitive)")
                }
                None => format!("path {path}: missing upstream"),
            });
            // Still compare the models we use.
            for method in METHODS {
                if let Some(op) = ours.get(method) {
                    for (_, response) in op
                        .get("responses")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                    {
                        self.want_definitions(response.get("schema"));
                    }
                }
            }
            return;
        };
        for method in METHODS {
            let Some(our_op) = ours.get(method) else {
                continue;
            };
            let name = format!("{} {path}", method.to_ascii_uppercase());
            self.counts.operations.push(name.clone());
            match theirs.get(method) {
                Some(their_op) => self.operation(&name, (ours, our_op), (theirs, their_op)),
                None => {
                    self.out.push(format!("{name}: method missing upstream"));
                    for (_, response) in our_op
                        .get("responses")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                    {
                        self.want_definitions(response.get("schema"));
                    }
                }
            }
        }
    }

    /// The parameters that apply to an operation: the path item's, overridden
    /// by the operation's own, all resolved.
    fn parameters<'v>(doc: &'v Value, item: &'v Value, op: &'v Value) -> Vec<&'v Value> {
        let mut all: Vec<&Value> = Vec::new();
        for source in [item, op] {
            for p in source
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let p = resolve(doc, p);
                let key = (p.get("name"), p.get("in"));
                all.retain(|q| (q.get("name"), q.get("in")) != key);
                all.push(p);
            }
        }
        all
    }

    fn operation(&mut self, name: &str, ours: (&Value, &Value), theirs: (&Value, &Value)) {
        // Parameters, matched by name (header names case-insensitively).
        let our_params = Self::parameters(self.ours, ours.0, ours.1);
        let their_params = Self::parameters(self.upstream, theirs.0, theirs.1);
        let same_name = |a: &Value, b: &Value| {
            let (x, y) = (show(a.get("name")), show(b.get("name")));
            x == y || x.eq_ignore_ascii_case(&y)
        };
        for ours in &our_params {
            let pname = show(ours.get("name"));
            self.counts.parameters += 1;
            self.want_definitions(ours.get("schema"));
            let Some(theirs) = their_params.iter().find(|t| same_name(ours, t)) else {
                self.out.push(format!(
                    "{name}: parameter `{pname}` (in {}) is missing upstream",
                    show(ours.get("in"))
                ));
                continue;
            };
            let prefix = format!("{name}: parameter `{pname}`");
            if show(theirs.get("name")) != pname && show(ours.get("in")) != "header" {
                self.out.push(format!(
                    "{prefix}: upstream spells it `{}`",
                    show(theirs.get("name"))
                ));
            }
            if ours.get("in") != theirs.get("in") {
                self.out.push(format!(
                    "{prefix}: location differs: ours {}, upstream {}",
                    show(ours.get("in")),
                    show(theirs.get("in"))
                ));
            }
            let required = |p: &Value| p.get("required").and_then(Value::as_bool).unwrap_or(false);
            if required(ours) != required(theirs) {
                self.out.push(format!(
                    "{prefix}: required differs: ours {}, upstream {}",
                    required(ours),
                    required(theirs)
                ));
            }
            for field in [
                "type",
                "format",
                "minLength",
                "maxLength",
                "pattern",
                "enum",
                "collectionFormat",
                "minimum",
                "maximum",
            ] {
                if ours.get(field) != theirs.get(field) {
                    self.out.push(format!(
                        "{prefix}: {field} differs: ours {}, upstream {}",
                        show(ours.get(field)),
                        show(theirs.get(field))
                    ));
                }
            }
            if shape(ours.get("schema")) != shape(theirs.get("schema")) {
                self.out.push(format!(
                    "{prefix}: body schema differs: ours {}, upstream {}",
                    shape(ours.get("schema")),
                    shape(theirs.get("schema"))
                ));
            }
        }
        for theirs in &their_params {
            if !our_params.iter().any(|o| same_name(o, theirs)) {
                let required = theirs
                    .get("required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                self.out.push(format!(
                    "{name}: upstream has {} parameter `{}` (in {}) that ours lacks",
                    if required { "required" } else { "optional" },
                    show(theirs.get("name")),
                    show(theirs.get("in"))
                ));
            }
        }

        // Media types and OAuth2 scopes: operation-level values override the document's.
        for field in ["consumes", "produces"] {
            let effective = |doc: &Value, op: &Value| -> BTreeSet<String> {
                op.get(field)
                    .or_else(|| doc.get(field))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|v| show(Some(v)))
                    .collect()
            };
            let (o, t) = (
                effective(self.ours, ours.1),
                effective(self.upstream, theirs.1),
            );
            if o != t {
                self.out.push(format!(
                    "{name}: {field} differs: ours {o:?}, upstream {t:?}"
                ));
            }
        }
        let scopes = |doc: &Value, op: &Value| -> BTreeSet<String> {
            op.get("security")
                .or_else(|| doc.get("security"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|req| req.values())
                .filter_map(Value::as_array)
                .flatten()
                .map(|v| show(Some(v)))
                .collect()
        };
        let (o, t) = (scopes(self.ours, ours.1), scopes(self.upstream, theirs.1));
        if o != t {
            self.out.push(format!(
                "{name}: OAuth2 scopes differ: ours {o:?}, upstream {t:?}"
            ));
        }

        // Responses.
        let empty = serde_json::Map::new();
        let our_responses = ours
            .1
            .get("responses")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let their_responses = theirs
            .1
            .get("responses")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (code, our_response) in our_responses {
            let our_response = resolve(self.ours, our_response);
            self.want_definitions(our_response.get("schema"));
            let Some(their_response) = their_responses.get(code) else {
                if !is_observed(our_response) {
                    self.out
                        .push(format!("{name}: response {code} is missing upstream"));
                }
                continue;
            };
            self.counts.responses += 1;
            let their_response = resolve(self.upstream, their_response);
            let prefix = format!("{name}: response {code}");
            let (o, t) = (
                shape(our_response.get("schema")),
                shape(their_response.get("schema")),
            );
            if o != t {
                self.out
                    .push(format!("{prefix}: body differs: ours {o}, upstream {t}"));
            }
            let headers = |r: &Value| -> BTreeMap<String, (String, Value)> {
                r.get("headers")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.to_ascii_lowercase(), (k.clone(), v.clone())))
                    .collect()
            };
            let (our_headers, their_headers) = (headers(our_response), headers(their_response));
            for (key, (header, ours)) in &our_headers {
                match their_headers.get(key) {
                    None if is_observed(ours) => {}
                    None => self
                        .out
                        .push(format!("{prefix}: header `{header}` is missing upstream")),
                    Some((_, theirs)) => {
                        self.counts.headers += 1;
                        let (o, t) = (shape(Some(ours)), shape(Some(theirs)));
                        if o != t {
                            self.out.push(format!(
                                "{prefix}: header `{header}` type differs: ours {o}, upstream {t}"
                            ));
                        }
                    }
                }
            }
            for (key, (header, _)) in &their_headers {
                if !our_headers.contains_key(key) {
                    self.out.push(format!(
                        "{prefix}: upstream has header `{header}` that ours lacks"
                    ));
                }
            }
        }
        for code in their_responses.keys() {
            if !our_responses.contains_key(code) {
                self.out.push(format!(
                    "{name}: upstream has response {code} that ours lacks"
                ));
            }
        }
    }

    fn definitions(&mut self) {
        let mut done = BTreeSet::new();
        while let Some(def) = self.pending.pop_front() {
            if !done.insert(def.clone()) {
                continue;
            }
            let ours = self.ours.pointer(&format!("/definitions/{def}"));
            let theirs = self.upstream.pointer(&format!("/definitions/{def}"));
            let (ours, theirs) = match (ours, theirs) {
                (Some(o), Some(t)) => (o, t),
                (None, _) => {
                    self.out.push(format!(
                        "definition {def}: referred to but not defined in ours"
                    ));
                    continue;
                }
                (Some(o), None) => {
                    self.out.push(format!("definition {def}: missing upstream"));
                    self.want_definitions(Some(o));
                    continue;
                }
            };
            self.counts.definitions += 1;
            self.definition(&def, ours, theirs);
        }
    }

    fn definition(&mut self, def: &str, ours: &Value, theirs: &Value) {
        let prefix = format!("definition {def}");
        if ours.get("type") != theirs.get("type") {
            self.out.push(format!(
                "{prefix}: type differs: ours {}, upstream {}",
                show(ours.get("type")),
                show(theirs.get("type"))
            ));
        }
        for field in ["format", "allOf", "additionalProperties", "x-nullable"] {
            let (o, t) = (ours.get(field), theirs.get(field));
            if o.is_some() || t.is_some() {
                let (o, t) = (o.map(|v| shape(Some(v))), t.map(|v| shape(Some(v))));
                if o != t {
                    self.out.push(format!(
                        "{prefix}: {field} differs: ours {}, upstream {}",
                        o.unwrap_or_else(|| "(none)".to_owned()),
                        t.unwrap_or_else(|| "(none)".to_owned())
                    ));
                }
            }
        }
        self.want_definitions(ours.get("allOf").map(|_| ours));

        // Enums.
        let values = |v: &Value| -> Vec<String> {
            v.get("enum")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|x| show(Some(x)))
                .collect()
        };
        let (our_values, their_values) = (values(ours), values(theirs));
        self.counts.enum_values += our_values.len();
        for value in &our_values {
            if !their_values.contains(value) {
                self.out.push(format!(
                    "{prefix}: enum value `{value}` is missing upstream"
                ));
            }
        }
        for value in &their_values {
            if !our_values.contains(value) {
                self.out.push(format!(
                    "{prefix}: upstream has enum value `{value}` that ours lacks"
                ));
            }
        }
        if !our_values.is_empty() || !their_values.is_empty() {
            let as_string = |v: &Value| {
                v.pointer("/x-ms-enum/modelAsString")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            };
            if as_string(ours) != as_string(theirs) {
                self.out.push(format!(
                    "{prefix}: x-ms-enum.modelAsString differs: ours {}, upstream {}",
                    as_string(ours),
                    as_string(theirs)
                ));
            }
        }

        // Required properties.
        let required = |v: &Value| -> BTreeSet<String> {
            v.get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|x| show(Some(x)))
                .collect()
        };
        let (our_required, their_required) = (required(ours), required(theirs));
        for p in our_required.difference(&their_required) {
            self.out.push(format!(
                "{prefix}: property `{p}` is required in ours but not upstream"
            ));
        }
        for p in their_required.difference(&our_required) {
            self.out.push(format!(
                "{prefix}: property `{p}` is required upstream but not in ours"
            ));
        }

        // Properties.
        let empty = serde_json::Map::new();
        let our_props = ours
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let their_props = theirs
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (p, our_schema) in our_props {
            self.counts.properties += 1;
            self.want_definitions(Some(our_schema));
            match their_props.get(p) {
                None => self
                    .out
                    .push(format!("{prefix}: property `{p}` is missing upstream")),
                Some(their_schema) => {
                    let (o, t) = (shape(Some(our_schema)), shape(Some(their_schema)));
                    if o != t {
                        self.out.push(format!(
                            "{prefix}: property `{p}` type differs: ours {o}, upstream {t}"
                        ));
                    }
                }
            }
        }
        for p in their_props.keys() {
            if !our_props.contains_key(p) {
                self.out.push(format!(
                    "{prefix}: upstream has property `{p}` that ours lacks"
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Self-test: deliberate alterations that must each be reported.

/// One deliberate alteration of an upstream file.
struct Alteration {
    name: &'static str,
    /// Alters the document and returns words that one report line must contain.
    apply: fn(&mut Value, &Endpoint) -> Result<Vec<String>, String>,
}

/// The endpoint we describe, as found in our description.
struct Endpoint {
    path: String,
    method: String,
}

/// A detected alteration and the report line that detected it.
#[derive(Debug)]
pub struct Detected {
    /// The alteration's name.
    pub alteration: &'static str,
    /// The report line that names it.
    pub report_line: String,
}

fn endpoint(ours: &Value) -> Result<Endpoint, String> {
    let paths = ours
        .get("paths")
        .and_then(Value::as_object)
        .ok_or("our description has no paths")?;
    let (path, item) = paths.iter().next().ok_or("our description has no paths")?;
    let method = METHODS
        .iter()
        .find(|m| item.get(**m).is_some())
        .ok_or_else(|| format!("our path {path} has no operation"))?;
    Ok(Endpoint {
        path: path.clone(),
        method: (*method).to_owned(),
    })
}

fn operation_mut<'v>(doc: &'v mut Value, at: &Endpoint) -> Result<&'v mut Value, String> {
    doc.get_mut("paths")
        .and_then(|p| p.get_mut(&at.path))
        .and_then(|i| i.get_mut(&at.method))
        .ok_or_else(|| format!("upstream has no {} {}", at.method, at.path))
}

/// The definition the operation's 200 response returns.
fn success_definition(doc: &mut Value, at: &Endpoint) -> Result<String, String> {
    let op = operation_mut(doc, at)?;
    let target = op
        .pointer("/responses/200/schema/$ref")
        .and_then(Value::as_str)
        .ok_or("upstream's 200 response has no schema reference")?;
    Ok(target.rsplit('/').next().unwrap_or(target).to_owned())
}

fn definition_mut<'v>(doc: &'v mut Value, name: &str) -> Result<&'v mut Value, String> {
    doc.pointer_mut(&format!("/definitions/{name}"))
        .ok_or_else(|| format!("upstream has no definition {name}"))
}

fn alterations() -> Vec<Alteration> {
    vec![
        Alteration {
            name: "change the case of the path",
            apply: |doc, at| {
                let paths = doc
                    .get_mut("paths")
                    .and_then(Value::as_object_mut)
                    .ok_or("no paths")?;
                let item = paths.remove(&at.path).ok_or("upstream lacks our path")?;
                let pos = at
                    .path
                    .find(|c: char| c.is_ascii_alphabetic())
                    .ok_or("path has no letter")?;
                let mut altered = at.path.clone();
                let c = altered.as_bytes()[pos] as char;
                let flipped = if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                };
                altered.replace_range(pos..=pos, &flipped.to_string());
                paths.insert(altered.clone(), item);
                Ok(vec![format!("path {}", at.path), altered])
            },
        },
        Alteration {
            name: "drop a required property",
            apply: |doc, at| {
                let name = success_definition(doc, at)?;
                let def = definition_mut(doc, &name)?;
                let required = def
                    .get_mut("required")
                    .and_then(Value::as_array_mut)
                    .ok_or("no required list")?;
                let dropped = show(Some(&required.remove(0)));
                if let Some(props) = def.get_mut("properties").and_then(Value::as_object_mut) {
                    props.remove(&dropped);
                }
                Ok(vec![format!("definition {name}"), format!("`{dropped}`")])
            },
        },
        Alteration {
            name: "change a property's type",
            apply: |doc, at| {
                let name = success_definition(doc, at)?;
                let def = definition_mut(doc, &name)?;
                let props = def
                    .get_mut("properties")
                    .and_then(Value::as_object_mut)
                    .ok_or("no properties")?;
                let (prop, schema) = props
                    .iter_mut()
                    .find(|(_, s)| {
                        s.get("type") == Some(&Value::from("string")) && s.get("format").is_none()
                    })
                    .ok_or("no plain string property")?;
                schema["type"] = Value::from("integer");
                Ok(vec![
                    format!("definition {name}"),
                    format!("`{prop}` type differs"),
                    "integer".to_owned(),
                ])
            },
        },
        Alteration {
            name: "remove an enum value",
            apply: |doc, at| {
                let name = success_definition(doc, at)?;
                let props = definition_mut(doc, &name)?
                    .get("properties")
                    .cloned()
                    .unwrap_or_default();
                let upstream = doc.clone();
                let enum_name = props
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(_, s)| s.get("$ref").and_then(Value::as_str))
                    .map(|r| r.rsplit('/').next().unwrap_or(r).to_owned())
                    .find(|n| {
                        upstream
                            .pointer(&format!("/definitions/{n}/enum"))
                            .is_some()
                    })
                    .ok_or("no enum property")?;
                let def = definition_mut(doc, &enum_name)?;
                let values = def
                    .get_mut("enum")
                    .and_then(Value::as_array_mut)
                    .ok_or("no enum")?;
                let removed = show(values.pop().as_ref());
                if let Some(described) = def
                    .pointer_mut("/x-ms-enum/values")
                    .and_then(Value::as_array_mut)
                {
                    described.retain(|v| show(v.get("value")) != removed);
                }
                Ok(vec![
                    format!("definition {enum_name}"),
                    format!("`{removed}`"),
                ])
            },
        },
        Alteration {
            name: "drop the Retry-After header",
            apply: |doc, at| {
                let headers = operation_mut(doc, at)?
                    .pointer_mut("/responses/200/headers")
                    .and_then(Value::as_object_mut)
                    .ok_or("the 200 response has no headers")?;
                let key = headers
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case("retry-after"))
                    .cloned()
                    .ok_or("no Retry-After header")?;
                headers.remove(&key);
                Ok(vec!["response 200".to_owned(), "`Retry-After`".to_owned()])
            },
        },
        Alteration {
            name: "change a response code",
            apply: |doc, at| {
                let responses = operation_mut(doc, at)?
                    .get_mut("responses")
                    .and_then(Value::as_object_mut)
                    .ok_or("no responses")?;
                let ok = responses.remove("200").ok_or("no 200 response")?;
                responses.insert("201".to_owned(), ok);
                Ok(vec!["response 200".to_owned()])
            },
        },
        Alteration {
            name: "move If-None-Match to the query",
            apply: |doc, at| {
                let params = operation_mut(doc, at)?
                    .get("parameters")
                    .cloned()
                    .unwrap_or_default();
                let mut moved = false;
                for (i, p) in params.as_array().into_iter().flatten().enumerate() {
                    let target = match p.get("$ref").and_then(Value::as_str) {
                        Some(r) => r.strip_prefix('#').unwrap_or(r).to_owned(),
                        None => format!(
                            "/paths/{}/{}/parameters/{i}",
                            pointer_escape(&at.path),
                            at.method
                        ),
                    };
                    if let Some(param) = doc.pointer_mut(&target) {
                        if show(param.get("name")).eq_ignore_ascii_case("If-None-Match") {
                            param["in"] = Value::from("query");
                            moved = true;
                        }
                    }
                }
                if !moved {
                    return Err("no If-None-Match parameter".to_owned());
                }
                Ok(vec!["`If-None-Match`".to_owned(), "query".to_owned()])
            },
        },
        Alteration {
            name: "rename the host parameter",
            apply: |doc, _| {
                let first = doc
                    .pointer("/x-ms-parameterized-host/parameters/0")
                    .cloned()
                    .ok_or("no host parameter")?;
                let target = match first.get("$ref").and_then(Value::as_str) {
                    Some(r) => r.strip_prefix('#').unwrap_or(r).to_owned(),
                    None => "/x-ms-parameterized-host/parameters/0".to_owned(),
                };
                let param = doc
                    .pointer_mut(&target)
                    .ok_or("unresolvable host parameter")?;
                param["name"] = Value::from("hostName");
                Ok(vec![
                    "host: parameter names differ".to_owned(),
                    "hostName".to_owned(),
                ])
            },
        },
    ]
}

fn pointer_escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Checks that `upstream` passes and that each alteration of it is reported.
pub fn self_test_alterations(ours: &Value, upstream: &Value) -> Result<Vec<Detected>, String> {
    let baseline = compare(ours, upstream);
    if !baseline.differences.is_empty() {
        return Err(format!(
            "the self-test needs an upstream file that passes unaltered, but it has {} difference(s):\n{}",
            baseline.differences.len(),
            baseline.differences.join("\n")
        ));
    }
    let at = endpoint(ours)?;
    let mut detected = Vec::new();
    let mut failures = Vec::new();
    for alteration in alterations() {
        let mut altered = upstream.clone();
        let needles = match (alteration.apply)(&mut altered, &at) {
            Ok(needles) => needles,
            Err(e) => {
                failures.push(format!("could not apply `{}`: {e}", alteration.name));
                continue;
            }
        };
        let report = compare(ours, &altered);
        match report
            .differences
            .iter()
            .find(|line| needles.iter().all(|n| line.contains(n.as_str())))
        {
            Some(line) => detected.push(Detected {
                alteration: alteration.name,
                report_line: line.clone(),
            }),
            None => failures.push(format!(
                "`{}` was not reported (wanted a line containing {needles:?}; got {:?})",
                alteration.name, report.differences
            )),
        }
    }
    if failures.is_empty() {
        Ok(detected)
    } else {
        Err(format!("self-test failed:\n{}", failures.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(version: ApiVersion) -> Value {
        read_json(&project_root().join(version.our_description())).unwrap()
    }

    const BOTH: [ApiVersion; 2] = [ApiVersion::Legacy, ApiVersion::Current];

    #[test]
    fn our_description_matches_itself() {
        for version in BOTH {
            let doc = ours(version);
            let report = compare(&doc, &doc);
            assert!(report.differences.is_empty(), "{:?}", report.differences);
            assert!(report.summary.contains("GET /"), "{}", report.summary);
            assert!(report.summary.contains("definitions"), "{}", report.summary);
        }
    }

    #[test]
    fn every_alteration_of_a_synthetic_upstream_is_reported() {
        for version in BOTH {
            let doc = ours(version);
            let detected = self_test_alterations(&doc, &doc).unwrap();
            assert_eq!(detected.len(), alterations().len());
        }
    }

    /// Applies one alteration to a copy of our own description and returns the report.
    fn altered(version: ApiVersion, edit: impl FnOnce(&mut Value)) -> Vec<String> {
        let doc = ours(version);
        let mut upstream = doc.clone();
        edit(&mut upstream);
        compare(&doc, &upstream).differences
    }

    fn assert_reported(differences: &[String], expected: &str) {
        assert!(
            differences.iter().any(|d| d == expected),
            "expected the line\n  {expected}\nin\n  {}",
            differences.join("\n  ")
        );
    }

    #[test]
    fn a_property_type_change_reads_well() {
        let d = altered(ApiVersion::Legacy, |u| {
            u["definitions"]["Operation"]["properties"]["etag"]["type"] = "integer".into();
        });
        assert_eq!(
            d,
            ["definition Operation: property `etag` type differs: ours string, upstream integer"]
        );
    }

    #[test]
    fn each_kind_of_difference_has_its_own_line() {
        let path = "/deviceUpdate/{instanceId}/updates/operations/{operationId}";
        let get = format!("GET {path}");
        let d = altered(ApiVersion::Current, |u| {
            let paths = u["paths"].as_object_mut().unwrap();
            let item = paths.remove(path).unwrap();
            paths.insert(path.to_lowercase(), item);
        });
        assert_reported(
            &d,
            &format!(
                "path {path}: upstream spells it {} (paths are case-sensitive)",
                path.to_lowercase()
            ),
        );

        let d = altered(ApiVersion::Current, |u| {
            u["parameters"]["OperationId"]["maxLength"] = 128.into();
        });
        assert_reported(
            &d,
            &format!("{get}: parameter `operationId`: maxLength differs: ours 256, upstream 128"),
        );

        let d = altered(ApiVersion::Current, |u| {
            u["parameters"]["ApiVersion"]["required"] = false.into();
        });
        assert_reported(
            &d,
            &format!("{get}: parameter `api-version`: required differs: ours true, upstream false"),
        );

        let d = altered(ApiVersion::Current, |u| {
            u["parameters"]["IfNoneMatch"]["in"] = "query".into();
        });
        assert_reported(
            &d,
            &format!(
                "{get}: parameter `If-None-Match`: location differs: ours header, upstream query"
            ),
        );

        let d = altered(ApiVersion::Current, |u| {
            u["paths"][path]["get"]["parameters"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"name": "filter", "in": "query", "required": true, "type": "string"}));
        });
        assert_reported(
            &d,
            &format!("{get}: upstream has required parameter `filter` (in query) that ours lacks"),
        );

        let d = altered(ApiVersion::Current, |u| {
            u["paths"][path]["get"]["responses"]["200"]["schema"]["$ref"] =
                "#/definitions/Error".into();
        });
        assert_reported(
            &d,
            &format!(
                "{get}: response 200: body differs: ours ref UpdateOperation, upstream ref Error"
            ),
        );

        let d = altered(ApiVersion::Current, |u| {
            u["definitions"]["OperationStatus"]["x-ms-enum"]["modelAsString"] = false.into();
        });
        assert_reported(&d, "definition OperationStatus: x-ms-enum.modelAsString differs: ours true, upstream false");

        let d = altered(ApiVersion::Current, |u| {
            u["definitions"]["OperationStatus"]["enum"]
                .as_array_mut()
                .unwrap()
                .push("Cancelled".into());
        });
        assert_reported(
            &d,
            "definition OperationStatus: upstream has enum value `Cancelled` that ours lacks",
        );

        let d = altered(ApiVersion::Current, |u| {
            u["definitions"]["InnerError"]["required"] = serde_json::json!(["code", "message"]);
        });
        assert_reported(
            &d,
            "definition InnerError: property `message` is required upstream but not in ours",
        );

        let d = altered(ApiVersion::Current, |u| {
            u["definitions"]["Error"]["properties"]["details"]["items"]["$ref"] =
                "#/definitions/InnerError".into();
        });
        assert_reported(
            &d,
            "definition Error: property `details` type differs: ours array of ref Error, upstream array of ref InnerError",
        );

        let d = altered(ApiVersion::Current, |u| {
            u["definitions"]["Error"]["properties"]["occurredDateTime"]["format"] = "date".into();
        });
        assert_reported(
            &d,
            "definition Error: property `occurredDateTime` type differs: ours string (date-time), upstream string (date)",
        );

        let d = altered(ApiVersion::Current, |u| {
            u["definitions"]
                .as_object_mut()
                .unwrap()
                .remove("UpdateInfo");
        });
        assert_reported(&d, "definition UpdateInfo: missing upstream");

        let d = altered(ApiVersion::Current, |u| {
            u["security"][0]["entra_id"][0] = "user_impersonation".into();
        });
        assert!(
            d.iter()
                .any(|l| l.starts_with(&format!("{get}: OAuth2 scopes differ"))),
            "{d:?}"
        );

        let d = altered(ApiVersion::Legacy, |u| {
            u["x-ms-parameterized-host"]["hostTemplate"] = "{endpoint}".into();
        });
        assert_reported(
            &d,
            "host: template differs: ours {accountEndpoint}, upstream {endpoint}",
        );
    }

    #[test]
    fn documentation_only_changes_are_ignored() {
        let d = altered(ApiVersion::Current, |u| {
            fn scrub(v: &mut Value) {
                match v {
                    Value::Object(map) => {
                        for key in ["description", "title", "summary"] {
                            if map.get(key).is_some_and(Value::is_string) {
                                map.insert(key.to_owned(), "changed".into());
                            }
                        }
                        map.values_mut().for_each(scrub);
                        if map.contains_key("responses") {
                            map.insert(
                                "x-ms-examples".to_owned(),
                                serde_json::json!({"x": {"$ref": "./x.json"}}),
                            );
                        }
                    }
                    Value::Array(items) => items.iter_mut().for_each(scrub),
                    _ => {}
                }
            }
            scrub(u);
        });
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn observed_items_are_not_required_upstream_but_upstream_items_are_required_in_ours() {
        // Our ETag header and our 304 are marked as observed: upstream may lack them.
        let path = "/deviceUpdate/{instanceId}/updates/operations/{operationId}";
        let d = altered(ApiVersion::Current, |u| {
            let responses = &mut u["paths"][path]["get"]["responses"];
            responses.as_object_mut().unwrap().remove("304");
            responses["200"]["headers"]
                .as_object_mut()
                .unwrap()
                .remove("ETag");
        });
        assert!(d.is_empty(), "{d:?}");
        // Without the mark, the same absence is a difference.
        let mut doc = ours(ApiVersion::Current);
        doc["paths"][path]["get"]["responses"]["200"]["headers"]["ETag"]
            .as_object_mut()
            .unwrap()
            .remove("x-adu-observed");
        let mut upstream = doc.clone();
        upstream["paths"][path]["get"]["responses"]["200"]["headers"]
            .as_object_mut()
            .unwrap()
            .remove("ETag");
        assert_reported(
            &compare(&doc, &upstream).differences,
            &format!("GET {path}: response 200: header `ETag` is missing upstream"),
        );
    }

    #[test]
    fn the_self_test_fails_when_an_alteration_goes_unnoticed() {
        // An upstream that differs already is refused up front.
        let doc = ours(ApiVersion::Legacy);
        let mut upstream = doc.clone();
        upstream["definitions"]["Operation"]["properties"]["etag"]["type"] = "integer".into();
        let error = self_test_alterations(&doc, &upstream).unwrap_err();
        assert!(error.contains("passes unaltered"), "{error}");
        // An upstream lacking what an alteration needs makes it fail too.
        let mut upstream = doc.clone();
        upstream["paths"]["/deviceupdate/{instanceId}/v2/updates/operations/{operationId}"]["get"]
            ["responses"]["200"]["headers"]
            .as_object_mut()
            .unwrap()
            .remove("Retry-After");
        let mut ours_without = doc.clone();
        ours_without["paths"]["/deviceupdate/{instanceId}/v2/updates/operations/{operationId}"]
            ["get"]["responses"]["200"]["headers"]
            .as_object_mut()
            .unwrap()
            .remove("Retry-After");
        let error = self_test_alterations(&ours_without, &upstream).unwrap_err();
        assert!(error.contains("drop the Retry-After header"), "{error}");
    }

    #[test]
    fn the_version_is_detected_from_info_or_paths() {
        assert_eq!(
            ApiVersion::detect(&ours(ApiVersion::Legacy)).unwrap(),
            ApiVersion::Legacy
        );
        assert_eq!(
            ApiVersion::detect(&ours(ApiVersion::Current)).unwrap(),
            ApiVersion::Current
        );
        let by_path =
            |p: &str| serde_json::json!({"info": {"version": "2099-01-01"}, "paths": {p: {}}});
        assert_eq!(
            ApiVersion::detect(&by_path("/deviceupdate/{instanceId}/v2/updates")).unwrap(),
            ApiVersion::Legacy
        );
        assert_eq!(
            ApiVersion::detect(&by_path("/deviceUpdate/{instanceId}/updates")).unwrap(),
            ApiVersion::Current
        );
        assert!(ApiVersion::detect(&by_path("/elsewhere")).is_err());
    }

    #[test]
    fn arguments_are_checked() {
        assert!(run(&[]).unwrap_err().contains("--upstream FILE"));
        assert!(run(&["--upstream".to_owned()])
            .unwrap_err()
            .contains("needs a file"));
        assert!(run(&["--bogus".to_owned()])
            .unwrap_err()
            .contains("unexpected argument"));
    }
}
