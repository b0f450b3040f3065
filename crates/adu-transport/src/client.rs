//! [`DeviceUpdateClient`]: get and wait for Device Update operations.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use adu_auth::TokenCredential;
use adu_model::{
    build_get_request, decide_retry, decode_get_operation_response, location_info, operation_uri,
    resolve_operation_location, ApiVersion, ETag, Endpoint, GetOperationOutcome, InstanceId,
    OperationId, OperationKind, OperationResponse, PollAction, PollEvent, PollPolicy, Poller,
    RetryCause, RetryDecision, RetryPolicy, WaitError,
};
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, USER_AGENT};
use tracing::Instrument;

use crate::error::{Error, TransportError, TransportErrorKind};
use crate::transport::{HttpTransport, HyperTransport, HyperTransportBuilder};

/// The `User-Agent` product this crate sends: `adu-transport/<version>`.
pub const USER_AGENT_PRODUCT: &str = concat!("adu-transport/", env!("CARGO_PKG_VERSION"));

/// The default per-try timeout: 30 seconds.
pub const DEFAULT_PER_TRY_TIMEOUT: Duration = Duration::from_secs(30);

const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-client-request-id");

/// A client for the Device Update "get operation status" API.
///
/// Cheap to clone (the connection pool and configuration are shared). Every method returns a
/// future; dropping it cancels the request or the wait, nothing keeps running in the background.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use adu_auth::StaticTokenCredential;
/// use adu_transport::{DeviceUpdateClient, PollEvent, WaitOptions};
///
/// # async fn demo() -> Result<(), adu_transport::Error> {
/// let credential = Arc::new(StaticTokenCredential::from_secret("eyJ0eXAi..."));
/// let client = DeviceUpdateClient::builder("contoso.api.adu.microsoft.com", "blue", credential)
///     .build()?;
/// let finished = client
///     .wait_for_operation(
///         "e4491c53",
///         WaitOptions::default()
///             .with_timeout(Duration::from_secs(600))
///             .on_event(|event| {
///                 if let PollEvent::StatusChanged(op) = event {
///                     println!("{}", op.status().as_str());
///                 }
///             }),
///     )
///     .await?;
/// if let Some(error) = finished.operation.error() {
///     eprintln!("failed: {} ({:?})", error.message, finished.operation.trace_id());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DeviceUpdateClient {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    instance: InstanceId,
    api_version: ApiVersion,
    credential: Arc<dyn TokenCredential>,
    scopes: Vec<String>,
    retry: RetryPolicy,
    poll: PollPolicy,
    per_try_timeout: Duration,
    user_agent: HeaderValue,
    transport: Arc<dyn HttpTransport>,
}

impl fmt::Debug for DeviceUpdateClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("DeviceUpdateClient")
            .field("endpoint", &inner.endpoint.base_url())
            .field("instance", &inner.instance.as_str())
            .field("api_version", &inner.api_version.as_str())
            .field("scopes", &inner.scopes)
            .field("retry", &inner.retry)
            .field("poll", &inner.poll)
            .field("per_try_timeout", &inner.per_try_timeout)
            .finish_non_exhaustive()
    }
}

/// Configures a [`DeviceUpdateClient`]; made by [`DeviceUpdateClient::builder`].
pub struct DeviceUpdateClientBuilder {
    endpoint: String,
    instance: String,
    credential: Arc<dyn TokenCredential>,
    api_version: ApiVersion,
    scopes: Vec<String>,
    retry: RetryPolicy,
    poll: PollPolicy,
    per_try_timeout: Duration,
    user_agent_prefix: Option<String>,
    transport: Option<Arc<dyn HttpTransport>>,
    hyper: Option<HyperTransportBuilder>,
}

impl fmt::Debug for DeviceUpdateClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceUpdateClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("instance", &self.instance)
            .field("api_version", &self.api_version.as_str())
            .finish_non_exhaustive()
    }
}

impl DeviceUpdateClientBuilder {
    /// The API version (default [`ApiVersion::default`], the newest; [`ApiVersion::V2`] is the
    /// legacy one).
    pub fn api_version(mut self, version: ApiVersion) -> Self {
        self.api_version = version;
        self
    }

    /// The scopes asked of the credential (default `https://api.adu.microsoft.com/.default`).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How failed requests are retried (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How [`DeviceUpdateClient::wait_for_operation`] paces its polls, unless
    /// [`WaitOptions::with_poll_policy`] overrides it (default [`PollPolicy::default`]).
    pub fn poll_policy(mut self, policy: PollPolicy) -> Self {
        self.poll = policy;
        self
    }

    /// The timeout of one try: sending, response head and whole body (default 30 s).
    ///
    /// It is handed to the transport's [`HttpTransport::call_with_timeout`], so one timer
    /// runs per try: a transport without a deadline of its own (a closure, say) gets a timer
    /// around its call, and [`HyperTransport`] applies the earlier of this and its own timeout.
    /// A try that runs out of time fails with [`TransportErrorKind::TimedOut`] (and is retried
    /// per the retry policy).
    pub fn per_try_timeout(mut self, timeout: Duration) -> Self {
        self.per_try_timeout = timeout;
        self
    }

    /// A product token put before `adu-transport/<version>` in `User-Agent`, such as
    /// `my-tool/1.2`.
    pub fn user_agent(mut self, prefix: impl Into<String>) -> Self {
        self.user_agent_prefix = Some(prefix.into());
        self
    }

    /// Sends requests through `transport` instead of the default [`HyperTransport`].
    pub fn transport(mut self, transport: Arc<dyn HttpTransport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Configures the default [`HyperTransport`] (extra roots, body cap, HTTP/2...). Its
    /// timeout defaults to the per-try timeout. Ignored when [`Self::transport`] is set.
    pub fn hyper_transport(mut self, builder: HyperTransportBuilder) -> Self {
        self.hyper = Some(builder);
        self
    }

    /// Validates the configuration and builds the client.
    ///
    /// Fails with [`Error::InvalidInput`] for a bad endpoint (including plain http to a host
    /// that is not loopback) or instance id, and with [`Error::Transport`] /
    /// [`Error::InvalidConfiguration`] when the default transport cannot be set up.
    pub fn build(self) -> Result<DeviceUpdateClient, Error> {
        let endpoint = Endpoint::parse(&self.endpoint).map_err(Error::from_model)?;
        let instance = InstanceId::new(self.instance).map_err(Error::from_model)?;
        if self.scopes.is_empty() {
            return Err(Error::InvalidConfiguration {
                message: "at least one scope is needed".into(),
            });
        }
        let user_agent = match &self.user_agent_prefix {
            Some(prefix) => format!("{prefix} {USER_AGENT_PRODUCT}"),
            None => USER_AGENT_PRODUCT.to_owned(),
        };
        let user_agent =
            HeaderValue::from_str(&user_agent).map_err(|_| Error::InvalidConfiguration {
                message: "the user agent must be visible ascii".into(),
            })?;
        let transport: Arc<dyn HttpTransport> = match self.transport {
            Some(transport) => transport,
            None => {
                let builder = self
                    .hyper
                    .unwrap_or_else(|| HyperTransport::builder().timeout(self.per_try_timeout));
                Arc::new(builder.build().map_err(Error::Transport)?)
            }
        };
        Ok(DeviceUpdateClient {
            inner: Arc::new(Inner {
                endpoint,
                instance,
                api_version: self.api_version,
                credential: self.credential,
                scopes: self.scopes,
                retry: self.retry,
                poll: self.poll,
                per_try_timeout: self.per_try_timeout,
                user_agent,
                transport,
            }),
        })
    }
}

/// Options of [`DeviceUpdateClient::get_operation_status`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct GetOptions {
    /// Sent as `If-None-Match`: the service answers 304 (not modified) if the operation still
    /// has this ETag. The same type as the ETags the client hands back
    /// ([`OperationResponse::etag`](adu_model::OperationResponse::etag)), so one can be sent
    /// back as it came.
    pub if_none_match: Option<ETag>,
}

impl GetOptions {
    /// Asks for the operation only if its ETag is no longer `etag` (an [`ETag`], or text).
    ///
    /// ```
    /// use adu_transport::GetOptions;
    ///
    /// let options = GetOptions::default().with_if_none_match("\"e0d5a1b2\"");
    /// assert_eq!(options.if_none_match.as_deref(), Some("\"e0d5a1b2\""));
    /// ```
    pub fn with_if_none_match(mut self, etag: impl Into<ETag>) -> Self {
        self.if_none_match = Some(etag.into());
        self
    }
}

type EventCallback = Box<dyn FnMut(&PollEvent) + Send>;

/// Options of [`DeviceUpdateClient::wait_for_operation`].
#[derive(Default)]
#[non_exhaustive]
pub struct WaitOptions {
    /// Give up after this long (measured from the call). `None` (the default) waits until the
    /// operation finishes or the future is dropped.
    pub timeout: Option<Duration>,
    /// Give up at this instant. With both set, the earlier one wins.
    pub deadline: Option<std::time::Instant>,
    /// Overrides the client's poll policy for this wait.
    pub poll_policy: Option<PollPolicy>,
    on_event: Option<EventCallback>,
}

impl fmt::Debug for WaitOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitOptions")
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("poll_policy", &self.poll_policy)
            .field("on_event", &self.on_event.is_some())
            .finish()
    }
}

impl WaitOptions {
    /// Give up after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Give up at `deadline`.
    pub fn with_deadline(mut self, deadline: std::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Pace the polls with `policy`.
    pub fn with_poll_policy(mut self, policy: PollPolicy) -> Self {
        self.poll_policy = Some(policy);
        self
    }

    /// Calls `callback` with each event of the wait's [`Poller`](adu_model::Poller), in
    /// order: each poll sent, each status change (the first status read included), each 304,
    /// each planned next poll and each poll that failed for a passing reason. To get a stream
    /// instead, send into a channel from the callback.
    ///
    /// ```
    /// use adu_transport::{PollEvent, WaitOptions};
    ///
    /// let options = WaitOptions::default().on_event(|event| {
    ///     if let PollEvent::StatusChanged(operation) = event {
    ///         println!("{}", operation.status().as_str());
    ///     }
    /// });
    /// # drop(options);
    /// ```
    pub fn on_event(mut self, callback: impl FnMut(&PollEvent) + Send + 'static) -> Self {
        self.on_event = Some(Box::new(callback));
        self
    }
}

#[derive(Clone, Copy)]
enum Target<'a> {
    Operation(&'a OperationId, OperationKind),
    Location(&'a str),
}

/// A [`Target`] resolved once per call or wait: the URI every try sends to (its origin
/// checked when it was resolved), the label of the tries' spans, and the API version and
/// kind the answers are decoded as.
pub(crate) struct Resolved<'a> {
    uri: http::Uri,
    label: &'a str,
    version: ApiVersion,
    kind: OperationKind,
}

impl DeviceUpdateClient {
    /// Starts configuring a client for `endpoint` (a host name such as
    /// `contoso.api.adu.microsoft.com`, `https://host[:port]`, or `http://127.0.0.1:PORT` for a
    /// local emulator), the Device Update `instance`, authenticating with `credential`.
    pub fn builder(
        endpoint: impl Into<String>,
        instance: impl Into<String>,
        credential: Arc<dyn TokenCredential>,
    ) -> DeviceUpdateClientBuilder {
        DeviceUpdateClientBuilder {
            endpoint: endpoint.into(),
            instance: instance.into(),
            credential,
            api_version: ApiVersion::default(),
            scopes: vec![adu_auth::scopes::CURRENT.to_owned()],
            retry: RetryPolicy::default(),
            poll: PollPolicy::default(),
            per_try_timeout: DEFAULT_PER_TRY_TIMEOUT,
            user_agent_prefix: None,
            transport: None,
            hyper: None,
        }
    }

    /// The validated endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// The API version used for operation ids.
    pub fn api_version(&self) -> ApiVersion {
        self.inner.api_version
    }

    /// Reads the operation's status once (with retries for transient failures).
    ///
    /// Returns [`GetOperationOutcome::Operation`] with the operation, its ETag and any
    /// Retry-After, or [`GetOperationOutcome::NotModified`] when
    /// [`GetOptions::if_none_match`] still matches. A Failed operation is an `Ok` outcome: look
    /// at its status and error.
    pub async fn get_operation_status(
        &self,
        operation_id: &str,
        options: &GetOptions,
    ) -> Result<GetOperationOutcome, Error> {
        self.get_status(operation_id, OperationKind::Update, options)
            .await
    }

    /// Like [`Self::get_operation_status`], for a device-management operation (a device
    /// import). The legacy API has none: [`Error::InvalidInput`] before anything is sent.
    pub async fn get_device_operation_status(
        &self,
        operation_id: &str,
        options: &GetOptions,
    ) -> Result<GetOperationOutcome, Error> {
        self.get_status(operation_id, OperationKind::Device, options)
            .await
    }

    async fn get_status(
        &self,
        operation_id: &str,
        kind: OperationKind,
        options: &GetOptions,
    ) -> Result<GetOperationOutcome, Error> {
        let id = OperationId::new(operation_id).map_err(Error::from_model)?;
        self.get(Target::Operation(&id, kind), options).await
    }

    /// Like [`Self::get_operation_status`], for an `Operation-Location` header value (relative
    /// with its query string, or absolute on the configured endpoint). A location on any other
    /// host is refused with [`Error::ForeignHost`] before anything is sent. The API version
    /// and the kind of operation are read from the location ([`adu_model::location_info`]): a
    /// device-management location decodes as
    /// [`AnyOperation::Device`](adu_model::AnyOperation::Device), and a version this
    /// crate does not speak is refused.
    pub async fn get_operation_location(
        &self,
        location: &str,
        options: &GetOptions,
    ) -> Result<GetOperationOutcome, Error> {
        self.get(Target::Location(location), options).await
    }

    /// One read of `target`, as one call.
    async fn get(
        &self,
        target: Target<'_>,
        options: &GetOptions,
    ) -> Result<GetOperationOutcome, Error> {
        let target = self.resolve(target)?;
        // Built before any token is asked for, so a request the client refuses (an ETag
        // that cannot be a header) never causes a token request.
        let request = build_get_request(target.uri.clone(), options.if_none_match.as_deref())
            .map_err(Error::from_model)?;
        self.execute(&target, request, None).await
    }

    /// Polls the operation until it is Succeeded or Failed, and returns it.
    ///
    /// The wait is an [`adu_model::Poller`] driven on tokio: it decides, this sends and
    /// sleeps. Each poll is one call with its own `x-ms-client-request-id` and its own retries.
    ///
    /// - A **Failed operation is returned as `Ok`**: the wait worked, and the operation carries
    ///   the whole error chain ([`error`](adu_model::AnyOperation::error),
    ///   [`inner_errors`](adu_model::AnyOperation::inner_errors)) and the trace id. Check
    ///   [`status`](adu_model::AnyOperation::status).
    /// - Polls are paced by Retry-After, clamped by the poll policy's floor and ceiling, and
    ///   made conditional with `If-None-Match` and the last ETag; a 304 keeps the last operation.
    /// - Unknown statuses keep polling up to the policy's bound, then
    ///   [`Error::UnknownStatus`].
    /// - A poll that fails for a passing reason after its own retries (429, a retryable 5xx,
    ///   no connection, a timeout, a token endpoint briefly down) does not end the wait: it
    ///   sleeps for the failure's `Retry-After` (or the default interval) and polls again, up
    ///   to [`PollPolicy::max_failed_polls`] failures in a row; then the failure itself is
    ///   returned. When the next poll (or a retry) would come after the deadline, the wait ends
    ///   at once with [`Error::DeadlineExceeded`], the failure as its `cause`.
    /// - [`Error::DeadlineExceeded`] (with the last operation seen) when the timeout or
    ///   deadline passes, a poll in flight included; no sleep goes past it. Dropping the
    ///   future cancels the wait.
    /// - [`WaitOptions::on_event`] sees each of the poller's events.
    pub async fn wait_for_operation(
        &self,
        operation_id: &str,
        options: WaitOptions,
    ) -> Result<OperationResponse, Error> {
        let id = OperationId::new(operation_id).map_err(Error::from_model)?;
        self.wait(Target::Operation(&id, OperationKind::Update), options)
            .await
    }

    /// Like [`Self::wait_for_operation`], for a device-management operation (a device
    /// import). The legacy API has none: [`Error::InvalidInput`] before anything is sent.
    pub async fn wait_for_device_operation(
        &self,
        operation_id: &str,
        options: WaitOptions,
    ) -> Result<OperationResponse, Error> {
        let id = OperationId::new(operation_id).map_err(Error::from_model)?;
        self.wait(Target::Operation(&id, OperationKind::Device), options)
            .await
    }

    /// Like [`Self::wait_for_operation`], starting from an `Operation-Location` header value.
    pub async fn wait_for_operation_location(
        &self,
        location: &str,
        options: WaitOptions,
    ) -> Result<OperationResponse, Error> {
        self.wait(Target::Location(location), options).await
    }

    async fn wait(
        &self,
        target: Target<'_>,
        options: WaitOptions,
    ) -> Result<OperationResponse, Error> {
        let WaitOptions {
            timeout,
            deadline,
            poll_policy,
            mut on_event,
        } = options;
        // Refused (a foreign location, say) before the first poll, and resolved only once.
        let target = self.resolve(target)?;
        let policy = poll_policy.unwrap_or_else(|| self.inner.poll.clone());
        let now = tokio::time::Instant::now();
        let deadline = [
            timeout.and_then(|t| now.checked_add(t)),
            deadline.map(tokio::time::Instant::from_std),
        ]
        .into_iter()
        .flatten()
        .min();
        let mut poller = Poller::new(target.uri.clone(), policy, deadline.map(|d| d.into_std()));
        let driving = self.drive(&target, &mut poller, deadline, &mut on_event);
        match deadline {
            None => driving.await,
            // The whole wait, a poll in flight included, ends at the deadline.
            Some(deadline) => match tokio::time::timeout_at(deadline, driving).await {
                Ok(result) => result,
                Err(_) => Err(Error::DeadlineExceeded {
                    last: poller.last_operation().cloned().map(Box::new),
                    cause: None,
                }),
            },
        }
    }

    /// Carries out the poller's actions: sends its polls (each one call, with its own
    /// retries), sleeps as it says, and hands each event to the callback.
    async fn drive(
        &self,
        target: &Resolved<'_>,
        poller: &mut Poller<Error>,
        deadline: Option<tokio::time::Instant>,
        on_event: &mut Option<EventCallback>,
    ) -> Result<OperationResponse, Error> {
        let now = || tokio::time::Instant::now().into_std();
        loop {
            let action = poller.next_action(now());
            report(poller, target.label, on_event);
            match action {
                PollAction::Send(request) => match self.execute(target, request, deadline).await {
                    Ok(outcome) => poller.handle_outcome(outcome, now()),
                    Err(error) => match passing_failure(&error) {
                        Some(retry_after) => poller.handle_failure(error, retry_after, now()),
                        None => return Err(error),
                    },
                },
                PollAction::SleepUntil(at) => {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await
                }
                PollAction::Done(response) => return Ok(response),
                PollAction::Failed(error) => return Err(wait_error(error)),
            }
            report(poller, target.label, on_event);
        }
    }

    /// One logical read of an operation: [`Self::send`] of `request`, decoded as the
    /// target's version and kind, the operation's trace id recorded on the try's span.
    async fn execute(
        &self,
        target: &Resolved<'_>,
        request: http::Request<Vec<u8>>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<GetOperationOutcome, Error> {
        let (version, kind) = (target.version, target.kind);
        let decode = |response: &http::Response<Vec<u8>>, span: &tracing::Span| {
            let outcome =
                decode_get_operation_response(version, kind, response, SystemTime::now())?;
            if let GetOperationOutcome::Operation(r) = &outcome {
                if let Some(trace) = r.operation.trace_id() {
                    span.record("trace_id", trace);
                }
            }
            Ok(outcome)
        };
        self.send(target, request, deadline, decode).await
    }

    /// One logical call: tries, retries, 401 refresh, all with one `x-ms-client-request-id`
    /// (as Microsoft's clients set it in a policy that runs before their retry policy), so
    /// the service's logs tie the tries of one call together. Each try sends a copy of
    /// `request` (a GET on a URI `resolve` checked); each answer is read by `decode` (called
    /// again on an answer whose token was scrubbed, so it must not keep state).
    ///
    /// A retry that would start after `deadline` (a wait's) is not made: the failure is
    /// returned instead of ending in the deadline, which would hide it.
    pub(crate) async fn send<T>(
        &self,
        target: &Resolved<'_>,
        request: http::Request<Vec<u8>>,
        deadline: Option<tokio::time::Instant>,
        decode: impl Fn(&http::Response<Vec<u8>>, &tracing::Span) -> Result<T, adu_model::Error>,
    ) -> Result<T, Error> {
        let inner = &*self.inner;
        // Checked again here, where every request passes, so no token leaves for another
        // origin whoever built the request.
        check_target(&inner.endpoint, request.uri())?;
        let started = tokio::time::Instant::now();
        let request_id = uuid::Uuid::new_v4();
        let mut attempts = 0u32;
        let mut refreshed = false;
        loop {
            attempts += 1;
            let span = tracing::info_span!(
                "adu_request",
                operation_id = target.label,
                attempt = attempts,
                request_id = %request_id,
                status = tracing::field::Empty,
                trace_id = tracing::field::Empty,
            );
            let attempt = self.try_once(&request, request_id, &span, &decode);
            let (cause, error) = match attempt.instrument(span.clone()).await {
                Ok(outcome) => return Ok(outcome),
                Err(Failed::Final(error)) => return Err(error),
                Err(Failed::Unauthorized(_)) if !refreshed => {
                    // RFC 6750 §3.1: the token was rejected. Drop it and try once more with a
                    // fresh one; a second 401 is returned to the caller.
                    refreshed = true;
                    inner.credential.invalidate(&inner.scope_list());
                    tracing::debug!(parent: &span, "401: token invalidated, retrying once");
                    continue;
                }
                Err(Failed::Unauthorized(error)) => return Err(error),
                Err(Failed::Retryable(cause, error)) => (cause, error),
            };
            let jitter: f64 = rand::random();
            match decide_retry(&inner.retry, &cause, attempts, started.elapsed(), jitter) {
                RetryDecision::RetryAfter(delay) if !before(deadline, delay) => return Err(error),
                RetryDecision::RetryAfter(delay) => {
                    tracing::debug!(parent: &span, ?delay, "retrying");
                    tokio::time::sleep(delay).await;
                }
                RetryDecision::DoNotRetry => return Err(error),
            }
        }
    }

    /// One try: copy the request, attach the token and headers, send it with the per-try
    /// timeout and decode the answer. The status and trace id are recorded on `span`, the
    /// try's own span (a no-op when it is disabled, rather than on whatever span is current).
    async fn try_once<T>(
        &self,
        template: &http::Request<Vec<u8>>,
        request_id: uuid::Uuid,
        span: &tracing::Span,
        decode: &impl Fn(&http::Response<Vec<u8>>, &tracing::Span) -> Result<T, adu_model::Error>,
    ) -> Result<T, Failed> {
        let inner = &*self.inner;
        let mut request = copy_request(template);
        let bearer = self.bearer().await.map_err(Failed::Final)?;
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, bearer.clone());
        headers.insert(USER_AGENT, inner.user_agent.clone());
        let id = request_id.hyphenated().to_string();
        headers.insert(
            CLIENT_REQUEST_ID,
            HeaderValue::from_str(&id).expect("a uuid is ascii"),
        );
        let mut response = inner
            .transport
            .call_with_timeout(request, inner.per_try_timeout)
            .await
            .map_err(transport_failure)?;
        let status = response.status();
        span.record("status", status.as_u16());
        if let Some(trace) = header_trace_id(response.headers()) {
            span.record("trace_id", trace);
        }
        let decoded = match decode(&response, span) {
            // An answer that repeats the token it was sent is decoded again without it, so no
            // error value carries the token.
            Err(_) if scrub_token(response.body_mut(), &bearer) => decode(&response, span),
            decoded => decoded,
        };
        match decoded {
            Ok(outcome) => {
                tracing::debug!(status = status.as_u16(), "response");
                Ok(outcome)
            }
            Err(error) => Err(failed_answer(status, error, span)),
        }
    }

    /// A page of a list as a target: `uri` (refused as [`Self::resolve`] refuses a target
    /// off the endpoint), read as `version`.
    pub(crate) fn resolve_page<'a>(
        &self,
        uri: http::Uri,
        label: &'a str,
        version: ApiVersion,
        kind: OperationKind,
    ) -> Result<Resolved<'a>, Error> {
        check_target(&self.inner.endpoint, &uri)?;
        Ok(Resolved {
            uri,
            label,
            version,
            kind,
        })
    }

    /// The instance.
    pub(crate) fn instance(&self) -> &InstanceId {
        &self.inner.instance
    }

    /// Resolves `target` into the URI its tries are sent to, refused if it would not go to
    /// the endpoint's origin (or would go over plain http to a host that is not loopback).
    fn resolve<'a>(&self, target: Target<'a>) -> Result<Resolved<'a>, Error> {
        let inner = &*self.inner;
        let (uri, label) = match target {
            Target::Operation(id, kind) => (
                operation_uri(
                    &inner.endpoint,
                    &inner.instance,
                    id,
                    kind,
                    inner.api_version,
                ),
                id.as_str(),
            ),
            Target::Location(location) => (
                resolve_operation_location(&inner.endpoint, location),
                location,
            ),
        };
        let uri = uri.map_err(Error::from_model)?;
        let (version, kind) = match target {
            // Read from the resolved URI, the path the request will really name; the whole
            // URI, since a path alone that starts with `//` would read as scheme-relative.
            Target::Location(_) => location_info(&uri.to_string()).map_err(Error::from_model)?,
            Target::Operation(_, kind) => (inner.api_version, kind),
        };
        // Checked once, before any token is attached: every try sends this same URI.
        check_target(&inner.endpoint, &uri)?;
        Ok(Resolved {
            uri,
            label,
            version,
            kind,
        })
    }

    /// `Bearer <token>` for a token from the credential, as a sensitive header value.
    async fn bearer(&self) -> Result<HeaderValue, Error> {
        let inner = &*self.inner;
        let token = inner
            .credential
            .get_token(&inner.scope_list())
            .await
            .map_err(Error::Auth)?;
        let mut value =
            HeaderValue::try_from(format!("Bearer {}", token.secret())).map_err(|_| {
                Error::InvalidConfiguration {
                    message: "the access token contains characters not allowed in a header".into(),
                }
            })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// What to do about an answer with `status` that did not decode into an operation: a service
/// error is retried (a 401 once, with a fresh token) or not as `decide_retry` says, anything
/// else is returned. The service's trace id is recorded on `span`.
fn failed_answer(
    status: http::StatusCode,
    error: adu_model::Error,
    span: &tracing::Span,
) -> Failed {
    match error {
        adu_model::Error::Service(service) => {
            if let Some(trace) = service.trace_id() {
                span.record("trace_id", trace);
            }
            tracing::debug!(
                status = status.as_u16(),
                code = service.code(),
                "service error"
            );
            let cause = RetryCause::Status {
                status,
                retry_after: service.retry_after(),
            };
            if status == http::StatusCode::UNAUTHORIZED {
                Failed::Unauthorized(Error::Service(service))
            } else {
                Failed::Retryable(cause, Error::Service(service))
            }
        }
        other => Failed::Final(Error::from_model(other)),
    }
}

impl Inner {
    /// The scopes as the credential takes them.
    fn scope_list(&self) -> Vec<&str> {
        self.scopes.iter().map(String::as_str).collect()
    }
}

/// The shortest token [`scrub_token`] looks for in an error answer.
const MIN_SCRUBBED_TOKEN: usize = 16;

/// Replaces the token of `bearer` (`Bearer TOKEN`, at least [`MIN_SCRUBBED_TOKEN`] bytes)
/// wherever `body` repeats it, as a service or proxy that echoes the request's headers in
/// an error may: the token must not reach an error value, a log or a terminal. Says whether
/// it found any. (Azure AD's tokens are JWTs, whose characters need no escaping in JSON, a
/// URL or a form; a shorter token, a test's "t", would match inside ordinary words.)
fn scrub_token(body: &mut Vec<u8>, bearer: &HeaderValue) -> bool {
    let Some(secret) = bearer.as_bytes().strip_prefix(b"Bearer ") else {
        return false;
    };
    if secret.len() < MIN_SCRUBBED_TOKEN || memchr::memmem::find(body, secret).is_none() {
        return false;
    }
    let mut scrubbed = Vec::with_capacity(body.len());
    let mut rest = body.as_slice();
    while let Some(at) = memchr::memmem::find(rest, secret) {
        scrubbed.extend_from_slice(&rest[..at]);
        scrubbed.extend_from_slice(b"[redacted]");
        rest = &rest[at + secret.len()..];
    }
    scrubbed.extend_from_slice(rest);
    *body = scrubbed;
    true
}

/// Whether a pause of `delay` from now ends before `deadline` (always, without one).
fn before(deadline: Option<tokio::time::Instant>, delay: Duration) -> bool {
    deadline.is_none_or(|deadline| {
        tokio::time::Instant::now()
            .checked_add(delay)
            .is_some_and(|at| at < deadline)
    })
}

/// Hands the poller's new events to the wait's callback, logging the ones worth a line.
fn report(poller: &mut Poller<Error>, label: &str, on_event: &mut Option<EventCallback>) {
    while let Some(event) = poller.poll_event() {
        match &event {
            PollEvent::StatusChanged(operation) => tracing::debug!(
                operation_id = operation.operation_id(),
                status = operation.status().as_str(),
                "operation status changed"
            ),
            PollEvent::PollFailed {
                failed_polls,
                message,
                delay,
            } => tracing::warn!(
                operation_id = label,
                failed_polls,
                ?delay,
                error = %message,
                "poll failed; polling again"
            ),
            _ => {}
        }
        if let Some(callback) = on_event.as_mut() {
            callback(&event);
        }
    }
}

/// The client's error for the end of a wait without a finished operation: a failure that
/// came back too often is returned as itself.
fn wait_error(error: WaitError<Error>) -> Error {
    match error {
        WaitError::DeadlineExceeded { last, cause } => Error::DeadlineExceeded {
            last,
            cause: cause.map(Box::new),
        },
        WaitError::TooManyFailedPolls { last, .. } => last,
        WaitError::UnknownStatus { status, last } => Error::UnknownStatus { status, last },
        // `drive` returns at the first end, so the poller never hands out a second one.
        other => Error::InvalidConfiguration {
            message: other.to_string(),
        },
    }
}

/// A copy of a try's request (`http::Request` is not `Clone`: its extensions may not be).
fn copy_request(template: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    let mut request = http::Request::new(template.body().clone());
    *request.method_mut() = template.method().clone();
    *request.uri_mut() = template.uri().clone();
    *request.headers_mut() = template.headers().clone();
    request
}

/// Whether a failed poll failed for a passing reason a wait outlives, with the failure's
/// `Retry-After` if it had one: `None` for a failure that polling again cannot mend.
fn passing_failure(error: &Error) -> Option<Option<Duration>> {
    match error {
        Error::Service(service) if service.is_retryable() => Some(service.retry_after()),
        Error::Transport(transport) => transport.is_transient().then_some(None),
        // A token endpoint that cannot be reached or is briefly down; not one whose
        // certificate is untrusted or whose request cannot be made, which the same TLS
        // failure at the service already ends at once.
        Error::Auth(auth) if auth.is_transient() && !lasting_transport_failure_in(auth) => {
            Some(None)
        }
        _ => None,
    }
}

/// Whether `error`'s chain holds a [`TransportError`] that another try would not mend.
fn lasting_transport_failure_in(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(mut e) = current {
        // Looked through with `inner`: as a source, an `HttpClientError` hands out the `Arc`
        // it keeps the error in, which no downcast to `TransportError` sees through.
        if let Some(http) = e.downcast_ref::<adu_auth::HttpClientError>() {
            e = http.inner();
        }
        if e.downcast_ref::<TransportError>()
            .is_some_and(|t| !t.is_transient())
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// How a try failed.
enum Failed {
    /// Returned as is: the request could not be built or authorized, the answer could not be
    /// decoded, or the transport failed in a way another try would not fix.
    Final(Error),
    /// The service answered 401: retried once with a fresh token.
    Unauthorized(Error),
    /// Possibly retryable: `decide_retry` has the last word.
    Retryable(RetryCause, Error),
}

fn transport_failure(error: TransportError) -> Failed {
    tracing::debug!(kind = ?error.kind(), error = %error, "transport error");
    let cause = match error.kind() {
        TransportErrorKind::TimedOut => RetryCause::TimedOut,
        TransportErrorKind::Connect | TransportErrorKind::Connection => {
            RetryCause::ConnectionFailed
        }
        _ => return Failed::Final(Error::Transport(error)),
    };
    Failed::Retryable(cause, Error::Transport(error))
}

/// Refuses to attach a token for a request that is not on the endpoint's origin, or that would
/// travel over plain http to a host that is not loopback.
pub(crate) fn check_target(endpoint: &Endpoint, uri: &http::Uri) -> Result<(), Error> {
    if !endpoint.same_origin(uri) {
        return Err(Error::ForeignHost {
            target: origin_of(uri),
        });
    }
    // Same origin: the URI has the endpoint's scheme and host, so the endpoint says whether
    // the request is secure. `Endpoint::parse` already refuses plain http to a host that is
    // not loopback; this keeps the guarantee here whatever made the endpoint.
    if !is_secure_endpoint(endpoint) {
        return Err(Error::InsecureTransport {
            target: origin_of(uri),
        });
    }
    Ok(())
}

/// https, or http to a loopback host.
fn is_secure_endpoint(endpoint: &Endpoint) -> bool {
    endpoint.scheme() == "https" || endpoint.is_loopback()
}

fn origin_of(uri: &http::Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map(|a| a.as_str()).unwrap_or("?")
    )
}

/// The service's id for a response, from the headers: `x-ms-request-id`, else the trace id of
/// a W3C `traceparent`.
fn header_trace_id(headers: &http::HeaderMap) -> Option<&str> {
    if let Some(id) = headers.get("x-ms-request-id").and_then(|v| v.to_str().ok()) {
        return Some(id);
    }
    let traceparent = headers.get("traceparent")?.to_str().ok()?;
    // W3C Trace Context: version-traceid-parentid-flags.
    traceparent.split('-').nth(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_foreign(endpoint: &Endpoint, uri: &str) {
        let parsed: http::Uri = uri.parse().unwrap();
        assert!(
            matches!(
                check_target(endpoint, &parsed),
                Err(Error::ForeignHost { .. })
            ),
            "{uri}"
        );
    }

    #[test]
    fn token_only_goes_to_the_endpoint_origin() {
        let endpoint = Endpoint::parse("contoso.api.adu.microsoft.com").unwrap();
        let ok: http::Uri = "https://contoso.api.adu.microsoft.com/deviceUpdate/x"
            .parse()
            .unwrap();
        assert!(check_target(&endpoint, &ok).is_ok());
        for foreign in [
            "https://evil.example/deviceUpdate/x",
            "http://contoso.api.adu.microsoft.com/deviceUpdate/x",
            "https://contoso.api.adu.microsoft.com:8443/deviceUpdate/x",
        ] {
            assert_foreign(&endpoint, foreign);
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for (base, uri) in [
            ("https://example.com", "https://example.com/x"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/x"),
            ("http://localhost", "http://localhost/x"),
            ("http://LocalHost:1", "http://localhost:1/x"),
            ("http://[::1]:1", "http://[::1]:1/x"),
        ] {
            let endpoint = Endpoint::parse(base).unwrap();
            let parsed: http::Uri = uri.parse().unwrap();
            assert!(is_secure_endpoint(&endpoint), "{base}");
            assert!(check_target(&endpoint, &parsed).is_ok(), "{base} {uri}");
        }
        // Another loopback host is still another origin, and the same host over http when the
        // endpoint is https is refused too.
        let endpoint = Endpoint::parse("http://127.0.0.1:9").unwrap();
        for foreign in [
            "http://localhost:9/x",
            "http://127.0.0.2:9/x",
            "ftp://127.0.0.1:9/x",
        ] {
            assert_foreign(&endpoint, foreign);
        }
    }

    #[test]
    fn trace_id_from_headers() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
        assert_eq!(
            header_trace_id(&headers),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        headers.insert("x-ms-request-id", HeaderValue::from_static("abc"));
        assert_eq!(header_trace_id(&headers), Some("abc"));
    }
}
