//! `HyperTransportBuilder::max_concurrent_requests` against a loopback server that counts
//! the requests it holds at once.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adu_transport::{HttpTransport, HyperTransport};
use support::plain_http_transport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Barrier;

/// What the server saw.
#[derive(Default)]
struct Counters {
    connections: AtomicUsize,
    requests: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A keep-alive HTTP/1.1 server on loopback. Each request waits at `barrier` before it is
/// answered, so responses go out in groups of the barrier's size: a request arriving while a
/// group is held is counted as in flight at the same time.
async fn start(barrier_size: usize) -> (String, Arc<Counters>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    let counters = Arc::new(Counters::default());
    let barrier = Arc::new(Barrier::new(barrier_size));
    let c = counters.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, c.clone(), barrier.clone()));
        }
    });
    (url, counters)
}

async fn serve(mut stream: TcpStream, counters: Arc<Counters>, barrier: Arc<Barrier>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        // The client sends GETs without a body: a request ends with an empty line.
        let end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        buffer.drain(..end);
        counters.requests.fetch_add(1, Ordering::SeqCst);
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
        barrier.wait().await;
        counters.in_flight.fetch_sub(1, Ordering::SeqCst);
        let reply =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        if stream.write_all(reply).await.is_err() {
            return;
        }
    }
}

fn transport(cap: Option<usize>) -> HyperTransport {
    plain_http_transport()
        .timeout(Duration::from_secs(20))
        .max_concurrent_requests(cap)
        .build()
        .unwrap()
}

/// Sends `count` GETs at once and checks they all succeed.
async fn send_all(transport: &HyperTransport, url: &str, count: usize) {
    let mut tasks = Vec::new();
    for _ in 0..count {
        let transport = transport.clone();
        let request = http::Request::get(url).body(Vec::new()).unwrap();
        tasks.push(tokio::spawn(async move { transport.call(request).await }));
    }
    for task in tasks {
        let response = task.await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body(), b"{}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_of_two_keeps_two_requests_and_connections_in_flight() {
    let (url, counters) = start(2).await;
    let transport = transport(Some(2));
    send_all(&transport, &url, 8).await;
    assert_eq!(counters.requests.load(Ordering::SeqCst), 8);
    // The barrier only lets a pair through, so two were held at once: never more.
    assert_eq!(counters.max_in_flight.load(Ordering::SeqCst), 2);
    // A request takes its slot before it looks for a connection, and a small answer read to
    // its end leaves the connection idle at once: the first pair's two carry every request.
    assert_eq!(counters.connections.load(Ordering::SeqCst), 2);
}

/// Far more requests than the cap, all at once: the connections stay near the cap (at most
/// four times it, the bound `cargo xtask bench` holds 10,000 waits to), because each request
/// takes its slot before it looks for a connection and the pool keeps at most `cap` idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_stay_near_the_cap_under_load() {
    let (url, counters) = start(1).await;
    let transport = transport(Some(4));
    send_all(&transport, &url, 2_000).await;
    assert_eq!(counters.requests.load(Ordering::SeqCst), 2_000);
    let connections = counters.connections.load(Ordering::SeqCst);
    assert!((1..=16).contains(&connections), "{connections}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cap_all_requests_are_in_flight_together() {
    // The barrier needs all eight at once: a cap below eight would never let it open (and
    // the transport's timeout would fail the requests), so this shows the server can see
    // more than the cap when there is none.
    let (url, counters) = start(8).await;
    let transport = transport(None);
    send_all(&transport, &url, 8).await;
    assert_eq!(counters.max_in_flight.load(Ordering::SeqCst), 8);
    assert_eq!(counters.connections.load(Ordering::SeqCst), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_of_three_lets_three_through_at_once() {
    let (url, counters) = start(3).await;
    let transport = transport(Some(3));
    send_all(&transport, &url, 9).await;
    assert_eq!(counters.requests.load(Ordering::SeqCst), 9);
    assert_eq!(counters.max_in_flight.load(Ordering::SeqCst), 3);
}

/// A keep-alive server that records each request's path in arrival order, and holds the
/// first request until `release` is notified.
async fn start_ordered(release: Arc<tokio::sync::Notify>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            let release = release.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    let end = loop {
                        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                    buffer.drain(..end);
                    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                    let first = {
                        let mut log = log.lock().unwrap();
                        log.push(path);
                        log.len() == 1
                    };
                    if first {
                        release.notified().await;
                    }
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                    if stream.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, seen)
}

#[tokio::test(flavor = "current_thread")]
async fn a_freed_slot_goes_to_the_queued_request_not_to_a_newcomer() {
    let release = Arc::new(tokio::sync::Notify::new());
    let (base, seen) = start_ordered(release.clone()).await;
    let transport = transport(Some(1));
    let send = |path: &str| {
        let transport = transport.clone();
        let request = http::Request::get(format!("{base}{path}"))
            .body(Vec::new())
            .unwrap();
        tokio::spawn(async move { transport.call(request).await })
    };
    // `a` takes the only slot and is held by the server.
    let a = send("/a");
    while seen.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    // `b` is polled once on this thread and queues for the slot.
    let b = send("/b");
    tokio::task::yield_now().await;
    // `a` finishes and hands its slot to `b`; `c`, sent before `b` runs again, finds no free
    // slot and queues behind it.
    release.notify_one();
    assert_eq!(a.await.unwrap().unwrap().status(), 200);
    let c = send("/c");
    assert_eq!(b.await.unwrap().unwrap().status(), 200);
    assert_eq!(c.await.unwrap().unwrap().status(), 200);
    assert_eq!(*seen.lock().unwrap(), ["/a", "/b", "/c"]);
}

/// A request dropped while it holds the only slot (its head answered, its body cut short)
/// gives the slot back: the next request goes through.
#[tokio::test]
async fn a_request_dropped_mid_body_frees_its_slot() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut sent = Some(sent_tx);
        while let Ok((mut stream, _)) = listener.accept().await {
            let first = sent.take();
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                let _ = stream.read(&mut buffer).await;
                match first {
                    // The first request: its head and 3 of its 10 bytes, then nothing.
                    Some(sent) => {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{\"a")
                            .await;
                        let _ = sent.send(());
                        let _ = stream.read(&mut buffer).await;
                    }
                    None => {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                            .await;
                    }
                }
            });
        }
    });
    let transport = transport(Some(1));
    let stalled = {
        let transport = transport.clone();
        let request = http::Request::get(&url).body(Vec::new()).unwrap();
        tokio::spawn(async move { transport.call(request).await })
    };
    sent_rx.await.unwrap();
    stalled.abort();
    assert!(stalled.await.unwrap_err().is_cancelled());
    let request = http::Request::get(&url).body(Vec::new()).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), transport.call(request))
        .await
        .expect("the dropped request's slot was given back")
        .unwrap();
    assert_eq!(response.body(), b"{}");
}
