//! Test doubles shared by the adu-auth integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adu_auth::Clock;

pub type Request = http::Request<Vec<u8>>;
pub type Response = http::Response<Vec<u8>>;

/// A clock the test moves by hand.
#[derive(Debug)]
pub struct TestClock(Mutex<SystemTime>);

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    pub fn at(secs: u64) -> Arc<Self> {
        Arc::new(TestClock(Mutex::new(
            UNIX_EPOCH + Duration::from_secs(secs),
        )))
    }
    pub fn advance(&self, secs: u64) {
        *self.0.lock().unwrap() += Duration::from_secs(secs);
    }
    pub fn plus(&self, secs: u64) -> SystemTime {
        self.now() + Duration::from_secs(secs)
    }
}

/// Pending for a few polls, so that concurrent callers overlap.
pub struct YieldTimes(pub u32);

impl Future for YieldTimes {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            Poll::Ready(())
        } else {
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A JSON answer of a token endpoint.
pub fn json_response(status: u16, body: &str) -> Response {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(body.as_bytes().to_vec())
        .unwrap()
}
