//! `HyperTransport`'s HTTP/1.1 connection pool against loopback servers: what the request
//! line and `Host` look like, which connections are reused and which never are.

mod support;

use std::time::Duration;

use adu_transport::{HttpTransport, HyperTransport, TransportErrorKind};
use support::{plain_http_transport, raw_server, read_head, Reply, Server};
use tokio::io::AsyncWriteExt;

fn get(url: &str) -> http::Request<Vec<u8>> {
    http::Request::get(url).body(Vec::new()).unwrap()
}

fn transport() -> HyperTransport {
    plain_http_transport().build().unwrap()
}

#[tokio::test]
async fn the_request_line_has_the_path_and_query_and_host_has_the_authority() {
    let server = Server::start(vec![Reply::new(200).body("{}")]).await;
    let response = transport()
        .call(get(&format!("{}/a/b?api-version=1", server.url())))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = &server.seen()[0];
    // hyper's server reports an origin-form request target as a URI with only a path.
    assert_eq!(seen.uri, "/a/b?api-version=1");
    assert!(seen.uri.authority().is_none());
    assert_eq!(seen.header("host"), Some(&*server.addr.to_string()));
    assert_eq!(seen.version, http::Version::HTTP_11);
}

#[tokio::test]
async fn a_host_header_given_by_the_caller_is_kept() {
    let server = Server::start(vec![Reply::new(200)]).await;
    let mut request = get(&format!("{}/x", server.url()));
    request
        .headers_mut()
        .insert(http::header::HOST, "contoso.example".parse().unwrap());
    transport().call(request).await.unwrap();
    assert_eq!(server.seen()[0].header("host"), Some("contoso.example"));
}

#[tokio::test]
async fn an_uncapped_transport_keeps_a_connection_per_origin() {
    let transport = plain_http_transport()
        .max_concurrent_requests(None)
        .build()
        .unwrap();
    let a = Server::start(vec![Reply::new(200)]).await;
    let b = Server::start(vec![Reply::new(200)]).await;
    for url in [&a.url(), &b.url(), &a.url(), &b.url()] {
        transport.call(get(&format!("{url}/x"))).await.unwrap();
    }
    assert_eq!((a.requests(), b.requests()), (2, 2));
    assert_eq!((a.connections(), b.connections()), (1, 1));
}

#[tokio::test]
async fn a_capped_transport_never_holds_more_connections_than_slots() {
    let a = Server::start(vec![Reply::new(200)]).await;
    let b = Server::start(vec![Reply::new(200)]).await;
    let transport = plain_http_transport()
        .max_concurrent_requests(Some(1))
        .build()
        .unwrap();
    // Alternating origins through one slot: each new connection closes the other origin's
    // idle one, so each request finds its origin's connection gone.
    for url in [&a.url(), &b.url(), &a.url(), &b.url()] {
        transport.call(get(&format!("{url}/x"))).await.unwrap();
    }
    assert_eq!((a.connections(), b.connections()), (2, 2));
}

/// A keep-alive server whose first answer's body is larger than the transport's cap.
#[tokio::test]
async fn a_connection_whose_body_was_not_read_to_the_end_is_not_reused() {
    let server = Server::start(vec![
        Reply::new(200).body(vec![b'x'; 4096]),
        Reply::new(200).body("{}"),
    ])
    .await;
    let transport = plain_http_transport().max_body_bytes(1024).build().unwrap();
    let url = format!("{}/x", server.url());
    let error = transport.call(get(&url)).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::BodyTooLarge);
    let response = transport.call(get(&url)).await.unwrap();
    assert_eq!(response.body(), b"{}");
    assert_eq!(server.connections(), 2);
    // A whole body leaves the connection for the next request.
    transport.call(get(&url)).await.unwrap();
    assert_eq!(server.connections(), 2);
}

/// A server that answers one request per connection and then closes it, without saying so
/// (no `Connection: close`): the idle connection is dead by the next request.
#[tokio::test]
async fn a_connection_closed_by_the_server_while_idle_is_replaced() {
    let (addr, connections) = raw_server(|mut stream| async move {
        read_head(&mut stream).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            .await;
        let _ = stream.shutdown().await;
    })
    .await;
    let transport = transport();
    let url = format!("http://{addr}/x");
    for _ in 0..3 {
        let response = transport.call(get(&url)).await.unwrap();
        assert_eq!(response.body(), b"{}");
        // Time for the client to see the close before the next request.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test]
async fn connections_idle_longer_than_the_idle_timeout_are_not_reused() {
    let server = Server::start(vec![Reply::new(200)]).await;
    let transport = plain_http_transport()
        .pool_idle_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let url = format!("{}/x", server.url());
    transport.call(get(&url)).await.unwrap();
    transport.call(get(&url)).await.unwrap();
    assert_eq!(server.connections(), 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    transport.call(get(&url)).await.unwrap();
    assert_eq!(server.connections(), 2);
}
