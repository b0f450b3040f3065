//! A pool idle timeout too long to add to a clock reading (`Duration::MAX`, "keep idle
//! connections forever") must not panic the task that closes idle connections. A panic in a
//! spawned task does not fail a test by itself, so this binary (one test, nothing else
//! panicking in it) counts panics through the hook.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use adu_transport::HttpTransport;
use support::{get, plain_http_transport, Reply, Server};

#[tokio::test(start_paused = true)]
async fn an_endless_idle_timeout_keeps_connections_without_panicking() {
    let panics = Arc::new(AtomicUsize::new(0));
    let counted = panics.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));

    let server = Server::start(vec![Reply::json(200, "{}")]).await;
    let transport = plain_http_transport()
        .pool_idle_timeout(Duration::MAX)
        .build()
        .unwrap();
    let url = format!("{}/x", server.url());
    for _ in 0..3 {
        let response = transport.call(get(&url)).await.unwrap();
        assert_eq!(response.status(), 200);
        // Time (on the paused clock) for the connection to go back to the pool and for the
        // pool's idle check to run.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Token requests go through a pool of their own, built with the same timeout.
    for _ in 0..2 {
        let response = oauth2::AsyncHttpClient::call(&transport, get(&url))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(panics.load(Ordering::SeqCst), 0, "a task panicked");
    assert_eq!(
        server.connections(),
        2,
        "one connection for each pool, reused"
    );
}
