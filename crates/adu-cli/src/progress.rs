//! Progress of a wait on stderr: on a terminal, one live line drawn by `indicatif` (a
//! spinner with a steady tick, the line cut to the terminal's width, tracing output printed
//! above it); otherwise plain lines, one per event.
//!
//! The wait is the client's `wait_for_operation`, and what is shown comes from its poller's
//! events (`WaitOptions::on_event`): each poll sent, each new status, each planned next poll,
//! each failed poll. Nothing is predicted from outside. Rendering is pure.

use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use adu_model::{models::OperationStatus, PollEvent};
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

/// What is known about a wait so far, from the poller's events.
#[derive(Debug, Clone)]
pub struct ProgressState {
    /// When the wait started.
    pub started: Instant,
    /// The last status read.
    pub status: Option<OperationStatus>,
    /// Polls sent so far (a poll's own retries are part of it).
    pub polls: u32,
    /// Whether a poll is on its way.
    pub in_flight: bool,
    /// When the next poll is planned, once the poller said.
    pub next_poll_at: Option<Instant>,
    /// What went wrong with the last poll, if it failed (the wait polls again).
    pub last_problem: Option<String>,
    /// A new status not yet printed in [`Mode::Plain`]: its line waits for the next poll's
    /// time, which the poller announces just after it.
    status_unprinted: bool,
}

impl ProgressState {
    /// A wait starting at `started`.
    pub fn new(started: Instant) -> Self {
        ProgressState {
            started,
            status: None,
            polls: 0,
            in_flight: false,
            next_poll_at: None,
            last_problem: None,
            status_unprinted: false,
        }
    }

    /// Takes in one of the poller's events; gives the plain line it calls for, if any.
    pub fn apply(&mut self, event: &PollEvent, now: Instant) -> Option<String> {
        let mut line = None;
        match event {
            PollEvent::Polling { poll } => {
                line = self.unprinted_status_line(now);
                self.polls = *poll;
                self.in_flight = true;
                self.next_poll_at = None;
            }
            PollEvent::StatusChanged(operation) => {
                self.answered();
                self.status = Some(operation.status().clone());
                self.status_unprinted = true;
                if operation.is_terminal() {
                    line = self.unprinted_status_line(now);
                }
            }
            PollEvent::NotModified => self.answered(),
            PollEvent::NextPoll { at } => {
                self.in_flight = false;
                self.next_poll_at = Some(*at);
                line = self.unprinted_status_line(now);
            }
            PollEvent::PollFailed { message, .. } => {
                self.in_flight = false;
                self.last_problem = Some(message.clone());
                line = Some(render_problem_line(self, message, now));
            }
            _ => {}
        }
        line
    }

    /// A poll was answered.
    fn answered(&mut self) {
        self.in_flight = false;
        self.last_problem = None;
    }

    fn unprinted_status_line(&mut self, now: Instant) -> Option<String> {
        std::mem::take(&mut self.status_unprinted).then(|| render_status_line(self, now))
    }
}

/// The live line, after the spinner: `Running · 3.2s elapsed · next poll in 800ms · 3 polls`.
pub fn render_live(state: &ProgressState, now: Instant) -> String {
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
        match (state.next_poll_at, &state.status) {
            (Some(at), _) => format!("next poll in {}", human_duration(until(at, now))),
            (None, None) => "starting".to_owned(),
            (None, Some(status)) if status.is_terminal() => "finishing".to_owned(),
            (None, Some(_)) => "no poll before the deadline".to_owned(),
        }
    };
    let line = format!(
        "{status} · {} elapsed · {next} · {}",
        human_duration(elapsed),
        polls(state.polls)
    );
    // The status and the problem are the service's text.
    crate::output::plain(&line).into_owned()
}

/// The time left until `at`, rounded up to the millisecond: a poll planned 1 s after an
/// answer shows as `1.0s` a few microseconds later, not `999ms`.
fn until(at: Instant, now: Instant) -> Duration {
    let left = at.saturating_duration_since(now);
    let ms = left.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// `1 poll`, `3 polls`.
fn polls(n: u32) -> String {
    match n {
        1 => "1 poll".to_owned(),
        n => format!("{n} polls"),
    }
}

/// A plain progress line for a status: `[  1.2s] Running; next poll in 1.0s`, or
/// `[  4.0s] Succeeded after 3 polls`.
pub fn render_status_line(state: &ProgressState, now: Instant) -> String {
    let elapsed = now.saturating_duration_since(state.started);
    let status = state.status.as_ref();
    let tail = match (status, state.next_poll_at) {
        (Some(s), _) if s.is_terminal() => format!(" after {}", polls(state.polls)),
        (Some(_), Some(at)) => format!("; next poll in {}", human_duration(until(at, now))),
        _ => String::new(),
    };
    let status = status.map(OperationStatus::as_str).unwrap_or("?");
    let line = format!("[{:>7}] {status}{tail}", human_duration(elapsed));
    crate::output::plain(&line).into_owned()
}

/// A plain progress line for a poll that failed (the wait polls again).
pub fn render_problem_line(state: &ProgressState, problem: &str, now: Instant) -> String {
    let elapsed = now.saturating_duration_since(state.started);
    let line = format!(
        "[{:>7}] poll {} failed: {problem}; polling again",
        human_duration(elapsed),
        state.polls
    );
    crate::output::plain(&line).into_owned()
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One line rewritten in place (stderr is a terminal).
    Live,
    /// One line per event.
    Plain,
}

/// The progress of one wait, fed by the wait's events and read by the live line.
#[derive(Debug)]
pub struct Progress {
    state: Mutex<ProgressState>,
    mode: Mode,
}

impl Progress {
    /// Progress of a wait, shown in `mode`.
    pub fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Progress {
            state: Mutex::new(ProgressState::new(Instant::now())),
            mode,
        })
    }

    fn state(&self) -> MutexGuard<'_, ProgressState> {
        // A poisoned lock only means a panic elsewhere; the data is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes in one event of the wait (its `on_event` callback), printing the plain line it
    /// calls for in [`Mode::Plain`].
    pub fn event(&self, event: &PollEvent) {
        let line = self.state().apply(event, Instant::now());
        if let (Some(line), Mode::Plain) = (line, self.mode) {
            eprintln!("{line}");
        }
    }

    /// The line that ends a live display: the final status, time taken and polls.
    pub fn final_line(&self, status: &OperationStatus) -> String {
        let mut s = self.state().clone();
        s.status = Some(status.clone());
        render_status_line(&s, Instant::now())
    }

    /// The live line now.
    pub fn live_line(&self) -> String {
        render_live(&self.state(), Instant::now())
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

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn operation(status: &str) -> Box<adu_model::AnyOperation> {
        let body = format!(
            r#"{{"operationId":"op1","status":{status:?},"createdDateTime":"2022-01-05T18:24:39Z","lastActionDateTime":"2022-01-05T18:25:01Z"}}"#
        );
        Box::new(adu_model::AnyOperation::Current(
            serde_json::from_str(&body).unwrap(),
        ))
    }

    #[test]
    fn live_line_shows_status_elapsed_and_next_poll() {
        let t0 = Instant::now();
        let mut s = ProgressState::new(t0);
        assert_eq!(
            render_live(&s, t0),
            "waiting for the first answer · 0ms elapsed · starting · 0 polls"
        );
        s.apply(&PollEvent::Polling { poll: 1 }, t0);
        assert!(render_live(&s, t0).contains("polling..."));
        s.apply(
            &PollEvent::StatusChanged(operation("Running")),
            t0 + MS(200),
        );
        let at = t0 + MS(2200);
        s.apply(&PollEvent::NextPoll { at }, t0 + MS(200));
        assert_eq!(
            render_live(&s, t0 + MS(1200)),
            "Running · 1.2s elapsed · next poll in 1.0s · 1 poll"
        );
    }

    #[test]
    fn the_events_drive_the_state_and_the_counter_counts_polls() {
        let t0 = Instant::now();
        let mut s = ProgressState::new(t0);
        let mut lines = Vec::new();
        let events = [
            PollEvent::Polling { poll: 1 },
            PollEvent::StatusChanged(operation("Running")),
            PollEvent::NextPoll { at: t0 + MS(1000) },
            PollEvent::Polling { poll: 2 },
            PollEvent::PollFailed {
                failed_polls: 1,
                message: "HTTP 503".into(),
                delay: MS(2000),
            },
            PollEvent::NextPoll { at: t0 + MS(3000) },
            PollEvent::Polling { poll: 3 },
            PollEvent::NotModified,
            PollEvent::NextPoll { at: t0 + MS(4000) },
            PollEvent::Polling { poll: 4 },
            PollEvent::StatusChanged(operation("Succeeded")),
        ];
        for event in &events {
            lines.extend(s.apply(event, t0));
            if let PollEvent::PollFailed { .. } = event {
                assert!(render_live(&s, t0).contains("retrying after HTTP 503"));
            }
            if let PollEvent::NotModified = event {
                assert_eq!(s.last_problem, None, "an answer clears the problem");
            }
        }
        assert_eq!(s.polls, 4);
        assert!(!s.in_flight);
        assert_eq!(
            lines,
            [
                "[    0ms] Running; next poll in 1.0s",
                "[    0ms] poll 2 failed: HTTP 503; polling again",
                "[    0ms] Succeeded after 4 polls",
            ]
        );
        assert_eq!(
            render_live(&s, t0),
            "Succeeded · 0ms elapsed · finishing · 4 polls"
        );
    }

    #[test]
    fn a_status_with_no_next_poll_is_printed_at_the_next_poll() {
        // No next poll is announced when it would come after the deadline; a status line
        // still comes out, without a time, if another poll is sent.
        let t0 = Instant::now();
        let mut s = ProgressState::new(t0);
        assert_eq!(s.apply(&PollEvent::Polling { poll: 1 }, t0), None);
        assert_eq!(
            s.apply(&PollEvent::StatusChanged(operation("Running")), t0),
            None
        );
        assert_eq!(
            render_live(&s, t0),
            "Running · 0ms elapsed · no poll before the deadline · 1 poll"
        );
        assert_eq!(
            s.apply(&PollEvent::Polling { poll: 2 }, t0).as_deref(),
            Some("[    0ms] Running")
        );
    }

    #[test]
    fn server_text_is_escaped_in_every_line() {
        let t0 = Instant::now();
        let mut s = ProgressState::new(t0);
        s.status = Some(OperationStatus::Unknown("Run\x1b[2J\u{202E}ning".into()));
        let problem = "busy\x1b[2J\u{202E}";
        for line in [
            render_live(&s, t0),
            render_status_line(&s, t0),
            render_problem_line(&s, problem, t0),
        ] {
            assert!(
                line.contains("Run\\u{1b}[2J\\u{202e}ning")
                    || line.contains("busy\\u{1b}[2J\\u{202e}"),
                "{line}"
            );
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
    fn the_time_left_is_rounded_up_to_the_millisecond() {
        let t0 = Instant::now();
        let at = t0 + Duration::from_secs(1);
        assert_eq!(until(at, t0 + Duration::from_micros(20)), MS(1000));
        assert_eq!(until(at, at + MS(5)), Duration::ZERO);
    }

    #[test]
    fn plain_lines() {
        let t0 = Instant::now();
        let mut s = ProgressState::new(t0);
        s.polls = 3;
        s.status = Some(OperationStatus::Running);
        s.next_poll_at = Some(t0 + MS(3300));
        assert_eq!(
            render_status_line(&s, t0 + MS(2300)),
            "[   2.3s] Running; next poll in 1.0s"
        );
        s.status = Some(OperationStatus::Succeeded);
        assert_eq!(
            render_status_line(&s, t0 + MS(2300)),
            "[   2.3s] Succeeded after 3 polls"
        );
        assert_eq!(
            render_problem_line(&s, "HTTP 503", t0 + MS(500)),
            "[  500ms] poll 3 failed: HTTP 503; polling again"
        );
        s.last_problem = Some("HTTP 503".into());
        assert!(render_live(&s, t0).contains("retrying after HTTP 503"));
    }
}
