//! Lists of operations: the first request of every version and kind, the pages in
//! `tests/fixtures/list/` (upstream examples' shapes, our values), every error a list can
//! end in, and the pager driven by a closure that serves pages of a `Vec`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adu_model::http::{self, Request, Response};
use adu_model::models::OperationStatus;
use adu_model::*;
use proptest::prelude::*;
use serde_json::{json, Value};

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_780_000_000)
}

fn endpoint() -> Endpoint {
    Endpoint::parse("fabrikam.api.adu.microsoft.com").unwrap()
}

fn instance() -> InstanceId {
    InstanceId::new("green").unwrap()
}

fn reply(status: u16, body: impl Into<Vec<u8>>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .body(body.into())
        .unwrap()
}

fn op(id: &str) -> Value {
    json!({
        "operationId": id,
        "status": "Running",
        "createdDateTime": "2026-06-02T08:15:30Z",
        "lastActionDateTime": "2026-06-02T08:16:02Z",
    })
}

fn page(ids: &[&str], next_link: Option<&str>) -> Response<Vec<u8>> {
    let value: Vec<Value> = ids.iter().map(|id| op(id)).collect();
    let mut body = json!({ "value": value });
    if let Some(link) = next_link {
        body["nextLink"] = json!(link);
    }
    reply(200, serde_json::to_vec(&body).unwrap())
}

fn pager(kind: OperationKind, version: ApiVersion, options: &ListOptions) -> Pager {
    Pager::new(&endpoint(), &instance(), kind, version, options).unwrap()
}

fn ids(items: &[AnyOperation]) -> Vec<&str> {
    items.iter().map(AnyOperation::operation_id).collect()
}

#[test]
fn every_fixture_builds_its_url_and_decodes_to_its_page() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/list");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(names.len() >= 6, "fixtures went missing: {names:?}");
    for path in names {
        let name = path.display();
        let f: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let version: ApiVersion = f["apiVersion"].as_str().unwrap().parse().unwrap();
        let kind: OperationKind = f["kind"].as_str().unwrap().parse().unwrap();
        let req = &f["request"];
        let mut options = ListOptions::default();
        if let Some(statuses) = req["filter"].as_array() {
            let statuses = statuses
                .iter()
                .map(|s| OperationStatus::from_wire(s.as_str().unwrap()));
            options = options.with_filter(OperationFilter::Statuses(statuses.collect()));
        }
        if let Some(top) = req["top"].as_u64() {
            options = options.with_top(u32::try_from(top).unwrap());
        }
        let endpoint = Endpoint::parse(req["endpoint"].as_str().unwrap()).unwrap();
        let instance = InstanceId::new(req["instanceId"].as_str().unwrap()).unwrap();
        let request =
            build_list_operations_request(&endpoint, &instance, kind, version, &options).unwrap();
        assert_eq!(request.uri(), req["url"].as_str().unwrap(), "{name}");
        assert_eq!(request.method(), http::Method::GET, "{name}");
        assert_eq!(request.headers()["accept"], "application/json", "{name}");
        let pager = Pager::new(&endpoint, &instance, kind, version, &options).unwrap();
        assert_eq!(pager.next_request().unwrap().uri(), request.uri(), "{name}");

        let body = serde_json::to_vec(&f["response"]["body"]).unwrap();
        let response = reply(200, body);
        let page = decode_list_operations_response(version, kind, &response, now()).unwrap();
        let expect = &f["expect"];
        let want: Vec<&str> = expect["operationIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(ids(&page.items), want, "{name}");
        for (item, update) in page
            .items
            .iter()
            .zip(expect["updateIds"].as_array().unwrap())
        {
            assert_eq!(item.kind(), kind, "{name}");
            let got = item
                .update_id()
                .map(|u| format!("{}/{}/{}", u.provider, u.name, u.version));
            assert_eq!(got.as_deref(), update.as_str(), "{name}");
            if kind == OperationKind::Device {
                assert!(matches!(item, AnyOperation::Device(_)), "{name}");
                assert_eq!(item.resource_location(), None, "{name}");
            }
        }
        assert_eq!(
            page.next_link.as_deref(),
            expect["nextLink"].as_str(),
            "{name}"
        );
    }
}

#[test]
fn filters_are_written_as_the_service_reads_them_and_encoded_as_one_value() {
    let statuses =
        OperationFilter::Statuses(vec![OperationStatus::NotStarted, OperationStatus::Running]);
    assert_eq!(
        statuses.to_string(),
        "status eq 'NotStarted' or status eq 'Running'"
    );
    let quoted = OperationFilter::Statuses(vec![OperationStatus::from_wire("It's")]);
    assert_eq!(quoted.to_string(), "status eq 'It''s'");
    // A raw filter is passed through, encoded so it cannot add a parameter.
    let raw = ListOptions::default().with_filter(OperationFilter::Raw("a&top=1#x".into()));
    let kind = OperationKind::Update;
    let uri = list_operations_uri(
        &endpoint(),
        &instance(),
        kind,
        ApiVersion::V2022_10_01,
        &raw,
    )
    .unwrap();
    assert_eq!(
        uri.query(),
        Some("filter=a%26top%3D1%23x&api-version=2022-10-01")
    );
    // No filter, or one with no status, sends none.
    let none = ListOptions::default().with_filter(OperationFilter::Statuses(Vec::new()));
    let uri = list_operations_uri(&endpoint(), &instance(), kind, ApiVersion::V2, &none).unwrap();
    assert_eq!(uri.query(), None);
    // An instance is one encoded segment of the path.
    let odd = InstanceId::new("a/b?c").unwrap();
    let uri = list_operations_uri(
        &endpoint(),
        &odd,
        kind,
        ApiVersion::V2026_06_01,
        &ListOptions::default(),
    )
    .unwrap();
    assert_eq!(uri.path(), "/deviceUpdate/a%2Fb%3Fc/updates/operations");
}

#[test]
fn a_service_error_is_decoded_and_leaves_the_pager_ready_to_ask_again() {
    let mut p = pager(
        OperationKind::Update,
        ApiVersion::default(),
        &ListOptions::default(),
    );
    let first = p.next_request().unwrap().uri().clone();
    let throttled = Response::builder()
        .status(429)
        .header("retry-after", "3")
        .body(br#"{"error":{"code":"TooManyRequests","message":"Slow down."}}"#.to_vec())
        .unwrap();
    let err = p.handle_response(&throttled, now()).unwrap_err();
    let service = err.service().unwrap();
    assert_eq!(service.status(), 429);
    assert_eq!(service.code(), Some("TooManyRequests"));
    assert_eq!(service.retry_after(), Some(Duration::from_secs(3)));
    assert!(!err.is_input_error());
    assert_eq!(p.next_request().unwrap().uri(), &first);
    let items = p.handle_response(&page(&["a"], None), now()).unwrap();
    assert_eq!(ids(&items), ["a"]);
    assert!(p.next_request().is_none());
    // An answer when the list is over gives nothing.
    assert!(p
        .handle_response(&page(&["b"], None), now())
        .unwrap()
        .is_empty());
}

#[test]
fn a_body_that_is_not_a_page_is_a_decode_error_keeping_the_body_bounded() {
    let long = format!("{{\"value\": \"{}\"}}", "x".repeat(MAX_KEPT_BODY + 10));
    let cases: [(ApiVersion, OperationKind, Vec<u8>, &str); 4] = [
        (
            ApiVersion::V2026_06_01,
            OperationKind::Update,
            b"<html>".to_vec(),
            "expected value",
        ),
        // `value` is required in the current API.
        (
            ApiVersion::V2022_10_01,
            OperationKind::Device,
            b"{}".to_vec(),
            "missing field `value`",
        ),
        (
            ApiVersion::V2,
            OperationKind::Update,
            vec![0xff, 0xfe],
            "not UTF-8",
        ),
        (
            ApiVersion::V2026_06_01,
            OperationKind::Device,
            long.into_bytes(),
            "invalid type",
        ),
    ];
    for (version, kind, body, reason) in cases {
        let err = decode_list_operations_response(version, kind, &reply(200, body.clone()), now())
            .unwrap_err();
        let Error::Decode(d) = &err else {
            panic!("{err:?}")
        };
        assert!(d.reason().contains(reason), "{}", d.reason());
        assert!(d.raw_body().len() <= MAX_KEPT_BODY);
        assert!(body.starts_with(d.raw_body()));
        assert!(
            err.to_string().contains("not a page of operations"),
            "{err}"
        );
    }
}

#[test]
fn the_legacy_api_has_no_device_operations_to_list() {
    let err = Pager::new(
        &endpoint(),
        &instance(),
        OperationKind::Device,
        ApiVersion::V2,
        &ListOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnsupportedKind { .. }), "{err:?}");
    let err = decode_list_operations_response(
        ApiVersion::V2,
        OperationKind::Device,
        &page(&["a"], None),
        now(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnsupportedKind { .. }), "{err:?}");
}

#[test]
fn next_links_are_resolved_on_the_endpoint_and_keep_the_api_version() {
    let version = ApiVersion::V2022_10_01;
    let mut p = pager(OperationKind::Device, version, &ListOptions::default());
    let base = "https://fabrikam.api.adu.microsoft.com/deviceUpdate/green/management/operations";
    // Relative, no api-version: ours is appended.
    p.handle_response(
        &page(
            &["a"],
            Some("/deviceUpdate/green/management/operations?skipToken=1"),
        ),
        now(),
    )
    .unwrap();
    assert_eq!(
        p.next_request().unwrap().uri().to_string(),
        format!("{base}?skipToken=1&api-version=2022-10-01")
    );
    // Absolute on the endpoint, naming another version this crate speaks: read with it.
    let link = format!("{base}?skipToken=2&api-version=2026-06-01");
    p.handle_response(&page(&["b"], Some(&link)), now())
        .unwrap();
    assert_eq!(p.next_request().unwrap().uri().to_string(), link);
    assert_eq!(p.version(), ApiVersion::V2026_06_01);
    // A path with no query gets `?`.
    p.handle_response(
        &page(
            &["c"],
            Some("/deviceUpdate/green/management/operations/next"),
        ),
        now(),
    )
    .unwrap();
    assert_eq!(
        p.next_request().unwrap().uri().to_string(),
        format!("{base}/next?api-version=2026-06-01")
    );
    let items = p.handle_response(&page(&["d"], Some("")), now()).unwrap();
    assert_eq!(ids(&items), ["d"]);
    assert!(
        p.next_request().is_none(),
        "an empty nextLink ends the list"
    );

    // The legacy API names no version in its links, and none is added.
    let mut legacy = pager(
        OperationKind::Update,
        ApiVersion::V2,
        &ListOptions::default(),
    );
    legacy
        .handle_response(
            &page(
                &["a"],
                Some("/deviceupdate/green/v2/updates/operations?$skip=1"),
            ),
            now(),
        )
        .unwrap();
    assert_eq!(
        legacy.next_request().unwrap().uri().to_string(),
        "https://fabrikam.api.adu.microsoft.com/deviceupdate/green/v2/updates/operations?$skip=1"
    );
}

/// RFC 3986 §5.2: a relative-path or query-only `nextLink` is relative to the page that
/// sent it, not to the endpoint's root; and the service reads `api-version` in any case, so
/// a link naming it as `Api-Version` is read with that version and gets no second one.
#[test]
fn relative_next_links_are_read_against_their_page_and_the_version_name_in_any_case() {
    let mut p = pager(
        OperationKind::Update,
        ApiVersion::V2026_06_01,
        &ListOptions::default(),
    );
    let base = "https://fabrikam.api.adu.microsoft.com/deviceUpdate/green/updates/operations";
    for (link, want) in [
        (
            "operations?skipToken=1",
            format!("{base}?skipToken=1&api-version=2026-06-01"),
        ),
        (
            "?skipToken=2",
            format!("{base}?skipToken=2&api-version=2026-06-01"),
        ),
        (
            "operations?skipToken=3&Api-Version=2022-10-01",
            format!("{base}?skipToken=3&Api-Version=2022-10-01"),
        ),
    ] {
        p.handle_response(&page(&["a"], Some(link)), now()).unwrap();
        assert_eq!(p.next_request().unwrap().uri().to_string(), want, "{link}");
    }
    assert_eq!(p.version(), ApiVersion::V2022_10_01);
    let info = location_info("/deviceUpdate/g/updates/operations/x?API-VERSION=2022-10-01");
    assert_eq!(
        info.ok(),
        Some((ApiVersion::V2022_10_01, OperationKind::Update))
    );
}

#[test]
fn a_next_link_elsewhere_unknown_or_seen_before_ends_the_list_with_its_error() {
    let kind = OperationKind::Update;
    let version = ApiVersion::V2026_06_01;
    let first = pager(kind, version, &ListOptions::default())
        .next_request()
        .unwrap()
        .uri()
        .to_string();
    type Check = fn(&Error) -> bool;
    let cases: [(&str, Check); 6] = [
        (
            "https://elsewhere.example/deviceUpdate/green/updates/operations",
            |e| matches!(e, Error::ForeignNextLink { origin, .. } if origin == "https://elsewhere.example"),
        ),
        ("http://fabrikam.api.adu.microsoft.com/x", |e| {
            matches!(e, Error::ForeignNextLink { .. })
        }),
        (
            "/x?api-version=2099-01-01",
            |e| matches!(e, Error::UnknownApiVersion { version, .. } if version == "2099-01-01"),
        ),
        (
            "/x#fragment",
            |e| matches!(e, Error::InvalidNextLink { reason, .. } if reason.contains("fragment")),
        ),
        // The first page again, as the service sent it or as resolved.
        (
            first.as_str(),
            |e| matches!(e, Error::InvalidNextLink { reason, .. } if reason.contains("read before")),
        ),
        (
            "/deviceUpdate/green/updates/operations",
            |e| matches!(e, Error::InvalidNextLink { reason, .. } if reason.contains("read before")),
        ),
    ];
    for (link, expected) in cases {
        let mut p = pager(kind, version, &ListOptions::default());
        let err = p
            .handle_response(&page(&["a"], Some(link)), now())
            .unwrap_err();
        assert!(expected(&err), "{link}: {err:?}");
        assert!(!err.to_string().is_empty());
        assert!(p.next_request().is_none(), "{link}: the list is over");
    }
    // A loop longer than one page is caught too.
    let mut p = pager(kind, version, &ListOptions::default());
    p.handle_response(&page(&["a"], Some("/p?n=1")), now())
        .unwrap();
    p.handle_response(&page(&["b"], Some("/p?n=2")), now())
        .unwrap();
    let err = p
        .handle_response(&page(&["c"], Some("/p?n=1")), now())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidNextLink { .. }), "{err:?}");
    // No credential from a link reaches an error.
    let mut p = pager(kind, version, &ListOptions::default());
    let err = p
        .handle_response(
            &page(&["a"], Some("https://me:hunter2@elsewhere.example/x")),
            now(),
        )
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
}

#[test]
fn a_service_that_only_sends_empty_pages_is_followed_a_bounded_number_of_times() {
    let mut pager = pager(
        OperationKind::Update,
        ApiVersion::V2026_06_01,
        &ListOptions::default(),
    );
    let mut requests = 0u32;
    let error = loop {
        let request = pager.next_request().expect("a next page until the error");
        requests += 1;
        assert!(requests <= MAX_EMPTY_PAGES_IN_A_ROW + 1, "never ends");
        // Every page is empty and names a new one: no link repeats.
        let link = format!("{}&skipToken={requests}", request.uri());
        match pager.handle_response(&page(&[], Some(&link)), now()) {
            Ok(items) => assert!(items.is_empty()),
            Err(error) => break error,
        }
    };
    assert_eq!(requests, MAX_EMPTY_PAGES_IN_A_ROW);
    assert!(
        matches!(&error, Error::InvalidNextLink { reason, .. } if reason.contains("empty pages")),
        "{error:?}"
    );
    assert!(pager.next_request().is_none(), "the list is over");

    // Empty pages between full ones are followed: the count starts again after each item.
    let mut pager = pager_for_default();
    let mut served = 0u32;
    while let Some(request) = pager.next_request() {
        served += 1;
        let ids: &[&str] = if served.is_multiple_of(50) {
            &["x"]
        } else {
            &[]
        };
        let link = (served < 300).then(|| format!("{}&skipToken={served}", request.uri()));
        pager
            .handle_response(&page(ids, link.as_deref()), now())
            .expect("never 100 empty pages in a row");
    }
    assert_eq!(served, 300);
}

fn pager_for_default() -> Pager {
    pager(
        OperationKind::Update,
        ApiVersion::V2026_06_01,
        &ListOptions::default(),
    )
}

#[test]
fn top_zero_sends_nothing_and_top_stops_the_requests() {
    let p = pager(
        OperationKind::Update,
        ApiVersion::default(),
        &ListOptions::default().with_top(0),
    );
    assert!(p.next_request().is_none());
    let mut p = pager(
        OperationKind::Update,
        ApiVersion::default(),
        &ListOptions::default().with_top(3),
    );
    let items = p
        .handle_response(&page(&["a", "b"], Some("/n?1")), now())
        .unwrap();
    assert_eq!(ids(&items), ["a", "b"]);
    // The service may give more than asked: the caller still sees only `top`.
    let items = p
        .handle_response(&page(&["c", "d", "e"], Some("/n?2")), now())
        .unwrap();
    assert_eq!(ids(&items), ["c"]);
    assert!(p.next_request().is_none());
}

/// Serves `pages` of a `Vec`: page `i` is asked for with `page=i`, and links to the next
/// one relatively or absolutely as `absolute` says.
fn serve(
    items: &[String],
    sizes: &[usize],
    absolute: &[bool],
    request: &Request<Vec<u8>>,
) -> Response<Vec<u8>> {
    let query = request.uri().query().unwrap_or_default();
    assert!(query.contains("api-version=2026-06-01"), "{query}");
    let index: usize = query
        .split('&')
        .find_map(|p| p.strip_prefix("page="))
        .map_or(0, |n| n.parse().unwrap());
    let start: usize = sizes[..index].iter().sum();
    let page_ids: Vec<&str> = items[start..start + sizes[index]]
        .iter()
        .map(String::as_str)
        .collect();
    let next = index + 1;
    let link = (next < sizes.len()).then(|| {
        let path = format!("/deviceUpdate/green/updates/operations?page={next}");
        match absolute[index] {
            true => format!("https://fabrikam.api.adu.microsoft.com{path}"),
            false => path,
        }
    });
    page(&page_ids, link.as_deref())
}

proptest! {
    /// Any page sizes and any `top`: every item once, in order, cut at `top`, with one
    /// request per page needed and none after `top` is reached.
    #[test]
    fn the_pager_gives_every_item_once_in_order(
        sizes in prop::collection::vec(0usize..5, 1..8),
        absolute in prop::collection::vec(any::<bool>(), 8),
        top in prop::option::of(0u32..25),
    ) {
        let total: usize = sizes.iter().sum();
        let items: Vec<String> = (0..total).map(|i| format!("op-{i}")).collect();
        let mut options = ListOptions::default();
        if let Some(top) = top {
            options = options.with_top(top);
        }
        let mut p = pager(OperationKind::Update, ApiVersion::V2026_06_01, &options);
        let (mut seen, mut requests) = (Vec::new(), 0usize);
        while let Some(request) = p.next_request() {
            requests += 1;
            prop_assert!(requests <= sizes.len(), "more requests than pages");
            let response = serve(&items, &sizes, &absolute, &request);
            let got = p.handle_response(&response, now()).unwrap();
            seen.extend(got.iter().map(|i| i.operation_id().to_owned()));
        }
        let want = top.map_or(total, |t| total.min(t as usize));
        prop_assert_eq!(&seen[..], &items[..want]);
        // The pages needed: all of them without `top`, else up to the one that reaches it.
        let needed = match top {
            None => sizes.len(),
            Some(0) => 0,
            Some(t) => {
                let mut sum = 0;
                sizes
                    .iter()
                    .position(|s| { sum += s; sum >= t as usize })
                    .map_or(sizes.len(), |i| i + 1)
            }
        };
        prop_assert_eq!(requests, needed);
    }
}
