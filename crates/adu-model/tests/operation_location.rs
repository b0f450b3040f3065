//! Resolving `Operation-Location` values: relative forms resolve against the
//! endpoint with their query kept as is; other origins, fragments and garbage
//! are refused so no token goes anywhere else.

use adu_model::*;

fn endpoint() -> Endpoint {
    Endpoint::parse("contoso.api.adu.microsoft.com").unwrap()
}

#[test]
fn accepted_locations_resolve_to_the_endpoint() {
    let base = "https://contoso.api.adu.microsoft.com";
    let table: &[(&str, String)] = &[
        // The import call's relative form: the `?` stays a query separator,
        // never percent-encoded into the path.
        (
            "/deviceupdate/blue/updates/operations/e852b6a3?api-version=2",
            format!("{base}/deviceupdate/blue/updates/operations/e852b6a3?api-version=2"),
        ),
        (
            "/deviceUpdate/blue/updates/operations/e852b6a3?api-version=2022-10-01",
            format!("{base}/deviceUpdate/blue/updates/operations/e852b6a3?api-version=2022-10-01"),
        ),
        (
            "/deviceupdate/blue/v2/updates/operations/e852b6a3",
            format!("{base}/deviceupdate/blue/v2/updates/operations/e852b6a3"),
        ),
        // Already-encoded characters are kept as sent, not encoded twice.
        (
            "/deviceUpdate/blue/updates/operations/a%2Fb?api-version=2022-10-01&x=%20",
            format!("{base}/deviceUpdate/blue/updates/operations/a%2Fb?api-version=2022-10-01&x=%20"),
        ),
        // Absolute on the same origin, in any case and with the default port.
        (
            "https://contoso.api.adu.microsoft.com/deviceUpdate/blue/updates/operations/x?api-version=2022-10-01",
            format!("{base}/deviceUpdate/blue/updates/operations/x?api-version=2022-10-01"),
        ),
        (
            "HTTPS://Contoso.API.adu.microsoft.com:443/deviceUpdate/x",
            format!("{base}/deviceUpdate/x"),
        ),
        // Scheme-relative on the same host.
        (
            "//contoso.api.adu.microsoft.com/deviceUpdate/x?q=1",
            format!("{base}/deviceUpdate/x?q=1"),
        ),
        // A relative path without the leading slash, and surrounding spaces.
        ("deviceUpdate/x?q=1", format!("{base}/deviceUpdate/x?q=1")),
        (" \t/deviceUpdate/x \t", format!("{base}/deviceUpdate/x")),
    ];
    for (location, want) in table {
        let uri = resolve_operation_location(&endpoint(), location)
            .unwrap_or_else(|e| panic!("{location:?} should resolve: {e}"));
        assert_eq!(&uri.to_string(), want, "{location:?}");
        let request =
            build_operation_location_request(&endpoint(), location, Some("\"e\"")).unwrap();
        assert_eq!(&request.uri().to_string(), want);
        assert_eq!(request.headers()["if-none-match"], "\"e\"");
        assert_eq!(request.headers()["accept"], "application/json");
    }
}

#[test]
fn query_is_kept_exactly() {
    let uri = resolve_operation_location(
        &endpoint(),
        "/deviceupdate/blue/updates/operations/e852?api-version=2&b=a%3Fb",
    )
    .unwrap();
    assert_eq!(uri.path(), "/deviceupdate/blue/updates/operations/e852");
    assert_eq!(uri.query(), Some("api-version=2&b=a%3Fb"));
    assert!(!uri.path().contains("%3F"));
}

#[test]
fn loopback_endpoints_keep_their_port_and_scheme() {
    let e = Endpoint::parse("http://127.0.0.1:8080").unwrap();
    let table = [
        ("/x?y=1", Ok("http://127.0.0.1:8080/x?y=1")),
        ("http://127.0.0.1:8080/x", Ok("http://127.0.0.1:8080/x")),
        ("//127.0.0.1:8080/x", Ok("http://127.0.0.1:8080/x")),
        ("http://127.0.0.1/x", Err("port")),
        ("http://127.0.0.1:8081/x", Err("port")),
        ("https://127.0.0.1:8080/x", Err("scheme")),
        ("http://localhost:8080/x", Err("host")),
    ];
    for (location, want) in table {
        match (resolve_operation_location(&e, location), want) {
            (Ok(uri), Ok(want)) => assert_eq!(uri.to_string(), want, "{location}"),
            (Err(Error::ForeignOperationLocation { endpoint, .. }), Err(_)) => {
                assert_eq!(endpoint, "http://127.0.0.1:8080");
            }
            (got, _) => panic!("{location}: unexpected {got:?}"),
        }
    }
    let v6 = Endpoint::parse("http://[::1]:9000").unwrap();
    assert_eq!(
        resolve_operation_location(&v6, "http://[::1]:9000/x")
            .unwrap()
            .to_string(),
        "http://[::1]:9000/x"
    );
    assert!(resolve_operation_location(&v6, "http://[::2]:9000/x").is_err());
}

#[test]
fn other_origins_are_refused() {
    let table = [
        "https://evil.example/deviceUpdate/x",
        "//evil.example/deviceUpdate/x",
        "http://contoso.api.adu.microsoft.com/deviceUpdate/x",
        "https://contoso.api.adu.microsoft.com:8443/deviceUpdate/x",
        "https://contoso.api.adu.microsoft.com.evil.example/x",
        "https://api.adu.microsoft.com/x",
        "ftp://contoso.api.adu.microsoft.com/x",
        "https://contoso.api.adu.microsoft.com./x",
    ];
    for location in table {
        let err = resolve_operation_location(&endpoint(), location).unwrap_err();
        assert!(
            matches!(err, Error::ForeignOperationLocation { .. }),
            "{location}: {err:?}"
        );
        assert!(err.is_input_error());
        let shown = err.to_string();
        assert!(
            shown.contains("https://contoso.api.adu.microsoft.com"),
            "{shown}"
        );
        assert!(
            build_operation_location_request(&endpoint(), location, None).is_err(),
            "{location}"
        );
    }
}

#[test]
fn fragments_credentials_and_garbage_are_refused() {
    let table = [
        "",
        "   ",
        "/deviceUpdate/x#frag",
        "https://contoso.api.adu.microsoft.com/x#",
        "https://user:pw@contoso.api.adu.microsoft.com/x",
        "https://@contoso.api.adu.microsoft.com/x",
        "//user@contoso.api.adu.microsoft.com/x",
        "/device Update/x",
        "/deviceUpdate/x\r\nHost: evil.example",
        "/\\evil.example/x",
        "\\\\evil.example\\x",
        "/deviceUpdate/\u{0}x",
        "https://",
        "https:///x",
        "http://[::1/x",
        "javascript:alert(1)",
        "mailto:someone@contoso.api.adu.microsoft.com",
        "https://contoso.api.adu.microsoft.com:99999/x",
        "/x\u{7f}",
    ];
    for location in table {
        let result = resolve_operation_location(&endpoint(), location);
        let err = result.expect_err(location);
        assert!(
            matches!(
                err,
                Error::InvalidOperationLocation { .. } | Error::ForeignOperationLocation { .. }
            ),
            "{location:?}: {err:?}"
        );
        assert!(err.is_input_error());
    }
}

#[test]
fn refusal_messages_are_bounded() {
    let long = format!("/x#{}", "a".repeat(10_000));
    let err = resolve_operation_location(&endpoint(), &long).unwrap_err();
    assert!(err.to_string().len() < 500, "{}", err.to_string().len());
}

#[test]
fn location_info_reads_the_version_and_kind() {
    use OperationKind::{Device, Update};
    let table = [
        (
            "/deviceupdate/blue/v2/updates/operations/x",
            (ApiVersion::V2, Update),
        ),
        (
            "https://h/deviceupdate/blue/v2/updates/operations/x",
            (ApiVersion::V2, Update),
        ),
        // A legacy path is legacy whatever its query says.
        (
            "/deviceupdate/blue/v2/updates/operations/x?api-version=2",
            (ApiVersion::V2, Update),
        ),
        // The service's recorded import answer (see service-facts): `api-version=2` on a
        // current path is read as 2022-10-01.
        (
            "/deviceupdate/blue/updates/operations/e852b6a3?api-version=2",
            (ApiVersion::V2022_10_01, Update),
        ),
        (
            "/deviceUpdate/blue/updates/operations/x?api-version=2022-10-01",
            (ApiVersion::V2022_10_01, Update),
        ),
        (
            "/deviceUpdate/blue/updates/operations/x?api-version=2026-06-01",
            (ApiVersion::V2026_06_01, Update),
        ),
        (
            "/deviceUpdate/blue/management/operations/x?api-version=2026-06-01",
            (ApiVersion::V2026_06_01, Device),
        ),
        (
            "https://h/deviceUpdate/blue/management/operations/x?top=1&api-version=2022-10-01",
            (ApiVersion::V2022_10_01, Device),
        ),
        // The service's own locations have been seen with `deviceupdate` in lower case.
        (
            "/deviceupdate/blue/updates/operations/x?api-version=2022-10-01",
            (ApiVersion::V2022_10_01, Update),
        ),
        (
            " https://h/deviceupdate/blue/v2/updates/operations/x",
            (ApiVersion::V2, Update),
        ),
    ];
    for (location, want) in table {
        assert_eq!(location_info(location).unwrap(), want, "{location}");
    }
}

#[test]
fn location_info_refuses_what_it_cannot_read_as_one_version() {
    let unknown = [
        "/deviceupdate/blue/updates/operations/x?api-version=3",
        "/deviceUpdate/blue/updates/operations/x?api-version=2099-01-01",
        // The legacy API names itself in its paths, never in the query.
        "/deviceUpdate/blue/updates/operations/x?api-version=v2",
    ];
    for location in unknown {
        let e = location_info(location).unwrap_err();
        assert!(
            matches!(&e, Error::UnknownApiVersion { version, .. } if location.ends_with(version.as_str())),
            "{location}: {e:?}"
        );
        assert!(e.is_input_error());
        assert!(e.to_string().contains("2026-06-01, 2022-10-01, v2"), "{e}");
    }
    let invalid = [
        "",
        "/deviceUpdate/blue/updates/operations/x",
        // A legacy-looking query is not a legacy path.
        "https://h?q=/deviceupdate/blue/v2/x",
        "/deviceupdate/blue/v2/x",
        // Found by the `api_version` fuzz target: a `://` inside a path is no scheme's.
        "deviceupdate/blue/v2/x://[::1]:84/y",
        "/deviceupdate/blue/v2/x://h/y",
        "//h/deviceupdate/blue/v2/x://h2/y",
        // Not one operation's path in the version named.
        "/deviceUpdate/blue/updates/operations?api-version=2022-10-01",
        "/deviceUpdate/blue/updates/operations/x/y?api-version=2022-10-01",
        "/deviceUpdate/blue/other/operations/x?api-version=2022-10-01",
        "/deviceupdate/blue/v2/management/operations/x",
        "not a uri",
    ];
    for location in invalid {
        let e = location_info(location).unwrap_err();
        assert!(
            matches!(e, Error::InvalidOperationLocation { .. }),
            "{location}: {e:?}"
        );
        assert!(e.is_input_error());
    }
    let secret =
        location_info("https://me:hunter2@h/deviceUpdate/b/updates/operations/x?api-version=1")
            .unwrap_err()
            .to_string();
    assert!(!secret.contains("hunter2"), "{secret}");
}

#[test]
fn if_none_match_values_are_checked() {
    let e = endpoint();
    for bad in ["a\nb", "é", "\u{7f}", "a\tb"] {
        assert!(
            matches!(
                build_operation_location_request(&e, "/x", Some(bad)),
                Err(Error::InvalidETag)
            ),
            "{bad:?}"
        );
    }
    for good in ["\"abc\"", "W/\"abc\"", "*", "\"a b\""] {
        let req = build_operation_location_request(&e, "/x", Some(good)).unwrap();
        assert_eq!(req.headers()["if-none-match"], good);
    }
}

#[test]
fn same_origin_refuses_ports_that_are_not_numbers_it_can_read() {
    let e = endpoint();
    for uri in [
        "https://contoso.api.adu.microsoft.com:99999/x",
        "https://contoso.api.adu.microsoft.com:65979/x",
        "https://contoso.api.adu.microsoft.com:4430/x",
    ] {
        assert!(!e.same_origin(&uri.parse().unwrap()), "{uri}");
    }
    for uri in [
        "https://contoso.api.adu.microsoft.com/x",
        "https://contoso.api.adu.microsoft.com:443/x",
        // RFC 3986 §3.2.3: an empty port means the default.
        "https://contoso.api.adu.microsoft.com:/x",
    ] {
        assert!(e.same_origin(&uri.parse().unwrap()), "{uri}");
    }
}

#[test]
fn endpoints_table() {
    let ok = [
        (
            "contoso.api.adu.microsoft.com",
            "https://contoso.api.adu.microsoft.com",
        ),
        (
            "https://contoso.api.adu.microsoft.com:8443/",
            "https://contoso.api.adu.microsoft.com:8443",
        ),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]", "http://[::1]"),
        ("http://127.0.0.2:80", "http://127.0.0.2"),
    ];
    for (input, base) in ok {
        let e = Endpoint::parse(input).unwrap_or_else(|err| panic!("{input}: {err}"));
        assert_eq!(e.base_url(), base);
        assert_eq!(e.to_string(), base);
        assert_eq!(input.parse::<Endpoint>().unwrap(), e);
    }
    let refused = [
        ".",
        "..",
        "a.",
        ".a",
        "http://.",
        "http://0.0.0.0",
        "http://[::ffff:127.0.0.1]",
        "http://localhost.evil.example",
        // A name under `.localhost` may be sent to DNS, whatever RFC 6761 asks of resolvers.
        "http://emulator.localhost",
        "http://evil.LOCALHOST:8080",
        "http://127.0.0.1.nip.example",
        "https://[fe80::1%25eth0]",
        "https://contoso.api.adu.microsoft.com:99999",
        "https://contoso.api.adu.microsoft.com/deviceUpdate",
        "https://user@contoso.api.adu.microsoft.com",
        "contoso .api",
        "contoso\u{0}.api",
        "wss://contoso.api.adu.microsoft.com",
    ];
    for input in refused {
        let err = Endpoint::parse(input).unwrap_err();
        assert!(matches!(err, Error::InvalidEndpoint { .. }), "{input}");
        assert!(err.to_string().starts_with("invalid endpoint"), "{err}");
    }
}

#[test]
fn a_password_in_an_endpoint_or_location_is_never_echoed() {
    let err = Endpoint::parse("https://me:hunter2-secret@contoso.example").unwrap_err();
    let (shown, debug) = (err.to_string(), format!("{err:?}"));
    assert!(
        !shown.contains("hunter2") && !debug.contains("hunter2"),
        "{shown} {debug}"
    );
    assert!(shown.contains("***@contoso.example"), "{shown}");

    let endpoint = Endpoint::parse("contoso.example").unwrap();
    let err = resolve_operation_location(&endpoint, "https://me:hunter2-secret@contoso.example/x")
        .unwrap_err();
    let (shown, debug) = (err.to_string(), format!("{err:?}"));
    assert!(
        !shown.contains("hunter2") && !debug.contains("hunter2"),
        "{shown} {debug}"
    );
}

#[test]
fn a_password_with_a_slash_in_a_foreign_location_is_never_echoed() {
    // The `/` ends the authority where a URI parser reads it, so the origin it finds is the
    // user name and the start of the password.
    let endpoint = Endpoint::parse("contoso.example").unwrap();
    let err = resolve_operation_location(&endpoint, "https://me:hunter2/secret@evil.example/x")
        .unwrap_err();
    assert!(
        matches!(err, Error::ForeignOperationLocation { .. }),
        "{err:?}"
    );
    let (shown, debug) = (err.to_string(), format!("{err:?}"));
    assert!(
        !shown.contains("hunter2") && !debug.contains("hunter2"),
        "{shown} {debug}"
    );
    assert!(!shown.contains("me:"), "{shown}");
}
