//! Blocking work (a child process, a pause between retries) run off the caller's task.
//!
//! This crate has no async runtime; these waits are rare and short, so a thread of their own,
//! answering through a oneshot channel, is enough and works under any executor.

use std::io;
use std::time::Duration;

use crate::credentials::BoxFuture;

/// Runs `work` on a new thread named `name` and resolves to its result.
pub(crate) async fn on_thread<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let (sender, receiver) = futures_channel::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            // The receiver is gone only when the caller stopped waiting.
            let _ = sender.send(work());
        })?;
    receiver
        .await
        .map_err(|_| io::Error::other("the worker thread stopped without an answer"))
}

/// A pause that works under any executor: the thread sleeps, the task waits.
pub(crate) fn sleep(duration: Duration) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        // Should the thread not start, the retry simply comes sooner.
        let _ = on_thread("adu-auth-pause", move || std::thread::sleep(duration)).await;
    })
}
