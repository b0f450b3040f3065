//! The device authorization grant (RFC 8628) against a scripted token endpoint: the request
//! shapes, `authorization_pending` and `slow_down` (the pause grows by five seconds), a
//! refresh token kept, and a declined or expired sign-in refused with the device code never
//! shown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use adu_auth::{
    http, Authority, DeviceCodeFlow, HttpClientError, SharedHttpClient, TokenCredential,
};

type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A token endpoint answering the device code request, then each poll in turn with `polls`.
fn endpoint(polls: Vec<(u16, &'static str)>) -> (Seen, SharedHttpClient) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let polls = Arc::new(Mutex::new(polls.into_iter()));
    let http: SharedHttpClient = Arc::new(move |r: http::Request<Vec<u8>>| {
        let uri = r.uri().to_string();
        let body = String::from_utf8_lossy(r.body()).into_owned();
        record.lock().unwrap().push((uri.clone(), body));
        let (status, json) = if uri.ends_with("/devicecode") {
            (
                200,
                r#"{"device_code":"dc-secret-123","user_code":"ABCD-EFGH","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":1,"message":"To sign in, ..."}"#,
            )
        } else {
            polls
                .lock()
                .unwrap()
                .next()
                .expect("no more polls expected")
        };
        async move {
            Ok::<_, HttpClientError>(
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(json.as_bytes().to_vec())
                    .unwrap(),
            )
        }
    });
    (seen, http)
}

const PENDING: (u16, &str) = (
    400,
    r#"{"error":"authorization_pending","error_description":"AADSTS70016: pending"}"#,
);

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

#[test]
fn polls_while_pending_slows_down_when_asked_and_keeps_the_refresh_token() {
    let (seen, http) = endpoint(vec![
        PENDING,
        (400, r#"{"error":"slow_down"}"#),
        PENDING,
        (
            200,
            r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1"}"#,
        ),
    ]);
    let flow = DeviceCodeFlow::new(Authority::new("contoso").unwrap(), "client-1", http).unwrap();
    let code = block_on(flow.start(&["https://api.adu.microsoft.com/.default"])).unwrap();
    assert_eq!(code.user_code(), "ABCD-EFGH");
    assert_eq!(code.verification_uri(), "https://microsoft.com/devicelogin");
    assert_eq!(code.interval(), Duration::from_secs(1));
    assert!(!format!("{code:?}").contains("dc-secret"));
    let pauses = Arc::new(Mutex::new(Vec::new()));
    let recorded = pauses.clone();
    let sign_in = block_on(flow.finish(code, move |pause| {
        recorded.lock().unwrap().push(pause);
        Box::pin(async {})
    }))
    .unwrap();
    assert_eq!(sign_in.refresh_token().unwrap().secret(), "rt-1");
    let token = block_on(sign_in.get_token(&["https://api.adu.microsoft.com/.default"])).unwrap();
    assert_eq!(token.secret(), "at-1");
    let secs: Vec<u64> = pauses.lock().unwrap().iter().map(|d| d.as_secs()).collect();
    assert_eq!(secs, [1, 6, 6], "slow_down adds five seconds");

    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0].0,
        "https://login.microsoftonline.com/contoso/oauth2/v2.0/devicecode"
    );
    assert!(seen[0].1.contains("client_id=client-1"), "{}", seen[0].1);
    assert!(seen[0].1.contains("offline_access"), "{}", seen[0].1);
    assert_eq!(seen.len(), 5);
    for (uri, form) in &seen[1..] {
        assert_eq!(
            uri,
            "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
        );
        assert!(
            form.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"),
            "{form}"
        );
        assert!(form.contains("device_code=dc-secret-123"), "{form}");
    }
}

#[test]
fn a_declined_or_expired_sign_in_is_refused_without_the_device_code() {
    for (answer, code) in [
        (
            r#"{"error":"authorization_declined","error_description":"AADSTS70000: declined dc-secret-123"}"#,
            "authorization_declined",
        ),
        (
            r#"{"error":"expired_token","error_description":"AADSTS70020: expired"}"#,
            "expired_token",
        ),
    ] {
        let (_, http) = endpoint(vec![PENDING, (400, answer)]);
        let flow = DeviceCodeFlow::new(Authority::new("contoso").unwrap(), "c", http).unwrap();
        let started = block_on(flow.start(&["s/.default"])).unwrap();
        let error = block_on(flow.finish(started, |_| Box::pin(async {}))).unwrap_err();
        assert_eq!(error.error_code(), Some(code));
        assert_eq!(error.status(), Some(400));
        assert!(
            !format!("{error} {error:?}").contains("dc-secret-123"),
            "{error:?}"
        );
    }
}

#[test]
fn v1_endpoints_are_refused() {
    let (_, http) = endpoint(vec![]);
    let authority = Authority::new("contoso")
        .unwrap()
        .with_version(adu_auth::EndpointVersion::V1);
    assert!(DeviceCodeFlow::new(authority, "c", http).is_err());
}

#[test]
fn an_interval_of_more_than_minutes_is_refused_before_any_poll() {
    // Polled, this interval would overflow (a panic) when `slow_down` adds five seconds.
    let polls = Arc::new(Mutex::new(0));
    let counted = polls.clone();
    let http: SharedHttpClient = Arc::new(move |r: http::Request<Vec<u8>>| {
        let device = r.uri().path().ends_with("/devicecode");
        let (status, body) = match device {
            true => (
                200,
                format!(
                    r#"{{"device_code":"dc-secret-123","user_code":"U","verification_uri":"https://v","expires_in":900,"interval":{}}}"#,
                    u64::MAX
                ),
            ),
            false => {
                *counted.lock().unwrap() += 1;
                (400, r#"{"error":"slow_down"}"#.to_owned())
            }
        };
        async move {
            Ok::<_, HttpClientError>(
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(body.into_bytes())
                    .unwrap(),
            )
        }
    });
    let flow = DeviceCodeFlow::new(Authority::new("contoso").unwrap(), "c", http).unwrap();
    let error = block_on(flow.start(&["s/.default"])).unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("between polls"), "{shown}");
    assert!(!shown.contains("dc-secret-123"), "{shown}");
    assert_eq!(error.status(), Some(200));
    assert_eq!(*polls.lock().unwrap(), 0);
}
