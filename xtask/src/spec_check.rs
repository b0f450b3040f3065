//! `cargo xtask spec-check (--upstream FILE | --upstream-root DIR) [--self-test]`: compares
//! our API description with an upstream OpenAPI (Swagger 2.0) file, whose `info.version`
//! names the row of [`VERSIONS`] (`--upstream-root` checks every row).
//!
//! Both are reduced to `serde_json::Value` trees of what a client sees: the host, each
//! operation we describe (parameters resolved, header names in lower case, media types,
//! OAuth2 scopes, responses) and every definition those reach, each schema cut to the
//! keys in [`KEEP`], so prose and annotations do not count. A response or header ours
//! marks `"x-adu-observed": true` (the service sends it, upstream leaves it out) may be
//! missing upstream. `--self-test` alters the file in every operation we describe and
//! fails unless each alteration is reported.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::codegen::VERSIONS;
use crate::util::project_root;

const USAGE: &str =
    "usage: cargo xtask spec-check (--upstream FILE | --upstream-root DIR) [--self-test]";
const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];
const OBSERVED: &str = "x-adu-observed";
/// The keys of a schema, parameter, response or header that matter to a client (of
/// `x-ms-enum`, only `modelAsString` changes what a client accepts).
const KEEP: &str = "type format $ref items properties additionalProperties allOf required enum
    x-ms-enum modelAsString default minLength maxLength pattern minimum maximum exclusiveMinimum
    exclusiveMaximum multipleOf minItems maxItems uniqueItems collectionFormat x-nullable in
    schema headers x-adu-observed";

/// Runs the task.
pub fn run(args: &[String]) -> Result<(), String> {
    let (mut files, mut self_test): (Vec<PathBuf>, bool) = (Vec::new(), false);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--upstream" => files.push(args.next().ok_or(USAGE)?.into()),
            "--upstream-root" => {
                let root = Path::new(args.next().ok_or(USAGE)?);
                let folders = VERSIONS.iter().map(|v| root.join(v.folder));
                files.extend(folders.map(|folder| folder.join("deviceupdate.json")));
            }
            "--self-test" => self_test = true,
            other => return Err(format!("unexpected argument `{other}`; {USAGE}")),
        }
    }
    if files.is_empty() {
        return Err(USAGE.to_owned());
    }
    files.iter().try_for_each(|file| check(file, self_test))
}

fn check(file: &Path, self_test: bool) -> Result<(), String> {
    let upstream = read_json(file)?;
    let name = upstream["info"]["version"].as_str().unwrap_or("(none)");
    let row = VERSIONS.iter().find(|v| v.name == name);
    let description = row
        .ok_or(format!("no row of VERSIONS is version {name}"))?
        .description;
    let ours = read_json(&project_root().join(description))?;
    let what = format!("{description} against {}", file.display());
    let lines = match self_test {
        true => alterations_caught(&ours, &upstream)?,
        false => compare(&ours, &upstream),
    };
    lines.iter().for_each(|line| println!("{line}"));
    match (self_test, lines.len()) {
        (true, n) => println!("spec-check --self-test: {what}: all {n} alterations were reported"),
        (false, 0) => println!("spec-check: {what}: the same for a client"),
        (false, n) => return Err(format!("{n} difference(s): {what}")),
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

/// Compares our description with an upstream one, for the operations ours describes.
pub fn compare(ours: &Value, upstream: &Value) -> Vec<String> {
    let operations = operations(ours);
    let mut out = Vec::new();
    if operations.is_empty() {
        out.push("our description has no operation".to_owned());
    }
    let (ours, upstream) = (view(ours, &operations), view(upstream, &operations));
    let (ours, upstream) = (Value::Object(ours), Value::Object(upstream));
    diff("", &ours, &upstream, ("ours", "upstream"), &mut out);
    out
}

/// Reports where two trees differ, one line per difference naming its place as a
/// dotted path after `at`; `names` says what each side is called.
pub fn diff(at: &str, a: &Value, b: &Value, names: (&str, &str), out: &mut Vec<String>) {
    let here = |key: &str| format!("{at}{}{key}", if at.is_empty() { "" } else { "." });
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (key, value) in x.iter().filter(|(k, _)| *k != OBSERVED) {
                match y.get(key) {
                    Some(other) => diff(&here(key), value, other, names, out),
                    None if value[OBSERVED] == true => {}
                    None => out.push(format!("{}: only in {}", here(key), names.0)),
                }
            }
            for key in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(format!("{}: only in {}", here(key), names.1));
            }
        }
        _ if a != b => out.push(format!("{at}: {} {a}, {} {b}", names.0, names.1)),
        _ => {}
    }
}

/// The (path, method) of every operation a description describes.
fn operations(doc: &Value) -> Vec<(String, &'static str)> {
    let paths = doc["paths"].as_object().into_iter().flatten();
    paths
        .flat_map(|(path, item)| {
            let methods = METHODS.iter().filter(|m| item.get(**m).is_some());
            methods.map(move |m| (path.clone(), *m))
        })
        .collect()
}

/// What a client sees of `doc`: its host, the given operations and the definitions
/// they reach, each under a key that names it.
fn view(doc: &Value, operations: &[(String, &str)]) -> Map<String, Value> {
    let host = &doc["x-ms-parameterized-host"];
    let mut view = Map::new();
    view.insert(
        "host".to_owned(),
        json!({
            "hostTemplate": host["hostTemplate"],
            "useSchemePrefix": host["useSchemePrefix"].as_bool().unwrap_or(true),
            "parameters": parameters(doc, &[&host["parameters"]]),
        }),
    );
    for (path, method) in operations {
        let (item, op) = (&doc["paths"][path], &doc["paths"][path][*method]);
        if op.is_null() {
            continue;
        }
        // An operation's own media types and security replace the document's.
        let inherited = |key: &str| sorted(op.get(key).unwrap_or(&doc[key]));
        let requirements = op.get("security").unwrap_or(&doc["security"]).as_array();
        let scopes = requirements
            .into_iter()
            .flatten()
            .filter_map(Value::as_object);
        let scopes = scopes.flat_map(|r| r.values().filter_map(Value::as_array).flatten());
        let responses = op["responses"].as_object().into_iter().flatten();
        let responses: Map<_, _> = responses
            .map(|(c, r)| (c.clone(), normalize(resolve(doc, r))))
            .collect();
        view.insert(
            format!("operation {} {path}", method.to_uppercase()),
            json!({
                "parameters": parameters(doc, &[&item["parameters"], &op["parameters"]]),
                "consumes": inherited("consumes"),
                "produces": inherited("produces"),
                "scopes": sorted(&scopes.cloned().collect()),
                "responses": responses,
            }),
        );
    }
    let mut pending = Vec::new();
    refs(&Value::Object(view.clone()), &mut pending);
    while let Some(name) = pending.pop() {
        let key = format!("definition {name}");
        if let (false, Some(definition)) = (view.contains_key(&key), doc["definitions"].get(&name))
        {
            let definition = normalize(definition);
            refs(&definition, &mut pending);
            view.insert(key, definition);
        }
    }
    view
}

/// Parameters by name (a header's in lower case, as HTTP compares them), `$ref`s
/// resolved; a later list's parameter replaces an earlier one's.
fn parameters(doc: &Value, lists: &[&Value]) -> Value {
    let all = lists.iter().filter_map(|list| list.as_array()).flatten();
    let all = all.map(|p| resolve(doc, p));
    all.map(|p| (parameter_key(p), normalize(p))).collect()
}

fn parameter_key(parameter: &Value) -> String {
    let name = parameter["name"].as_str().unwrap_or_default();
    match parameter["in"] == "header" {
        true => name.to_ascii_lowercase(),
        false => name.to_owned(),
    }
}

/// Follows a local `$ref` (`#/parameters/...`, `#/responses/...`).
fn resolve<'v>(doc: &'v Value, value: &'v Value) -> &'v Value {
    let pointer = value["$ref"].as_str().and_then(|r| r.strip_prefix('#'));
    pointer.and_then(|p| doc.pointer(p)).unwrap_or(value)
}

/// The parts of a schema, parameter, response or header that matter to a client.
fn normalize(node: &Value) -> Value {
    let Some(object) = node.as_object() else {
        return node.clone();
    };
    let mut out = Map::new();
    let kept = object
        .iter()
        .filter(|(k, _)| KEEP.split_whitespace().any(|x| x == *k));
    for (key, value) in kept {
        let value = match (key.as_str(), value) {
            ("required" | "enum", _) => sorted(value),
            ("properties" | "headers", Value::Object(names)) => {
                let name = |k: &String| match key == "headers" {
                    true => k.to_ascii_lowercase(),
                    false => k.clone(),
                };
                names.iter().map(|(k, v)| (name(k), normalize(v))).collect()
            }
            (_, Value::Array(items)) => items.iter().map(normalize).collect(),
            _ => normalize(value),
        };
        // `false` is every boolean keyword's default, and `{}` says nothing either.
        if !value.is_null() && value != false && value != json!({}) {
            out.insert(key.clone(), value);
        }
    }
    Value::Object(out)
}

/// An array sorted (for lists whose order means nothing); anything else as it is.
fn sorted(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(items) = value.as_array_mut() {
        items.sort_by_key(Value::to_string);
    }
    value
}

/// Collects the names of the definitions `value` refers to.
fn refs(value: &Value, into: &mut Vec<String>) {
    if let Some(name) = value["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/definitions/"))
    {
        into.push(name.to_owned());
    }
    match value {
        Value::Object(members) => members.values().for_each(|v| refs(v, into)),
        Value::Array(items) => items.iter().for_each(|v| refs(v, into)),
        _ => {}
    }
}

/// `doc` with the member at pointer `at` removed (`new` is `None`) or set.
fn altered(doc: &Value, at: &str, new: &Option<Value>) -> Value {
    let mut doc = doc.clone();
    let (parent, key) = at.rsplit_once('/').unwrap_or_default();
    let index = key.parse().unwrap_or(0);
    match (doc.pointer_mut(parent), new.clone()) {
        (Some(Value::Array(items)), None) => drop(items.remove(index)),
        (Some(Value::Array(items)), Some(new)) => items[index] = new,
        (Some(Value::Object(members)), None) => drop(members.remove(key)),
        (Some(Value::Object(members)), Some(new)) => drop(members.insert(key.into(), new)),
        _ => {}
    }
    doc
}

/// Checks that `upstream` passes unaltered and that each deliberate alteration of it is
/// reported; returns the line that caught each.
pub fn alterations_caught(ours: &Value, upstream: &Value) -> Result<Vec<String>, String> {
    let baseline = compare(ours, upstream);
    if !baseline.is_empty() {
        let lines = baseline.join("\n");
        return Err(format!(
            "the self-test needs a file that passes as it is:\n{lines}"
        ));
    }
    // Each alteration: the place a report line must name (or hold), the pointer of the
    // member altered, and what replaces it (`None` removes it).
    let mut cases: Vec<(String, String, Option<Value>)> = Vec::new();
    for (path, method) in operations(ours) {
        let label = format!("operation {} {path}", method.to_uppercase());
        let item_at = format!("/paths/{}", path.replace('~', "~0").replace('/', "~1"));
        let op_at = format!("{item_at}/{method}");
        let op = upstream
            .pointer(&op_at)
            .ok_or(format!("upstream lacks {label}"))?;
        let mut paths = upstream["paths"].clone();
        paths[path.to_uppercase()] = paths[&path].take();
        cases.push((label.clone(), "/paths".into(), Some(paths)));
        for at in [item_at, op_at.clone()] {
            let parameters = upstream.pointer(&at).unwrap()["parameters"].as_array();
            for (i, p) in parameters.into_iter().flatten().enumerate() {
                let place = format!("{label}.parameters.{}", parameter_key(resolve(upstream, p)));
                cases.push((place, format!("{at}/parameters/{i}"), None));
            }
        }
        for (code, response) in op["responses"].as_object().into_iter().flatten() {
            let place = format!("{label}.responses.{code}");
            cases.push((place.clone(), format!("{op_at}/responses/{code}"), None));
            let at = match response["$ref"].as_str() {
                Some(target) => target.trim_start_matches('#').to_owned(),
                None => format!("{op_at}/responses/{code}"),
            };
            let headers = resolve(upstream, response)["headers"].as_object();
            for header in headers.into_iter().flat_map(|h| h.keys()) {
                let place = format!("{place}.headers.{}", header.to_lowercase());
                cases.push((place, format!("{at}/headers/{header}"), None));
            }
        }
        for key in view(upstream, &[(path, method)]).keys() {
            let Some(name) = key.strip_prefix("definition ") else {
                continue;
            };
            let definition = &upstream["definitions"][name];
            let at = format!("/definitions/{name}");
            if let Some(required) = definition["required"].as_array().filter(|r| !r.is_empty()) {
                let longer = [required.clone(), vec![json!("addedBySelfTest")]].concat();
                cases.push((format!("{key}.required"), format!("{at}/required/0"), None));
                cases.push((
                    format!("{key}.required"),
                    format!("{at}/required"),
                    Some(longer.into()),
                ));
            }
            if let Some([_, rest @ ..]) = definition["enum"].as_array().map(Vec::as_slice) {
                let renamed = [vec![json!("renamedBySelfTest")], rest.to_vec()].concat();
                cases.push((
                    format!("{key}.enum"),
                    format!("{at}/enum"),
                    Some(renamed.into()),
                ));
            }
        }
    }
    // A report line catches an alteration when it names the place altered or one holding it.
    let (mut caught, mut missed) = (Vec::new(), Vec::new());
    for (place, at, new) in cases {
        let names = |line: &String| {
            let (named, _) = line.split_once(": ").unwrap_or_default();
            place == named || place.starts_with(&format!("{named}."))
        };
        match compare(ours, &altered(upstream, &at, &new))
            .into_iter()
            .find(names)
        {
            Some(line) => caught.push(line),
            None => missed.push(place),
        }
    }
    match missed.is_empty() {
        true => Ok(caught),
        false => Err(format!("self-test: not reported:\n{}", missed.join("\n"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(description: &str) -> Value {
        read_json(&project_root().join(description)).unwrap()
    }

    /// Our description without what only we document: what upstream should look like.
    fn as_upstream(value: &Value) -> Value {
        match value {
            Value::Object(o) => {
                let kept = o.iter().filter(|(_, v)| v[OBSERVED] != true);
                Value::Object(kept.map(|(k, v)| (k.clone(), as_upstream(v))).collect())
            }
            other => other.clone(),
        }
    }

    #[test]
    fn every_alteration_of_every_version_is_caught() {
        for version in VERSIONS {
            let ours = ours(version.description);
            let caught = alterations_caught(&ours, &as_upstream(&ours)).unwrap();
            // Path case, 3+ parameters, 2+ responses, a header, required twice, an enum.
            assert!(caught.len() >= 10, "{}: {caught:#?}", version.name);
        }
    }

    #[test]
    fn prose_and_spelling_are_ignored_and_what_a_client_sees_is_not() {
        let ours = ours(VERSIONS[1].description);
        let path = "/deviceUpdate/{instanceId}/updates/operations/{operationId}";
        let op = format!("/paths/{}/get", path.replace('/', "~1"));
        let edits = [
            (
                "/definitions/UpdateInfo/description".into(),
                Some(json!("Reworded.")),
            ),
            (
                "/parameters/Renamed".into(),
                Some(ours["parameters"]["InstanceId"].clone()),
            ),
            (
                format!("{op}/parameters/0"),
                Some(json!({ "$ref": "#/parameters/Renamed" })),
            ),
            (format!("{op}/responses/200/headers/Retry-After"), None),
            (
                format!("{op}/responses/200/headers/retry-after"),
                Some(json!({ "type": "string" })),
            ),
            // The two that matter to a client (the operation id's limit, in both gets).
            ("/parameters/OperationId/maxLength".into(), Some(json!(128))),
            (
                "/definitions/UpdateInfo/properties/description".into(),
                None,
            ),
        ];
        let upstream = edits
            .iter()
            .fold(as_upstream(&ours), |doc, (at, new)| altered(&doc, at, new));
        let limit = |path: &str| {
            format!("operation GET {path}.parameters.operationId.maxLength: ours 256, upstream 128")
        };
        let lines = [
            "definition UpdateInfo.properties.description: only in ours".to_owned(),
            limit("/deviceUpdate/{instanceId}/management/operations/{operationId}"),
            limit(path),
        ];
        assert_eq!(compare(&ours, &upstream), lines);
    }
}
