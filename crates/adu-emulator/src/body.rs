//! The response body type: whole bodies, or bodies fed through a channel
//! for the truncate and stall faults.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// The error that aborts a response body mid-way (hyper then closes the connection).
#[derive(Debug)]
pub(crate) struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("response body aborted by fault injection")
    }
}

impl std::error::Error for Aborted {}

/// A response body.
pub(crate) enum EmuBody {
    Full(Option<Bytes>),
    Channel(mpsc::Receiver<Result<Bytes, Aborted>>),
}

impl EmuBody {
    pub fn full(b: Bytes) -> Self {
        EmuBody::Full(if b.is_empty() { None } else { Some(b) })
    }
}

impl Body for EmuBody {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        match self.get_mut() {
            EmuBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            EmuBody::Channel(rx) => rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, EmuBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            EmuBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            EmuBody::Channel(_) => SizeHint::default(),
        }
    }
}
