//! The HTTP seam: an object-safe one-method trait, implemented for every
//! `oauth2::AsyncHttpClient` whose future is `Send` (closures included), and
//! the adapter that drives `oauth2`'s requests through it.

use std::sync::{Arc, Mutex};

use crate::credential::BoxFuture;
use crate::error::{bounded_text, Error, HttpClientError, ServerError};
use crate::response::AzureErrorResponse;

/// An HTTP client for the token endpoint: one request in, one response out.
///
/// This is object safe (credentials hold an `Arc<dyn HttpClient>`, so they
/// are not generic and their futures are `Send`). It is implemented for
/// every `oauth2::AsyncHttpClient` whose future is `Send` and whose error is
/// `Send + Sync`, which includes closures such as
/// `|req| async move { Ok::<_, HttpClientError>(response) }`.
///
/// Implementations must not follow redirects, and should speak HTTP/1.1 and
/// apply a timeout.
pub trait HttpClient: Send + Sync {
    /// Sends one request and returns the response, whatever its status.
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpClientError>>;
}

impl<C> HttpClient for C
where
    C: for<'c> oauth2::AsyncHttpClient<'c> + Send + Sync,
    for<'c> <C as oauth2::AsyncHttpClient<'c>>::Future: Send,
    for<'c> <C as oauth2::AsyncHttpClient<'c>>::Error: Send + Sync,
{
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpClientError>> {
        let future = oauth2::AsyncHttpClient::call(self, request);
        Box::pin(async move { future.await.map_err(HttpClientError::new) })
    }
}

/// A shared, type-erased HTTP client.
pub type SharedHttpClient = Arc<dyn HttpClient>;

/// How many bytes past [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES) the
/// recorder keeps, so that a secret that starts before the bound is still
/// whole when the body is scrubbed (before it is cut). An echoed character
/// takes at most 6 bytes per byte of the secret (`\u0022` for `"`), so this
/// covers secrets (and client assertions) up to 10 KiB.
pub(crate) const REDACTION_SLACK: usize = 64 * 1024;

/// Remembers the status and body of the last response, which `oauth2`'s
/// errors do not keep (a non-JSON error body is reported with its status).
#[derive(Default)]
pub(crate) struct Recorder {
    last: Mutex<Option<Recorded>>,
}

#[derive(Clone, Default)]
struct Recorded {
    status: u16,
    /// The start of the body.
    body: Vec<u8>,
    /// Whether the body went on past what is kept.
    truncated: bool,
}

impl Recorder {
    fn record(&self, status: u16, body: &[u8]) {
        let keep = body
            .len()
            .min(crate::error::MAX_BODY_BYTES + REDACTION_SLACK);
        if let Ok(mut last) = self.last.lock() {
            *last = Some(Recorded {
                status,
                body: body[..keep].to_vec(),
                truncated: keep < body.len(),
            });
        }
    }

    fn last(&self) -> Recorded {
        self.last
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .unwrap_or_default()
    }
}

/// The adapter handed to `oauth2`'s `request_async`. It owns what it uses
/// (no lifetime parameter): with a borrowed adapter, rustc cannot prove the
/// resulting future `Send` for every lifetime.
pub(crate) struct Adapter {
    http: SharedHttpClient,
    recorder: Arc<Recorder>,
}

pub(crate) fn adapter(http: &SharedHttpClient, recorder: &Arc<Recorder>) -> Adapter {
    Adapter {
        http: http.clone(),
        recorder: recorder.clone(),
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for Adapter {
    type Error = HttpClientError;
    type Future = BoxFuture<'c, Result<http::Response<Vec<u8>>, HttpClientError>>;

    fn call(&'c self, request: http::Request<Vec<u8>>) -> Self::Future {
        Box::pin(async move {
            let response = self.http.call(request).await?;
            self.recorder
                .record(response.status().as_u16(), response.body());
            Ok(response)
        })
    }
}

/// Turns `oauth2`'s error into ours, using what the recorder saw, with
/// `secrets` redacted from every text the server sent.
pub(crate) fn map_request_error(
    error: oauth2::RequestTokenError<HttpClientError, AzureErrorResponse>,
    recorder: &Recorder,
    secrets: &[&str],
) -> Error {
    let Recorded {
        status,
        body,
        truncated,
    } = recorder.last();
    // A success answer is a token response (access, refresh and id tokens):
    // none of it is kept, only what was wrong with it. `oauth2` reads only
    // `200` as a token response; any other 2xx is treated alike.
    let success = (200..300).contains(&status);
    let kept = |body: &[u8]| {
        if success {
            String::new()
        } else {
            bounded_text(body, truncated, secrets)
        }
    };
    let error = match error {
        oauth2::RequestTokenError::ServerResponse(response) => Error::TokenEndpoint {
            status,
            response: Box::new(ServerError::from(response)),
        },
        oauth2::RequestTokenError::Request(source) => Error::Http { source },
        oauth2::RequestTokenError::Parse(parse, _) => Error::UnexpectedResponse {
            status,
            // The path names the field; the serde message is left out
            // because it quotes the offending value.
            detail: if status == 200 {
                format!("the token response is not valid ({})", parse.path())
            } else if success {
                format!("a {status} answer is not a token response")
            } else {
                "the error body is not an OAuth2 error response".to_owned()
            },
            body: kept(&body),
        },
        // `oauth2`'s own messages (empty body, wrong content type) quote
        // no part of the body.
        oauth2::RequestTokenError::Other(message) => Error::UnexpectedResponse {
            status,
            detail: lowercase_first(&message),
            body: kept(&body),
        },
    };
    error.redact(secrets)
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_BODY_BYTES;

    /// The recorder keeps past the bound, so that a secret echoed in a long
    /// encoding just before the bound is whole when it is scrubbed.
    #[test]
    fn recorder_keeps_enough_to_scrub_past_the_bound() {
        let secret = "~".repeat(300);
        let encoded = "%7E".repeat(300);
        let body = format!("{}{encoded}", "x".repeat(MAX_BODY_BYTES - 10));
        let recorder = Recorder::default();
        recorder.record(500, body.as_bytes());
        let recorded = recorder.last();
        assert_eq!(recorded.body.len(), body.len());
        assert!(!recorded.truncated);
        let text = bounded_text(&recorded.body, recorded.truncated, &[&secret]);
        assert!(!text.contains("%7E"), "{text}");

        let huge = vec![b'x'; MAX_BODY_BYTES + REDACTION_SLACK + 1];
        recorder.record(500, &huge);
        let recorded = recorder.last();
        assert_eq!(recorded.body.len(), MAX_BODY_BYTES + REDACTION_SLACK);
        assert!(recorded.truncated);
    }
}
