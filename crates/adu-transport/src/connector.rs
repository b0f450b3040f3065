//! The TCP connector under rustls: hyper-util's `HttpConnector`, minus the per-response
//! `HttpInfo`.
//!
//! hyper-util's connections report their local and remote addresses (`HttpInfo`), and its
//! client copies that into the extensions of every response: an extension map and a boxed
//! value built and dropped per response, about 700 instructions, for addresses nothing here
//! reads. The streams handed out by [`TcpConnector`] report a plain connection instead.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// hyper-util's `HttpConnector` (TCP, with its connect timeout and `TCP_NODELAY`), whose
/// streams do not add `HttpInfo` to responses.
#[derive(Clone)]
pub(crate) struct TcpConnector(HttpConnector);

impl TcpConnector {
    pub(crate) fn new(http: HttpConnector) -> Self {
        TcpConnector(http)
    }
}

type Connecting = Pin<
    Box<
        dyn Future<Output = Result<TcpConnection, Box<dyn std::error::Error + Send + Sync>>> + Send,
    >,
>;

impl tower_service::Service<Uri> for TcpConnector {
    type Response = TcpConnection;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    // Boxed: once per connection, not per request.
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower_service::Service::<Uri>::poll_ready(&mut self.0, cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = tower_service::Service::<Uri>::call(&mut self.0, uri);
        Box::pin(async move { connecting.await.map(TcpConnection).map_err(Into::into) })
    }
}

/// A TCP stream that reports a plain connection (no `HttpInfo`).
pub(crate) struct TcpConnection(TokioIo<TcpStream>);

impl Connection for TcpConnection {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl Read for TcpConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl Write for TcpConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}
