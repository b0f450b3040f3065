//! `HyperTransport` against loopback servers.

mod support;

use std::time::Duration;

use adu_transport::{HttpTransport, HyperTransport, TransportErrorKind};
use support::*;

fn plain() -> HyperTransport {
    plain_http_transport()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test]
async fn sends_the_request_and_reads_the_response_over_one_pooled_connection() {
    let server = Server::start(vec![
        Reply::json(200, r#"{"ok":true}"#).header("etag", "\"1\"")
    ])
    .await;
    let transport = plain();
    for _ in 0..3 {
        let mut request = get(&format!("{}/a?b=c", server.url()));
        request
            .headers_mut()
            .insert("x-test", http::HeaderValue::from_static("yes"));
        let response = transport.call(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body(), br#"{"ok":true}"#);
        assert_eq!(response.headers()["etag"], "\"1\"");
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].uri.path_and_query().unwrap().as_str(), "/a?b=c");
    assert_eq!(seen[0].header("x-test"), Some("yes"));
    assert_eq!(
        seen[0].header("host"),
        Some(server.addr.to_string().as_str())
    );
    assert_eq!(seen[0].version, http::Version::HTTP_11);
    assert_eq!(server.connections(), 1, "the connection is reused");
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let target = Server::start(vec![Reply::new(200)]).await;
    let server = Server::start(vec![
        Reply::new(302).header("location", &format!("{}/elsewhere", target.url()))
    ])
    .await;
    let response = plain()
        .call(get(&format!("{}/x", server.url())))
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(target.requests(), 0);
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused() {
    let server = Server::start(vec![Reply::json(200, &"x".repeat(2048))]).await;
    let transport = plain_http_transport().max_body_bytes(1024).build().unwrap();
    let error = transport
        .call(get(&format!("{}/big", server.url())))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::BodyTooLarge);
    // Exactly at the cap is fine.
    let exact = Server::start(vec![Reply::json(200, &"x".repeat(1024))]).await;
    let response = transport.call(get(&exact.url())).await.unwrap();
    assert_eq!(response.body().len(), 1024);
}

#[tokio::test]
async fn a_chunked_body_over_the_cap_is_refused() {
    // No content-length: the cap must hold while streaming.
    let (addr, _) = raw_server(|mut stream| async move {
        use tokio::io::AsyncWriteExt;
        let _ = read_head(&mut stream).await;
        let mut out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..4 {
            out.extend_from_slice(b"200\r\n");
            out.extend_from_slice(&[b'y'; 0x200]);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        let _ = stream.write_all(&out).await;
    })
    .await;
    let transport = plain_http_transport().max_body_bytes(1500).build().unwrap();
    let error = transport
        .call(get(&format!("http://{addr}/chunked")))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::BodyTooLarge);
}

#[tokio::test]
async fn a_server_stalling_mid_body_times_out() {
    let (addr, _) = raw_server(stall_mid_body).await;
    let transport = plain_http_transport()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = transport
        .call(get(&format!("http://{addr}/stall")))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::TimedOut);
}

#[tokio::test]
async fn a_connection_closed_after_the_request_is_a_connection_error() {
    let (addr, _) = raw_server(reset_after_request).await;
    let error = plain()
        .call(get(&format!("http://{addr}/reset")))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Connection, "{error:?}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = plain()
        .call(get(&format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Connect, "{error:?}");
}

#[tokio::test]
async fn relative_uris_are_refused() {
    let error = plain().call(get("/relative")).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::InvalidRequest);
}

#[tokio::test]
async fn tls_with_a_self_signed_root_added_from_pem() {
    let (pem, der, key) = self_signed();
    let addr = tls_server(der, key, Reply::json(200, r#"{"tls":true}"#)).await;
    let transport = trusting(&pem).build().unwrap();
    let response = transport
        .call(get(&format!("https://localhost:{}/secure", addr.port())))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), br#"{"tls":true}"#);
}

#[tokio::test]
async fn tls_with_a_pem_file() {
    let (pem, der, key) = self_signed();
    let addr = tls_server(der, key, Reply::new(204)).await;
    let path = std::env::temp_dir().join(format!("adu-transport-test-{}.pem", std::process::id()));
    std::fs::write(&path, pem).unwrap();
    let built = HyperTransport::builder()
        .native_roots(false)
        .add_root_certificates_pem_file(&path);
    std::fs::remove_file(&path).unwrap();
    let transport = built.unwrap().build().unwrap();
    let response = transport
        .call(get(&format!("https://127.0.0.1:{}/", addr.port())))
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn tls_with_an_untrusted_certificate_fails_as_tls() {
    let (_, der, key) = self_signed();
    let (other_pem, _, _) = self_signed();
    let addr = tls_server(der, key, Reply::new(200)).await;
    let transport = HyperTransport::builder()
        .native_roots(false)
        .add_root_certificates_pem(other_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let error = transport
        .call(get(&format!("https://localhost:{}/", addr.port())))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Tls, "{error:?}");
    assert!(!error.is_transient());
}

#[test]
fn bad_root_configuration_is_reported() {
    let error = HyperTransport::builder()
        .add_root_certificates_pem(b"not a certificate")
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::InvalidConfiguration);
    let error = HyperTransport::builder()
        .native_roots(false)
        .webpki_roots(false)
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::InvalidConfiguration);
    assert!(error.to_string().contains("no trusted root"));
}

#[tokio::test]
async fn token_requests_go_through_the_oauth2_seam_over_http1() {
    let server = Server::start(vec![Reply::json(
        200,
        r#"{"access_token":"abc","token_type":"Bearer","expires_in":3599}"#,
    )])
    .await;
    let transport = plain();
    let request = http::Request::post(format!("{}/tenant/oauth2/v2.0/token", server.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"grant_type=client_credentials".to_vec())
        .unwrap();
    let response = oauth2::AsyncHttpClient::call(&transport, request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = server.seen();
    assert_eq!(seen[0].method, http::Method::POST);
    assert_eq!(seen[0].version, http::Version::HTTP_11);
    assert_eq!(seen[0].body, b"grant_type=client_credentials");

    // And it is usable wherever adu-auth wants an HTTP client.
    fn is_auth_http_client<T: adu_auth::HttpClient>(_: &T) {}
    is_auth_http_client(&transport);
}

#[tokio::test]
async fn closures_are_transports() {
    let transport = |request: http::Request<Vec<u8>>| async move {
        Ok::<_, adu_transport::TransportError>(
            http::Response::builder()
                .status(200)
                .body(request.uri().path().as_bytes().to_vec())
                .unwrap(),
        )
    };
    let response = HttpTransport::call(&transport, get("https://example.invalid/echo"))
        .await
        .unwrap();
    assert_eq!(response.body(), b"/echo");
}

#[tokio::test]
async fn call_with_timeout_uses_the_earlier_of_the_two_deadlines() {
    let (addr, _) = raw_server(never_answer).await;
    let url = format!("http://{addr}/stall");
    let short = Duration::from_millis(200);
    let long = Duration::from_secs(20);
    let builder = plain_http_transport();
    let long_own = builder.clone().timeout(long).build().unwrap();
    let short_own = builder.timeout(short).build().unwrap();
    for (transport, timeout) in [(&long_own, short), (&short_own, long)] {
        let error = transport
            .call_with_timeout(get(&url), timeout)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::TimedOut);
        assert_eq!(
            error.to_string(),
            format!("no complete response within {short:?}")
        );
    }
}

/// A call's future can be made outside any runtime and run inside one later: the transport
/// arms its timer when the future is first polled, not when it is made.
#[test]
fn a_call_made_outside_a_runtime_runs_inside_one() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(Server::start(vec![Reply::json(200, "{}")]));
    let transport = plain();
    let call = transport.call(get(&format!("{}/x", server.url())));
    let response = rt.block_on(call).unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.seen().len(), 1);
}

/// A call that timed out gives back its in-flight slot (and closes its half-read connection)
/// when it ends, not when its caller drops the finished future: with one slot, the next call
/// goes through while the first future is still kept.
#[tokio::test]
async fn a_timed_out_call_frees_its_slot_though_its_future_is_kept() {
    let (stalling, _) = raw_server(stall_mid_body).await;
    let answering = Server::start(vec![Reply::json(200, "{}")]).await;
    let transport = plain_http_transport()
        .max_concurrent_requests(Some(1))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut first = transport.call(get(&format!("http://{stalling}/stall")));
    let error = (&mut first).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::TimedOut);
    // `first` is still alive here.
    let second = transport
        .call(get(&format!("{}/ok", answering.url())))
        .await
        .expect("the slot was given back when the first call timed out");
    assert_eq!(second.status(), 200);
    drop(first);
}

#[tokio::test(start_paused = true)]
async fn a_custom_transport_used_for_tokens_is_bounded_by_the_default_timeout() {
    use oauth2::AsyncHttpClient as _;
    // A custom transport that never answers: the adapter's timer ends the token request.
    let stalled = |_request: http::Request<Vec<u8>>| async move {
        std::future::pending::<Result<http::Response<Vec<u8>>, adu_transport::TransportError>>()
            .await
    };
    let client = adu_transport::OAuth2HttpClient(std::sync::Arc::new(stalled));
    let request = http::Request::post("https://login.example.invalid/t/oauth2/v2.0/token")
        .body(Vec::new())
        .unwrap();
    // On the paused clock an hour passes at once; without the adapter's timer, this one fires.
    let error = tokio::time::timeout(Duration::from_secs(3600), client.call(request))
        .await
        .expect("the token request has a timeout of its own")
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::TimedOut);
}
