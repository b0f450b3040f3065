//! The list routes (`GET .../updates/operations`, `.../management/operations` and the legacy
//! `.../v2/updates/operations`): the status filter, `top`, and server-side paging whose
//! `nextLink` carries a continuation token.

use std::time::{Duration, SystemTime};

use adu_model::models::OperationStatus;
use bytes::Bytes;
use http::{Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::config::OperationKind;
use crate::routes::{error_response, first_value, json_response, operation_json, parse_pairs};
use crate::state::{OpRecord, State};

/// How long a finished operation stays listed, as the service keeps them.
const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The statuses a filter may name, as the service spells them.
const STATUSES: [&str; 4] = ["NotStarted", "Running", "Succeeded", "Failed"];

/// What a query value may hold unescaped in a `nextLink` (RFC 3986 unreserved characters):
/// a space is `%20`, never `+`, so clients that read `+` literally read it right too.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The statuses a filter keeps: `status eq '<status>'` terms joined by `or` (keywords, the
/// property and the values in any case), e.g. the service's
/// `status eq 'NotStarted' or status eq 'Running'`. `None` for anything else.
fn parse_filter(filter: &str) -> Option<Vec<OperationStatus>> {
    let tokens: Vec<&str> = filter.split_whitespace().collect();
    tokens
        .split(|t| t.eq_ignore_ascii_case("or"))
        .map(|term| match term {
            [p, eq, value] if p.eq_ignore_ascii_case("status") && eq.eq_ignore_ascii_case("eq") => {
                let value = value.strip_prefix('\'')?.strip_suffix('\'')?;
                let status = STATUSES.iter().find(|s| s.eq_ignore_ascii_case(value))?;
                Some(OperationStatus::from_wire(status))
            }
            _ => None,
        })
        .collect()
}

/// One list request: which API and operations, and the query as the request gave it.
pub(crate) struct ListRequest<'r> {
    pub kind: OperationKind,
    /// `None` on the legacy API; else the request's `api-version` and its instance, encoded
    /// as the one path segment it came as.
    pub current: Option<(&'r str, &'r str)>,
    /// The request's path as received, which `nextLink` repeats.
    pub path: &'r str,
    pub query: &'r str,
}

/// Answers one page: `{"value": [...], "nextLink": "..."}`, `nextLink` only when more
/// operations match (an absolute URL on `base_url` with the request's `api-version`, filter
/// and what is left of `top`, and a `skipToken` to resume after the page's last operation).
pub(crate) fn list(
    state: &State,
    base_url: &str,
    req: &ListRequest<'_>,
    now: SystemTime,
) -> Response<Bytes> {
    let legacy = req.current.is_none();
    let names: [&str; 3] = match legacy {
        true => ["$filter", "$top", "$skipToken"],
        false => ["filter", "top", "skipToken"],
    };
    let pairs = parse_pairs(req.query);
    let bad =
        |message: String| error_response(StatusCode::BAD_REQUEST, "BadRequest", &message, now);
    let filter = first_value(&pairs, names[0]).filter(|f| !f.trim().is_empty());
    let statuses = match filter.map(parse_filter) {
        Some(None) => {
            return bad(format!(
                "The filter '{}' is not supported. Only a filter on status is supported, e.g. \
                 \"status eq 'NotStarted' or status eq 'Running'\".",
                filter.unwrap_or_default()
            ))
        }
        Some(Some(statuses)) => Some(statuses),
        None => None,
    };
    let top = match first_value(&pairs, names[1]).map(|t| t.parse::<i32>()) {
        Some(Ok(top)) if top >= 0 => Some(top as usize),
        Some(_) => {
            return bad(format!(
                "The value of '{}' must be a non-negative 32-bit integer.",
                names[1]
            ))
        }
        None => None,
    };
    let after = match first_value(&pairs, names[2]).map(|t| t.parse::<u64>()) {
        Some(Ok(seq)) => Some(seq),
        Some(Err(_)) => return bad(format!("The value of '{}' is not valid.", names[2])),
        None => None,
    };

    let wanted = |rec: &OpRecord| {
        let progress = rec.progress(now);
        let kept = !progress.is_finished()
            || progress
                .since
                .checked_add(RETENTION)
                .is_none_or(|end| end > now);
        rec.is_visible(legacy)
            && kept
            && statuses
                .as_ref()
                .is_none_or(|s| s.contains(&progress.status))
    };
    let n = top.map_or(state.config.page_size, |t| t.min(state.config.page_size));
    let (page, more) = state.page(req.kind, after, n, wanted);
    let left = top.map(|t| t - page.len());
    let value: Vec<Value> = page
        .iter()
        .map(|rec| match (req.kind, req.current) {
            (OperationKind::Device, _) => operation_json(&rec.render_device(now)),
            (_, Some((instance, v))) => operation_json(&rec.render_current(now, instance, v)),
            (_, None) => operation_json(&rec.render_legacy(now)),
        })
        .collect();
    let mut body = json!({ "value": value });
    if let (true, Some(last)) = (more && left != Some(0), page.last()) {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some((_, version)) = req.current {
            params.push(("api-version", version.to_owned()));
        }
        params.extend(filter.map(|f| (names[0], f.to_owned())));
        params.extend(left.map(|l| (names[1], l.to_string())));
        params.push((names[2], last.seq.to_string()));
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
            .collect();
        body["nextLink"] = json!(format!("{base_url}{}?{}", req.path, query.join("&")));
    }
    json_response(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, OperationSpec, Timings};
    use proptest::prelude::*;
    use OperationStatus::{Failed, NotStarted, Running, Succeeded};

    const BASE: &str = "https://localhost:8443";

    /// An operation in each status, by its timings (`created` is `now`).
    fn spec(status: u8) -> OperationSpec {
        let forever = Duration::from_secs(86_400);
        match status % 4 {
            0 => OperationSpec::succeeding().with_timings(Timings::new(forever, forever)),
            1 => OperationSpec::succeeding().with_timings(Timings::new(Duration::ZERO, forever)),
            2 => OperationSpec::succeeding().with_timings(Timings::immediate()),
            _ => OperationSpec::failing().with_timings(Timings::immediate()),
        }
    }

    /// Follows `nextLink` from `first` (path and query) to the end: the ids seen, page by page.
    fn walk(state: &State, kind: OperationKind, first: &str, now: SystemTime) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut link = first.to_owned();
        loop {
            let (path, query) = link.split_once('?').unwrap_or((&link, ""));
            let current = (!path.contains("/v2/")).then_some(("blue", "2026-06-01"));
            let req = ListRequest {
                kind,
                current,
                path,
                query,
            };
            let resp = list(state, BASE, &req, now);
            assert_eq!(resp.status(), StatusCode::OK);
            let body: Value = serde_json::from_slice(resp.body()).unwrap();
            let ids = body["value"].as_array().unwrap().iter();
            pages.push(
                ids.map(|op| op["operationId"].as_str().unwrap().to_owned())
                    .collect(),
            );
            match body.get("nextLink").and_then(Value::as_str) {
                Some(next) => link = next.strip_prefix(BASE).expect("same origin").to_owned(),
                None => return pages,
            }
            assert!(pages.len() <= 1000, "the links loop");
        }
    }

    proptest! {
        /// Any page size, `top` and status filter give every matching operation once, in
        /// the order they were created, in pages no larger than the page size, on both APIs.
        #[test]
        fn paging_gives_every_item_once_in_order(
            statuses in proptest::collection::vec(0u8..4, 0..40),
            page_size in 1usize..12,
            top in proptest::option::of(0usize..50),
            keep in proptest::option::of(proptest::collection::vec(0u8..4, 1..4)),
            legacy in any::<bool>(),
        ) {
            let now = SystemTime::now();
            let config = Config { page_size, ..Config::default() };
            let state = State::new(config, now);
            let ids: Vec<String> = statuses
                .iter()
                .map(|s| state.add_operation(spec(*s), now))
                .collect();
            let names = ["NotStarted", "Running", "Succeeded", "Failed"];
            let mut expected: Vec<&String> = ids
                .iter()
                .zip(&statuses)
                .filter(|(_, s)| keep.as_ref().is_none_or(|k| k.contains(s)))
                .map(|(id, _)| id)
                .collect();
            expected.truncate(top.unwrap_or(usize::MAX));
            let (path, f, t) = match legacy {
                true => ("/deviceupdate/blue/v2/updates/operations", "$filter", "$top"),
                false => ("/deviceUpdate/blue/updates/operations", "filter", "top"),
            };
            let mut query = vec![];
            if !legacy {
                query.push("api-version=2026-06-01".to_owned());
            }
            if let Some(keep) = &keep {
                let terms: Vec<String> = keep
                    .iter()
                    .map(|s| format!("status eq '{}'", names[*s as usize]))
                    .collect();
                let filter = terms.join(" or ");
                query.push(format!("{f}={}", utf8_percent_encode(&filter, QUERY_VALUE)));
            }
            if let Some(top) = top {
                query.push(format!("{t}={top}"));
            }
            let pages = walk(&state, OperationKind::Update, &format!("{path}?{}", query.join("&")), now);
            let seen: Vec<&String> = pages.iter().flatten().collect();
            prop_assert_eq!(seen, expected.clone());
            prop_assert!(pages.iter().all(|p| p.len() <= page_size));
            // No empty page unless nothing matched, and as few pages as the size allows.
            prop_assert_eq!(pages.len(), expected.len().div_ceil(page_size).max(1));
        }
    }

    #[test]
    fn next_link_keeps_the_version_filter_and_what_is_left_of_top() {
        let now = SystemTime::now();
        let config = Config {
            page_size: 2,
            ..Config::default()
        };
        let state = State::new(config, now);
        let ids: Vec<String> = (0..5).map(|_| state.add_operation(spec(1), now)).collect();
        let path = "/deviceUpdate/blue/updates/operations";
        let query = "api-version=2022-10-01&filter=status+eq+%27Running%27&top=3";
        let current = Some(("blue", "2022-10-01"));
        let req = ListRequest {
            kind: OperationKind::Update,
            current,
            path,
            query,
        };
        let body: Value = serde_json::from_slice(list(&state, BASE, &req, now).body()).unwrap();
        let next = body["nextLink"].as_str().unwrap();
        assert_eq!(
            next,
            format!(
                "{BASE}{path}?api-version=2022-10-01&filter=status%20eq%20%27Running%27&top=1&skipToken=1"
            )
        );
        assert_eq!(body["value"][1]["operationId"], ids[1].as_str());
        // A device list holds none of them.
        let req = ListRequest {
            kind: OperationKind::Device,
            current,
            path,
            query: "",
        };
        let body: Value = serde_json::from_slice(list(&state, BASE, &req, now).body()).unwrap();
        assert_eq!(body, json!({ "value": [] }));
    }

    #[test]
    fn a_finished_operation_is_listed_for_seven_days() {
        let now = SystemTime::now();
        let state = State::new(Config::default(), now);
        let mut old = spec(2).with_id("old");
        old.created_ago = RETENTION + Duration::from_secs(1);
        state.add_operation(old, now);
        let mut recent = spec(3).with_id("recent");
        recent.created_ago = RETENTION - Duration::from_secs(1);
        state.add_operation(recent, now);
        let pages = walk(
            &state,
            OperationKind::Update,
            "/deviceUpdate/blue/updates/operations?api-version=2026-06-01",
            now,
        );
        assert_eq!(pages, [["recent"]]);
        assert!(
            state.operation(OperationKind::Update, "old").is_some(),
            "a get still finds it"
        );
    }

    #[test]
    fn bad_queries_are_400_in_the_error_shape() {
        let state = State::new(Config::default(), SystemTime::now());
        for (path, query) in [
            (
                "/deviceUpdate/b/updates/operations",
                "filter=status+eq+%27Done%27",
            ),
            (
                "/deviceUpdate/b/updates/operations",
                "filter=name+eq+%27x%27",
            ),
            ("/deviceUpdate/b/updates/operations", "top=-1"),
            ("/deviceUpdate/b/updates/operations", "top=x"),
            ("/deviceUpdate/b/updates/operations", "top=2147483648"),
            ("/deviceUpdate/b/updates/operations", "skipToken=abc"),
            (
                "/deviceupdate/b/v2/updates/operations",
                "$filter=status+ne+%27Running%27",
            ),
            ("/deviceupdate/b/v2/updates/operations", "$top=-5"),
        ] {
            let current = (!path.contains("/v2/")).then_some(("b", "2026-06-01"));
            let req = ListRequest {
                kind: OperationKind::Update,
                current,
                path,
                query,
            };
            let resp = list(&state, BASE, &req, SystemTime::now());
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
            let body: Value = serde_json::from_slice(resp.body()).unwrap();
            assert_eq!(body["error"]["code"], "BadRequest", "{query}");
            assert!(body["error"]["message"].is_string());
        }
    }

    #[test]
    fn filters_on_status_only() {
        let service = "status eq 'NotStarted' or status eq 'Running'";
        assert_eq!(parse_filter(service), Some(vec![NotStarted, Running]));
        assert_eq!(
            parse_filter("  Status EQ 'failed'  OR status eq 'Succeeded' "),
            Some(vec![Failed, Succeeded])
        );
        for bad in [
            "",
            "status eq 'Done'",
            "status ne 'Running'",
            "name eq 'Running'",
            "status eq Running",
            "status eq 'Running' or",
            "status eq 'Running' and status eq 'Failed'",
            "(status eq 'Running')",
        ] {
            assert_eq!(parse_filter(bad), None, "{bad}");
        }
    }
}
