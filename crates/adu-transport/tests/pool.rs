//! `HyperTransport`'s HTTP/1.1 connections against loopback servers: what the request line
//! and `Host` look like, which connections are reused and which never are.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use adu_transport::{HttpTransport, HyperTransport, TransportErrorKind};
use support::{get, plain_http_transport, raw_server, read_head, Reply, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn transport() -> HyperTransport {
    plain_http_transport().build().unwrap()
}

/// What a [`keep_alive_server`] counted.
struct Counts {
    connections: Arc<AtomicUsize>,
    /// Connections the client closed.
    closed: Arc<AtomicUsize>,
}

impl Counts {
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }
}

/// A raw keep-alive server: on each connection it answers request after request with
/// `reply(n)`, `n` counting the requests over all connections, until the client closes it.
async fn keep_alive_server(
    reply: impl Fn(usize) -> &'static [u8] + Send + Sync + 'static,
) -> (SocketAddr, Counts) {
    let reply = Arc::new(reply);
    let served = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let seen_closed = closed.clone();
    let (addr, connections) = raw_server(move |mut stream| {
        let (reply, served, closed) = (reply.clone(), served.clone(), seen_closed.clone());
        async move {
            loop {
                if read_head(&mut stream).await.is_empty() {
                    closed.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                let answer = reply(served.fetch_add(1, Ordering::SeqCst));
                let _ = stream.write_all(answer).await;
            }
        }
    })
    .await;
    (
        addr,
        Counts {
            connections,
            closed,
        },
    )
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

/// A keep-alive server whose first answer's body is larger than the transport's cap: the
/// refused body is never taken for the next answer (hyper reads the rest of it before the
/// connection is reused, or closes the connection).
#[tokio::test]
async fn a_refused_body_does_not_leak_into_the_next_answer() {
    let server = Server::start(vec![
        Reply::new(200).body(vec![b'x'; 4096]),
        Reply::new(200).body("{}"),
    ])
    .await;
    let transport = plain_http_transport().max_body_bytes(1024).build().unwrap();
    let url = format!("{}/x", server.url());
    let error = transport.call(get(&url)).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::BodyTooLarge);
    for _ in 0..2 {
        let response = transport.call(get(&url)).await.unwrap();
        assert_eq!(response.body(), b"{}");
    }
    assert_eq!(server.requests(), 3);
}

/// A connection whose answer stalled mid-body (the try timed out) is never reused: the next
/// request gets a new connection and its own answer.
#[tokio::test]
async fn a_connection_whose_body_was_not_read_to_the_end_is_not_reused() {
    let (addr, connections) = raw_server(|mut stream| async move {
        let head = read_head(&mut stream).await;
        if head.starts_with(b"GET /stall") {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}")
                .await;
            // Holds the connection open, its body unfinished, until the client closes it.
            let _ = stream.read(&mut [0u8; 1]).await;
        } else {
            loop {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                    .await;
                if read_head(&mut stream).await.is_empty() {
                    return;
                }
            }
        }
    })
    .await;
    let transport = plain_http_transport()
        .max_concurrent_requests(Some(1))
        .build()
        .unwrap();
    let stalled = transport
        .call_with_timeout(
            get(&format!("http://{addr}/stall")),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    assert_eq!(stalled.kind(), TransportErrorKind::TimedOut);
    let response = transport
        .call(get(&format!("http://{addr}/ok")))
        .await
        .unwrap();
    assert_eq!(response.body(), b"{}");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

/// A server that answers one request per connection and then closes it, without saying so
/// (no `Connection: close`): the idle connection is dead by the next request. The paused
/// clock's sleep lets the client see the close first, with no wall-clock wait.
#[tokio::test(start_paused = true)]
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
        // The client sees the close before the next request.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
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

/// Requests to two origins keep one connection each.
#[tokio::test]
async fn below_the_cap_two_origins_keep_their_connections() {
    let a = Server::start(vec![Reply::new(200)]).await;
    let b = Server::start(vec![Reply::new(200)]).await;
    let transport = transport(); // the default cap, 64
    for _ in 0..5 {
        for url in [&a.url(), &b.url()] {
            transport.call(get(&format!("{url}/x"))).await.unwrap();
        }
    }
    assert_eq!((a.connections(), b.connections()), (1, 1));
}

/// A server that answers a large POST early (413) without reading its body and keeps the
/// connection open: hyper is still sending the body, so the connection cannot take another
/// request and must not go back to the pool, where the next request would wait on it.
#[tokio::test]
async fn a_connection_still_sending_a_request_body_is_not_pooled() {
    let (addr, connections) = raw_server(|mut stream| async move {
        let head = read_head(&mut stream).await;
        if head.starts_with(b"POST") {
            let _ = stream
                .write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 2\r\n\r\n{}")
                .await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        } else {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                .await;
            let mut buf = [0u8; 1024];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        }
    })
    .await;
    let transport = transport();
    let url = format!("http://{addr}/x");
    let post = http::Request::post(&url)
        .body(vec![b'x'; 16 << 20])
        .unwrap();
    assert_eq!(transport.call(post).await.unwrap().status(), 413);
    // Within a timeout far below the stalled connection's 30 s: the GET does not wait on it.
    let response = transport
        .call_with_timeout(get(&url), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

/// Only HTTP/1.0 and HTTP/1.1 requests are taken (HTTP/2 is negotiated, not asked for):
/// others are refused before anything is sent.
#[tokio::test]
async fn a_request_of_another_http_version_is_refused() {
    let server = Server::start(vec![Reply::new(200)]).await;
    for version in [
        http::Version::HTTP_09,
        http::Version::HTTP_2,
        http::Version::HTTP_3,
    ] {
        let mut request = get(&format!("{}/x", server.url()));
        *request.version_mut() = version;
        let error = transport().call(request).await.unwrap_err();
        assert_eq!(
            error.kind(),
            TransportErrorKind::InvalidRequest,
            "{version:?}"
        );
    }
    assert_eq!(server.connections(), 0);
    let mut request = get(&format!("{}/x", server.url()));
    *request.version_mut() = http::Version::HTTP_10;
    assert_eq!(transport().call(request).await.unwrap().status(), 200);
}

/// Answers that end their connection (`Connection: close`, HTTP/1.0 without keep-alive)
/// leave the next request a new connection, and nothing fails; the others keep theirs.
#[tokio::test]
async fn answers_that_close_the_connection_leave_the_next_request_a_new_one() {
    let (addr, counts) = keep_alive_server(|n| match n % 4 {
        0 => b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}",
        1 => b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n{}",
        2 => b"HTTP/1.1 204 No Content\r\n\r\n",
        _ => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
    })
    .await;
    let transport = transport();
    let url = format!("http://{addr}/x");
    for _ in 0..8 {
        transport
            .call_with_timeout(get(&url), Duration::from_secs(2))
            .await
            .unwrap();
    }
    // Per four answers: the close and the HTTP/1.0 one end their connections; the 204 and
    // the plain 200 share the next one. 8 requests, 5 connections.
    assert_eq!(counts.connections(), 5);
}

/// A 304 has no body whatever its Content-Length says: not refused as too large.
#[tokio::test]
async fn a_304_announcing_a_large_length_is_not_too_large() {
    let (addr, _) =
        keep_alive_server(|_| b"HTTP/1.1 304 Not Modified\r\ncontent-length: 999999999\r\n\r\n")
            .await;
    let transport = plain_http_transport().max_body_bytes(1024).build().unwrap();
    let response = transport
        .call(get(&format!("http://{addr}/x")))
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    assert!(response.body().is_empty());
}

/// An answer to HEAD has no body whatever its Content-Length says: not refused as too large,
/// and its connection is reused.
#[tokio::test]
async fn a_head_answer_announcing_a_large_length_is_not_too_large() {
    let (addr, counts) =
        keep_alive_server(|_| b"HTTP/1.1 200 OK\r\ncontent-length: 999999999\r\n\r\n").await;
    let transport = plain_http_transport().max_body_bytes(1024).build().unwrap();
    for _ in 0..2 {
        let request = http::Request::head(format!("http://{addr}/x"))
            .body(Vec::new())
            .unwrap();
        let response = transport.call(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.body().is_empty());
    }
    assert_eq!(counts.connections(), 1);
    // A GET announcing the same length is refused before its body is read.
    let error = transport
        .call(get(&format!("http://{addr}/x")))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::BodyTooLarge);
}

/// A transport left alone closes its idle connections once they expire: the server sees the
/// connection end without another request being made.
#[tokio::test(start_paused = true)]
async fn idle_connections_are_closed_when_they_expire_without_further_use() {
    let (addr, counts) =
        keep_alive_server(|_| b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
    let transport = plain_http_transport()
        .pool_idle_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let url = format!("http://{addr}/x");
    transport.call(get(&url)).await.unwrap();
    transport.call(get(&url)).await.unwrap();
    assert_eq!(counts.connections(), 1);
    assert_eq!(counts.closed(), 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(counts.closed(), 1, "the idle connection was not closed");
    // And the pool still works: a new connection.
    transport.call(get(&url)).await.unwrap();
    assert_eq!(counts.connections(), 2);
    // A transport that is dropped closes its idle connections at once.
    drop(transport);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(counts.closed(), 2);
}
