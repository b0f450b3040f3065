//! Progress of a wait on stderr: on a terminal, one live line drawn by `indicatif` (a
//! spinner with a steady tick, the line cut to the terminal's width, tracing output printed
//! above it); otherwise plain lines, one per event.
//!
//! The wait itself is the client's `wait_for_operation`, watched from outside: an
//! [`ObservedTransport`] wrapped around the real transport notes each poll (start, HTTP
//! status, Retry-After), and the wait's `on_status_change` callback notes each new status.
//! The next poll is predicted with the same pure decision the client uses
//! ([`adu_model::decide_poll`]). Rendering is pure.

use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use adu_model::{decide_poll, models::OperationStatus, PollDecision, PollPolicy};
use adu_transport::{http, BoxFuture, HttpTransport, TransportError};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::output::human_duration;

/// How often the live line is redrawn.
const REDRAW: Duration = Duration::from_millis(100);

/// The live lines of this process, drawn on stderr (nothing is drawn when it is not a
/// terminal).
static LIVE_LINES: LazyLock<MultiProgress> = LazyLock::new(MultiProgress::new);

/// Stderr for tracing: each write takes the live line down, writes, and draws it again below,
/// so log lines print above the live line instead of through it.
// tracing-indicatif keeps logs clear of the bars it draws for tracing spans; the live line
// belongs to no span, so its writer would not take it down.
pub struct AboveLiveLine;

impl std::io::Write for AboveLiveLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = log_line_for_terminal(buf);
        LIVE_LINES.suspend(|| std::io::stderr().write_all(&line))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// One formatted tracing event (tracing-subscriber writes each in one call) made safe for the
/// terminal. tracing-subscriber escapes control characters only in an event's message, and
/// an event's other fields may carry the service's text (a failed poll's error): every
/// control character in it (an escape sequence that clears the screen or sets the window
/// title, a carriage return or line break that forges a line) and every bidirectional
/// control is escaped here as [`plain`] does, except the colour sequences (SGR: `ESC [`
/// digits and `;`, then `m`) tracing draws its own levels and field names with, and the
/// newline that ends the event.
///
/// [`plain`]: crate::output::plain
fn log_line_for_terminal(buf: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use crate::output::plain;
    let Ok(text) = std::str::from_utf8(buf) else {
        return std::borrow::Cow::Borrowed(buf);
    };
    let (event, end) = match text.strip_suffix('\n') {
        Some(event) => (event, "\n"),
        None => (text, ""),
    };
    let mut pieces = event.split('\x1b');
    let mut out = plain(pieces.next().unwrap_or_default()).into_owned();
    for piece in pieces {
        let colour = piece.strip_prefix('[').and_then(|body| {
            let params = body
                .bytes()
                .take_while(|b| b.is_ascii_digit() || *b == b';');
            let len = params.count();
            (body.as_bytes().get(len) == Some(&b'm')).then_some(len + 2)
        });
        match colour {
            Some(len) => {
                out.push('\x1b');
                out.push_str(&piece[..len]);
                out.push_str(&plain(&piece[len..]));
            }
            None => out.push_str(&plain(&format!("\x1b{piece}"))),
        }
    }
    out.push_str(end);
    std::borrow::Cow::Owned(out.into_bytes())
}

/// What is known about a wait so far.
#[derive(Debug, Clone)]
pub struct ProgressState {
    /// When the wait started.
    pub started: Instant,
    /// The last status read.
    pub status: Option<OperationStatus>,
    /// Requests sent so far (retries included).
    pub polls: u32,
    /// Whether a request is on its way.
    pub in_flight: bool,
    /// When the last answer arrived.
    pub last_response_at: Option<Instant>,
    /// The Retry-After of the last answer.
    pub last_retry_after: Option<Duration>,
    /// What went wrong with the last request, if it did (it will be retried).
    pub last_problem: Option<String>,
}

impl ProgressState {
    /// A wait starting at `started`.
    pub fn new(started: Instant) -> Self {
        ProgressState {
            started,
            status: None,
            polls: 0,
            in_flight: false,
            last_response_at: None,
            last_retry_after: None,
            last_problem: None,
        }
    }

    /// When the client will poll next, if that is known.
    pub fn next_poll_at(&self, policy: &PollPolicy) -> Option<Instant> {
        if self.in_flight || self.last_problem.is_some() {
            return None;
        }
        let status = self.status.as_ref()?;
        match decide_poll(policy, status, self.last_retry_after, 0) {
            PollDecision::PollAfter(delay) => self.last_response_at?.checked_add(delay),
            _ => None,
        }
    }
}

/// The live line, after the spinner: `Running · 3.2s elapsed · next poll in 800ms · 3 requests`.
pub fn render_live(state: &ProgressState, policy: &PollPolicy, now: Instant) -> String {
    let elapsed = now.saturating_duration_since(state.started);
    let status = state
        .status
        .as_ref()
        .map(OperationStatus::as_str)
        .unwrap_or("waiting for the first answer");
    let next = if state.in_flight {
        "polling...".to_owned()
    } else if let Some(problem) = &state.last_problem {
        format!("retrying after {problem}")
    } else {
        match state.next_poll_at(policy) {
            Some(at) => format!(
                "next poll in {}",
                human_duration(at.saturating_duration_since(now))
            ),
            None if state.status.is_none() => "starting".to_owned(),
            None => "finishing".to_owned(),
        }
    };
    let requests = match state.polls {
        1 => "1 request".to_owned(),
        n => format!("{n} requests"),
    };
    let line = format!(
        "{status} · {} elapsed · {next} · {requests}",
        human_duration(elapsed)
    );
    // The status is the service's text.
    crate::output::plain(&line).into_owned()
}

/// A plain progress line for a new status: `[  1.2s] Running; next poll in 1.0s`.
pub fn render_status_line(state: &ProgressState, policy: &PollPolicy, now: Instant) -> String {
    let elapsed = now.saturating_duration_since(state.started);
    let status = state
        .status
        .as_ref()
        .map(OperationStatus::as_str)
        .unwrap_or("?");
    let tail = match state
        .status
        .as_ref()
        .map(|s| decide_poll(policy, s, state.last_retry_after, 0))
    {
        Some(PollDecision::PollAfter(delay)) => format!("; next poll in {}", human_duration(delay)),
        Some(PollDecision::Finished) => format!(
            " after {} request{}",
            state.polls,
            if state.polls == 1 { "" } else { "s" }
        ),
        _ => String::new(),
    };
    let line = format!("[{:>7}] {status}{tail}", human_duration(elapsed));
    crate::output::plain(&line).into_owned()
}

/// A plain progress line for a failed request that will be retried.
pub fn render_problem_line(state: &ProgressState, problem: &str, now: Instant) -> String {
    let elapsed = now.saturating_duration_since(state.started);
    format!(
        "[{:>7}] request {}: {problem}; retrying",
        human_duration(elapsed),
        state.polls
    )
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One line rewritten in place (stderr is a terminal).
    Live,
    /// One line per event.
    Plain,
}

/// The progress of one wait, shared by the transport observer, the status callback and the
/// live line.
#[derive(Debug)]
pub struct Progress {
    state: Mutex<ProgressState>,
    policy: PollPolicy,
    mode: Mode,
}

impl Progress {
    /// Progress for a wait paced by `policy`, shown in `mode`.
    pub fn new(policy: PollPolicy, mode: Mode) -> Arc<Self> {
        Arc::new(Progress {
            state: Mutex::new(ProgressState::new(Instant::now())),
            policy,
            mode,
        })
    }

    fn state(&self) -> MutexGuard<'_, ProgressState> {
        // A poisoned lock only means a panic elsewhere; the data is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn request_started(&self) {
        let mut s = self.state();
        s.polls = s.polls.saturating_add(1);
        s.in_flight = true;
    }

    /// Notes the end of a request: what went wrong with it (it will be retried), if anything,
    /// and the answer's Retry-After.
    fn request_ended(&self, problem: Option<String>, retry_after: Option<Duration>) {
        let mut s = self.state();
        s.in_flight = false;
        s.last_response_at = Some(Instant::now());
        s.last_retry_after = retry_after;
        if let Some(problem) = &problem {
            self.print_plain(render_problem_line(&s, problem, Instant::now()));
        }
        s.last_problem = problem;
    }

    /// Notes a new status (the wait's `on_status_change` callback).
    pub fn status_changed(&self, status: &OperationStatus) {
        let mut s = self.state();
        s.status = Some(status.clone());
        self.print_plain(render_status_line(&s, &self.policy, Instant::now()));
    }

    /// Prints a line of the plain display (nothing in [`Mode::Live`]).
    fn print_plain(&self, line: String) {
        if self.mode == Mode::Plain {
            eprintln!("{line}");
        }
    }

    /// The line that ends a live display: the final status, time taken and requests.
    pub fn final_line(&self, status: &OperationStatus) -> String {
        let mut s = self.state().clone();
        s.status = Some(status.clone());
        render_status_line(&s, &self.policy, Instant::now())
    }

    /// The live line now.
    pub fn live_line(&self) -> String {
        render_live(&self.state(), &self.policy, Instant::now())
    }

    /// Shows the live line in [`Mode::Live`] (nothing otherwise) until [`LiveLine::finish`]:
    /// indicatif's steady tick turns the spinner, and a task renders the line every 100 ms.
    pub fn show_live(self: &Arc<Self>) -> Option<LiveLine> {
        if self.mode != Mode::Live {
            return None;
        }
        let bar = LIVE_LINES.add(ProgressBar::new_spinner().with_style(live_style()));
        bar.enable_steady_tick(REDRAW);
        let (progress, shown) = (self.clone(), bar.clone());
        let redraw = tokio::spawn(async move {
            let mut tick = tokio::time::interval(REDRAW);
            loop {
                tick.tick().await;
                shown.set_message(progress.live_line());
            }
        });
        Some(LiveLine { bar, redraw })
    }
}

/// The live line's look: an ASCII spinner, then the line, cut to the terminal's width
/// (`wide_msg`) rather than wrapped.
fn live_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {wide_msg}")
        .expect("the template is valid")
        .tick_chars("|/-\\ ")
}

/// The live line of a wait on the terminal.
#[derive(Debug)]
pub struct LiveLine {
    bar: ProgressBar,
    redraw: tokio::task::JoinHandle<()>,
}

impl LiveLine {
    /// Stops redrawing and clears the line.
    pub fn finish(self) {
        self.redraw.abort();
        self.bar.finish_and_clear();
        LIVE_LINES.remove(&self.bar);
    }
}

/// An [`HttpTransport`] that reports each request of a wait to a [`Progress`], then passes it
/// on unchanged.
pub struct ObservedTransport {
    inner: Arc<dyn HttpTransport>,
    progress: Arc<Progress>,
}

impl ObservedTransport {
    /// Observes the requests sent through `inner`.
    pub fn new(inner: Arc<dyn HttpTransport>, progress: Arc<Progress>) -> Self {
        ObservedTransport { inner, progress }
    }

    fn observe<'a>(
        &'a self,
        call: BoxFuture<'a, Result<http::Response<Vec<u8>>, TransportError>>,
    ) -> BoxFuture<'a, Result<http::Response<Vec<u8>>, TransportError>> {
        Box::pin(async move {
            self.progress.request_started();
            let result = call.await;
            let (problem, retry_after) = match &result {
                Ok(response) => (
                    (!matches!(response.status().as_u16(), 200 | 304))
                        .then(|| format!("HTTP {}", response.status().as_u16())),
                    adu_model::parse_retry_after(response.headers(), SystemTime::now()),
                ),
                Err(error) => (Some(error.to_string()), None),
            };
            self.progress.request_ended(problem, retry_after);
            result
        })
    }
}

impl HttpTransport for ObservedTransport {
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>> {
        self.observe(self.inner.call(request))
    }

    /// Forwarded, so the inner transport's single timer bounds the try and a try that
    /// times out is reported like any other failure.
    fn call_with_timeout(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: std::time::Duration,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>> {
        self.observe(self.inner.call_with_timeout(request, timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PollPolicy {
        PollPolicy::default()
    }

    #[test]
    fn live_line_shows_status_elapsed_and_next_poll() {
        let t0 = Instant::now();
        let mut s = ProgressState::new(t0);
        assert_eq!(
            render_live(&s, &policy(), t0),
            "waiting for the first answer · 0ms elapsed · starting · 0 requests"
        );
        s.polls = 1;
        s.in_flight = true;
        assert!(render_live(&s, &policy(), t0).contains("polling..."));
        s.in_flight = false;
        s.status = Some(OperationStatus::Running);
        s.last_response_at = Some(t0 + Duration::from_millis(200));
        s.last_retry_after = Some(Duration::from_secs(2));
        let line = render_live(&s, &policy(), t0 + Duration::from_millis(1200));
        assert_eq!(
            line,
            "Running · 1.2s elapsed · next poll in 1.0s · 1 request"
        );
    }

    #[test]
    fn next_poll_follows_the_client_decision() {
        let t0 = Instant::now();
        let mut s = ProgressState::new(t0);
        s.status = Some(OperationStatus::Running);
        s.last_response_at = Some(t0);
        // No Retry-After: the default interval; a tiny one is raised to the floor.
        assert_eq!(s.next_poll_at(&policy()), Some(t0 + Duration::from_secs(5)));
        s.last_retry_after = Some(Duration::from_millis(10));
        assert_eq!(s.next_poll_at(&policy()), Some(t0 + Duration::from_secs(1)));
        s.status = Some(OperationStatus::Succeeded);
        assert_eq!(s.next_poll_at(&policy()), None);
    }

    #[tokio::test]
    async fn a_try_that_times_out_in_the_inner_transport_is_reported() {
        // An inner transport that never answers: the timeout given to the observer must
        // reach it (one timer, the inner one) and the failure must reach the progress.
        let never = |_request: http::Request<Vec<u8>>| async move {
            std::future::pending::<Result<http::Response<Vec<u8>>, TransportError>>().await
        };
        let progress = Progress::new(policy(), Mode::Live);
        let observed = ObservedTransport::new(Arc::new(never), progress.clone());
        let request = http::Request::get("http://127.0.0.1:9/")
            .body(Vec::new())
            .unwrap();
        let error = observed
            .call_with_timeout(request, Duration::from_millis(20))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), adu_transport::TransportErrorKind::TimedOut);
        let s = progress.state();
        assert_eq!(s.polls, 1);
        assert!(!s.in_flight);
        assert!(
            s.last_problem
                .as_deref()
                .is_some_and(|p| p.contains("20ms")),
            "{:?}",
            s.last_problem
        );
    }

    #[test]
    fn server_text_is_escaped_in_every_line() {
        let t0 = Instant::now();
        let mut s = ProgressState::new(t0);
        s.status = Some(OperationStatus::Unknown("Run\x1b[2J\u{202E}ning".into()));
        for line in [
            render_live(&s, &policy(), t0),
            render_status_line(&s, &policy(), t0),
        ] {
            assert!(line.contains("Run\\u{1b}[2J\\u{202e}ning"), "{line}");
            assert!(
                !line.contains('\x1b') && !line.contains('\u{202E}'),
                "{line}"
            );
        }
    }

    #[test]
    fn server_text_in_a_tracing_event_cannot_forge_lines_or_garble_the_terminal() {
        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(true)
            .with_writer(move || writer.clone())
            .finish();
        // A failed poll's error as the client logs it, with the service's message in it.
        let message = "busy\r\nadu: the operation Succeeded\x0e\u{202E}\x1b[2J";
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(error = %message, "poll failed; polling again");
        });
        let event = capture.0.lock().unwrap().clone();
        let shown = String::from_utf8(log_line_for_terminal(&event).into_owned()).unwrap();
        assert!(shown.ends_with('\n'), "{shown:?}");
        let body = &shown[..shown.len() - 1];
        for unsafe_char in ['\r', '\n', '\x0e', '\u{202E}'] {
            assert!(!body.contains(unsafe_char), "{shown:?}");
        }
        assert!(
            body.contains("busy\\u{d}\\u{a}adu: the operation Succeeded\\u{e}\\u{202e}"),
            "{shown:?}"
        );
        // tracing's own colours are kept; the service's escape sequence is shown, not run.
        assert!(body.contains("\x1b[33m WARN"), "{shown:?}");
        assert!(body.contains("\\u{1b}[2J"), "{shown:?}");
        assert!(!body.contains("\x1b[2J"), "{shown:?}");
    }

    /// A terminal 24 columns wide that keeps what is written to it.
    #[derive(Debug, Clone, Default)]
    struct Narrow(Arc<Mutex<Vec<String>>>);

    impl indicatif::TermLike for Narrow {
        fn width(&self) -> u16 {
            24
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, line: &str) -> std::io::Result<()> {
            self.write_str(line)
        }
        fn write_str(&self, text: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push(text.to_owned());
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_live_line_is_cut_to_the_terminal_width() {
        let term = Narrow::default();
        let target = indicatif::ProgressDrawTarget::term_like(Box::new(term.clone()));
        let bar = ProgressBar::with_draw_target(None, target).with_style(live_style());
        bar.set_message("Running · 12.3s elapsed · next poll in 4.1s · 3 requests");
        bar.tick();
        let written = term.0.lock().unwrap().clone();
        assert!(
            written.iter().any(|l| l.contains("Running · 12.3s")),
            "{written:?}"
        );
        assert!(
            written.iter().all(|l| l.chars().count() <= 24),
            "{written:?}"
        );
    }

    #[test]
    fn plain_lines() {
        let t0 = Instant::now();
        let mut s = ProgressState::new(t0);
        s.polls = 3;
        s.status = Some(OperationStatus::Running);
        s.last_retry_after = Some(Duration::from_secs(1));
        assert_eq!(
            render_status_line(&s, &policy(), t0 + Duration::from_millis(2300)),
            "[   2.3s] Running; next poll in 1.0s"
        );
        s.status = Some(OperationStatus::Succeeded);
        assert_eq!(
            render_status_line(&s, &policy(), t0 + Duration::from_millis(2300)),
            "[   2.3s] Succeeded after 3 requests"
        );
        assert_eq!(
            render_problem_line(&s, "HTTP 503", t0 + Duration::from_millis(500)),
            "[  500ms] request 3: HTTP 503; retrying"
        );
        s.last_problem = Some("HTTP 503".into());
        assert!(render_live(&s, &policy(), t0).contains("retrying after HTTP 503"));
    }
}
