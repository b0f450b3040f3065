//! HTTP/1.1 connections for API requests, kept alive and reused, at most as many as the
//! in-flight cap.
//!
//! hyper-util's pooled client puts a connection back in its pool from a task of its own a
//! moment after the response is read, so a request that takes the freed in-flight slot in
//! that moment finds no idle connection and opens one: 10,000 waits through a cap of 64
//! opened 90 to 142 connections, each a TLS handshake on both sides. Here a request hands
//! its connection back itself, once it has read the whole body and before its slot is
//! released, so whoever takes the slot next finds the connection idle: a request opens a
//! connection only when no idle one is left, and connections stay within the slots (a new
//! one that would make one more, beside idle connections to another origin, closes the
//! oldest of them).
//!
//! The rest is what a pool must do: idle connections are taken newest first (the least
//! likely to have been closed by the server), one that turns out closed is dropped and the
//! next tried, a request that a reused connection could not even start is sent again on
//! another one (hyper hands it back unsent), and connections idle longer than the idle
//! timeout are closed (by a task that runs while any connection is idle). A connection goes
//! back to the pool only when its response was read to the end, did not ask to close it,
//! and the connection is ready for another request (not, say, still sending a request body
//! the server answered early); any other is closed at once (its task is aborted), so it does
//! not linger outside the count.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONNECTION, HOST};
use http::uri::{Authority, Scheme};
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_rustls::HttpsConnector;

use crate::connector::TcpConnector;
use crate::error::{TransportError, TransportErrorKind};
use crate::transport::{classify_failure, read_capped};

/// How long a connection whose response has been read may take to be ready for the next
/// request before it is closed instead of pooled. Normally it is ready at once, or after one
/// turn of its connection task.
const READY_WAIT: Duration = Duration::from_millis(100);

/// One open connection: hyper's handle for sending on it, and its connection task, aborted
/// (closing the socket) when the handle is dropped.
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    task: tokio::task::AbortHandle,
    /// The pool's count of open connections, decremented on drop.
    open: Arc<AtomicUsize>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a connection goes: the scheme and authority of its requests' URIs.
#[derive(PartialEq)]
struct Origin {
    scheme: Scheme,
    authority: Authority,
}

/// One idle connection and where it goes.
struct Idle {
    origin: Origin,
    conn: Conn,
    since: Instant,
}

/// The idle connections, shared with the task that closes expired ones.
#[derive(Default)]
struct IdleList {
    /// Oldest first; taken from the end.
    list: Mutex<Vec<Idle>>,
    /// Whether a task is closing expired connections (changed only under `list`'s lock).
    reaping: AtomicBool,
}

/// The HTTP/1.1 connections of one transport's API requests.
pub(crate) struct Http1Pool {
    connector: HttpsConnector<TcpConnector>,
    idle: Arc<IdleList>,
    idle_timeout: Duration,
    /// The transport's cap on requests in flight, if it has one: a new connection that
    /// makes more than this many open closes the oldest idle one (to another origin: one to
    /// the same origin would have been taken instead).
    cap: Option<usize>,
    /// Connections open now (idle or in use).
    open: Arc<AtomicUsize>,
}

/// A request made ready for a pooled connection (by [`prepare`]).
pub(crate) struct Outgoing {
    /// In origin form, with `Host`.
    request: http::Request<Full<Bytes>>,
    /// The absolute URI, for connecting.
    target: http::Uri,
    origin: Origin,
}

/// Readies `request` (absolute URI, checked by the caller) for a connection: connections are
/// made for the absolute URI, while the request line carries only the path and query (origin
/// form, RFC 9112 §3.2.1) and the host goes in `Host`.
///
/// Done before the exchange's future is made, so that future holds only the result.
pub(crate) fn prepare(request: http::Request<Vec<u8>>) -> Result<Outgoing, TransportError> {
    let (mut parts, body) = request.into_parts();
    let (Some(scheme), Some(authority)) =
        (parts.uri.scheme().cloned(), parts.uri.authority().cloned())
    else {
        return Err(TransportError::new(
            TransportErrorKind::InvalidRequest,
            "the request uri must be absolute, with an http or https scheme",
        ));
    };
    if !matches!(
        parts.version,
        http::Version::HTTP_10 | http::Version::HTTP_11
    ) {
        return Err(TransportError::new(
            TransportErrorKind::InvalidRequest,
            "only HTTP/1.0 and HTTP/1.1 requests can go over an HTTP/1.1 connection",
        ));
    }
    let target = std::mem::take(&mut parts.uri);
    if !parts.headers.contains_key(HOST) {
        parts.headers.insert(HOST, host_header(&target, &scheme)?);
    }
    parts.uri = origin_form(&target);
    Ok(Outgoing {
        request: http::Request::from_parts(parts, Full::new(Bytes::from(body))),
        target,
        origin: Origin { scheme, authority },
    })
}

impl Http1Pool {
    pub(crate) fn new(
        connector: HttpsConnector<TcpConnector>,
        idle_timeout: Duration,
        cap: Option<usize>,
    ) -> Self {
        Http1Pool {
            connector,
            idle: Arc::new(IdleList::default()),
            idle_timeout,
            cap,
            open: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Sends a prepared request and reads the whole response, refusing a body over `limit`
    /// bytes. Called with an in-flight slot held, if the transport has a cap: the connection
    /// is back in the pool before this returns.
    ///
    /// Not an `async fn`: one moves its arguments into locals, so its future would hold
    /// `outgoing` twice; the `async` block here uses the captured value in place.
    #[allow(clippy::manual_async_fn)]
    pub(crate) fn send(
        &self,
        mut outgoing: Outgoing,
        limit: usize,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send + '_ {
        async move {
            loop {
                let (mut conn, reused) = match self.take_idle(&outgoing.origin) {
                    Some(conn) => (conn, true),
                    // Boxed: connecting is rare, and its state would otherwise make every
                    // exchange's future larger.
                    None => (Box::pin(self.connect(&outgoing.target)).await?, false),
                };
                // A pooled connection was ready when it was put back; this notices one closed
                // since (by the server, most likely).
                if let Err(error) = conn.sender.ready().await {
                    if reused {
                        tracing::trace!(%error, "idle connection closed, trying another");
                        continue;
                    }
                    return Err(connection_error(error));
                }
                let head = outgoing.request.method() == http::Method::HEAD;
                // The answer is taken out of the `match` before its body is read: a value
                // matched in place would keep its room (the size of the request an error hands
                // back) in this future while the body is read.
                let response = match conn.sender.try_send_request(outgoing.request).await {
                    Ok(response) => response,
                    Err(mut error) => match error.take_message() {
                        // hyper did not start sending it: safe to send again, on another
                        // connection if this one was reused (a fresh one failing is final).
                        Some(unsent) if reused => {
                            tracing::trace!(error = %error.error(), "request unsent on a reused connection, trying another");
                            outgoing.request = unsent;
                            continue;
                        }
                        _ => return Err(connection_error(error.into_error())),
                    },
                };
                let keep_alive = keeps_alive(response.version(), response.headers());
                let (parts, body) = response.into_parts();
                // On an error (or a body over the cap) `conn` is dropped here, closing the
                // connection: its response was not read to the end.
                let response = read_capped(parts, body, limit, head).await?;
                if keep_alive && ready_for_next(&mut conn).await {
                    self.put_idle(outgoing.origin, conn);
                }
                return Ok(response);
            }
        }
    }

    /// The newest idle connection to this origin that is not known to be closed; drops
    /// expired and closed ones on the way.
    fn take_idle(&self, origin: &Origin) -> Option<Conn> {
        let mut idle = lock(&self.idle.list);
        // Nothing to expire in an empty list: no clock read.
        if !idle.is_empty() {
            expire(&mut idle, Instant::now(), self.idle_timeout);
        }
        let mut at = idle.len();
        while at > 0 {
            at -= 1;
            let entry = &idle[at];
            if entry.conn.sender.is_closed() {
                idle.remove(at);
            } else if entry.origin == *origin {
                // Nearly always the last entry, where `remove` moves nothing.
                return Some(idle.remove(at).conn);
            }
        }
        None
    }

    fn put_idle(&self, origin: Origin, conn: Conn) {
        let mut idle = lock(&self.idle.list);
        // Read under the lock, so the list stays in time order.
        let now = Instant::now();
        expire(&mut idle, now, self.idle_timeout);
        idle.push(Idle {
            origin,
            conn,
            since: now,
        });
        // Under the lock, as the reaper's decision to stop is: one is running whenever the
        // list is not empty.
        if !self.idle.reaping.load(Ordering::Relaxed) {
            self.idle.reaping.store(true, Ordering::Relaxed);
            tokio::spawn(reap(Arc::downgrade(&self.idle), self.idle_timeout));
        }
    }

    /// A new connection to `target`'s origin (TCP, then TLS for https), with its hyper
    /// connection task spawned.
    async fn connect(&self, target: &http::Uri) -> Result<Conn, TransportError> {
        let mut connector = self.connector.clone();
        let connecting = async {
            std::future::poll_fn(|cx| tower_service::Service::poll_ready(&mut connector, cx))
                .await?;
            tower_service::Service::call(&mut connector, target.clone()).await
        };
        let io = connecting
            .await
            .map_err(|error| classify_failure(error, true))?;
        let (sender, connection) = http1::handshake(io).await.map_err(connection_error)?;
        let task = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        })
        .abort_handle();
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        let conn = Conn {
            sender,
            task,
            open: self.open.clone(),
        };
        if self.cap.is_some_and(|cap| open > cap) {
            // Over the cap only when idle connections to another origin (or one to this
            // origin returned since this request looked) fill the other slots: close the
            // oldest. Done once the new connection works, so a failed connect closes nothing.
            let mut idle = lock(&self.idle.list);
            if !idle.is_empty() {
                idle.remove(0);
            }
        }
        Ok(conn)
    }
}

/// Drops the connections idle for longer than `timeout` (the oldest come first).
fn expire(idle: &mut Vec<Idle>, now: Instant, timeout: Duration) {
    let stale = idle
        .iter()
        .take_while(|i| now.saturating_duration_since(i.since) > timeout)
        .count();
    if stale > 0 {
        idle.drain(..stale);
    }
}

/// Closes idle connections as they expire, so a transport left alone does not keep its
/// sockets open. Sleeps until the oldest idle connection expires; ends when the list is
/// empty (the next connection put back starts another) or the pool is gone.
async fn reap(idle: std::sync::Weak<IdleList>, timeout: Duration) {
    loop {
        let next = {
            let Some(shared) = idle.upgrade() else {
                return;
            };
            let mut list = lock(&shared.list);
            expire(&mut list, Instant::now(), timeout);
            // A moment past the expiry, so the oldest is expired when the list is next
            // looked at. An expiry too far to name (`Duration::MAX`) never comes: no reaper.
            match list.first().map(|oldest| {
                oldest
                    .since
                    .checked_add(timeout)
                    .and_then(|at| at.checked_add(Duration::from_millis(1)))
            }) {
                Some(Some(next)) => next,
                Some(None) | None => {
                    shared.reaping.store(false, Ordering::Relaxed);
                    return;
                }
            }
        };
        tokio::time::sleep_until(next.into()).await;
    }
}

/// Whether the server lets the connection carry another request (RFC 9112 §9.3): HTTP/1.1
/// unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
fn keeps_alive(version: http::Version, headers: &HeaderMap) -> bool {
    let has = |token: &str| {
        headers.get_all(CONNECTION).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    match version {
        http::Version::HTTP_11 => !has("close"),
        http::Version::HTTP_10 => has("keep-alive") && !has("close"),
        _ => false,
    }
}

/// Whether the connection can take another request: at once (the usual case, with no timer),
/// or within [`READY_WAIT`]. Not when it is closed, or still busy (sending the body of a
/// request the server answered early, say).
async fn ready_for_next(conn: &mut Conn) -> bool {
    let now = std::future::poll_fn(|cx| match conn.sender.poll_ready(cx) {
        Poll::Ready(result) => Poll::Ready(Some(result.is_ok())),
        Poll::Pending => Poll::Ready(None),
    })
    .await;
    match now {
        Some(ready) => ready,
        None => matches!(
            tokio::time::timeout(READY_WAIT, conn.sender.ready()).await,
            Ok(Ok(()))
        ),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update under this lock is a single push or removal: a panic cannot leave the
    // list inconsistent, so poisoning is ignored.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `Host`: the URI's host, with its port unless it is the scheme's default.
fn host_header(uri: &http::Uri, scheme: &Scheme) -> Result<HeaderValue, TransportError> {
    let invalid = || {
        TransportError::new(
            TransportErrorKind::InvalidRequest,
            "the request uri's host is not a valid Host header",
        )
    };
    let host = uri.host().ok_or_else(invalid)?;
    let default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
    match uri.port_u16() {
        Some(port) if port != default_port => {
            HeaderValue::from_maybe_shared(Bytes::from(format!("{host}:{port}")))
                .map_err(|_| invalid())
        }
        _ => HeaderValue::from_str(host).map_err(|_| invalid()),
    }
}

/// The path and query of `uri` alone (`/` if it has none).
fn origin_form(uri: &http::Uri) -> http::Uri {
    match uri.path_and_query() {
        Some(path) => {
            let mut parts = http::uri::Parts::default();
            parts.path_and_query = Some(path.clone());
            http::Uri::from_parts(parts).unwrap_or_else(|_| http::Uri::from_static("/"))
        }
        None => http::Uri::from_static("/"),
    }
}

fn connection_error(error: hyper::Error) -> TransportError {
    classify_failure(error, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_keeps_only_a_non_default_port() {
        let h = |uri: &str| {
            let uri: http::Uri = uri.parse().unwrap();
            let scheme = uri.scheme().unwrap().clone();
            host_header(&uri, &scheme).unwrap()
        };
        assert_eq!(h("https://contoso.example/x"), "contoso.example");
        assert_eq!(h("https://contoso.example:443/x"), "contoso.example");
        assert_eq!(h("https://contoso.example:8443/x"), "contoso.example:8443");
        assert_eq!(h("http://127.0.0.1:80/x"), "127.0.0.1");
        assert_eq!(h("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
        assert_eq!(h("http://[::1]:8080/x"), "[::1]:8080");
        // Userinfo never reaches the Host header.
        assert_eq!(h("https://user:pw@contoso.example/x"), "contoso.example");
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_tokens() {
        let headers = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(CONNECTION, HeaderValue::from_str(v).unwrap());
            }
            h
        };
        let v11 = http::Version::HTTP_11;
        let v10 = http::Version::HTTP_10;
        assert!(keeps_alive(v11, &headers(&[])));
        assert!(keeps_alive(v11, &headers(&["keep-alive"])));
        assert!(!keeps_alive(v11, &headers(&["close"])));
        assert!(!keeps_alive(v11, &headers(&["Upgrade, CLOSE"])));
        assert!(!keeps_alive(v11, &headers(&["upgrade", " Close "])));
        assert!(
            keeps_alive(v11, &headers(&["closed"])),
            "a token, not a prefix"
        );
        assert!(!keeps_alive(v10, &headers(&[])));
        assert!(keeps_alive(v10, &headers(&["Keep-Alive"])));
        assert!(!keeps_alive(v10, &headers(&["keep-alive, close"])));
        assert!(!keeps_alive(http::Version::HTTP_2, &headers(&[])));
    }

    #[test]
    fn origin_form_keeps_path_and_query_only() {
        let o = |uri: &str| origin_form(&uri.parse().unwrap()).to_string();
        assert_eq!(
            o("https://h.example/deviceUpdate/blue/updates/operations/x?api-version=2022-10-01"),
            "/deviceUpdate/blue/updates/operations/x?api-version=2022-10-01"
        );
        assert_eq!(o("https://h.example"), "/");
    }
}
