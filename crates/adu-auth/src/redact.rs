//! Scrubbing the secrets a request sent out of the few server texts an error
//! shows.
//!
//! Redaction holds by structure: an error never shows a token endpoint's body,
//! only the fields parsed out of an OAuth2 error (RFC 6749 §5.2) or an error
//! redirect (§4.1.2.1), and the token type of a refused token. In those fields
//! a server may still echo what it was sent, so every exact encoding of every
//! secret sent (see [`encodings`]) is replaced with [`REDACTED`] in one linear
//! Aho-Corasick pass.

use aho_corasick::{AhoCorasick, MatchKind};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "[redacted]";

/// RFC 3986 §2.3: everything but the unreserved characters is percent-encoded
/// (as .NET's `Uri.EscapeDataString` and most URL libraries do).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// JavaScript's `encodeURIComponent`: the unreserved characters and `!'()*` are kept.
const JS_COMPONENT: &AsciiSet = &COMPONENT
    .remove(b'!')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*');

/// Finds the secrets of one request in server text.
pub(crate) struct Scrubber {
    /// Building fails only on patterns far larger than any secret; then every
    /// scrubbed text is hidden whole (it fails closed).
    finder: Result<AhoCorasick, aho_corasick::BuildError>,
}

impl Scrubber {
    /// A scrubber for the secrets a request sent (client secret, password,
    /// refresh token, authorization code, PKCE verifier, `state`).
    pub(crate) fn new(secrets: &[impl AsRef<str>]) -> Self {
        let patterns = secrets
            .iter()
            .map(AsRef::as_ref)
            .filter(|s| !s.is_empty())
            .flat_map(encodings);
        // Case-insensitive: percent-encoding's hex digits and HTML's references
        // come in either case, and a secret echoed in another case (a
        // lower-cased token type) is still hidden.
        let finder = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns);
        Scrubber { finder }
    }

    /// Replaces every encoding of every secret in `text` with [`REDACTED`].
    pub(crate) fn scrub(&self, text: &mut String) {
        match &self.finder {
            Ok(finder) => {
                let mut out = String::with_capacity(text.len());
                finder.replace_all_with(text, &mut out, |_, _, out| {
                    out.push_str(REDACTED);
                    true
                });
                *text = out;
            }
            Err(_) => REDACTED.clone_into(text),
        }
    }
}

/// The forms a secret takes when a server echoes it: raw (also what a JSON
/// parser gives back of any JSON escaping); form-urlencoded exactly as `oauth2`
/// sends it (`url::form_urlencoded`: space as `+`, `~` as `%7E`), and with
/// `%20` for the space; percent-encoded as a URL component (RFC 3986, and as
/// `encodeURIComponent` writes it); JSON-escaped (a JSON text quoted inside a
/// field); and HTML-escaped.
fn encodings(secret: &str) -> [String; 7] {
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    // A JSON string's text always starts and ends with its quotes.
    let json = serde_json::Value::from(secret).to_string();
    // Five replacements by hand: an HTML-escaping crate would be larger than them.
    let html = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    [
        secret.to_owned(),
        form.replace('+', "%20"),
        form,
        utf8_percent_encode(secret, COMPONENT).to_string(),
        utf8_percent_encode(secret, JS_COMPONENT).to_string(),
        json[1..json.len() - 1].to_owned(),
        html,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubbed(text: &str, secrets: &[&str]) -> String {
        let mut text = text.to_owned();
        Scrubber::new(secrets).scrub(&mut text);
        text
    }

    /// `%7E` as `%7e`, the rest unchanged.
    fn lower_hex(text: &str) -> String {
        let mut out = String::new();
        let mut after_percent = 0;
        for c in text.chars() {
            if after_percent > 0 {
                out.push(c.to_ascii_lowercase());
                after_percent -= 1;
            } else {
                out.push(c);
                if c == '%' {
                    after_percent = 2;
                }
            }
        }
        out
    }

    #[test]
    fn every_encoding_of_a_secret_is_redacted() {
        let secret = "Abc8Q~x y@z+&=\"/\\é😀'<>";
        let json = serde_json::to_string(secret).unwrap();
        let json = &json[1..json.len() - 1];
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let percent_20 = lower_hex(&form.replace('+', "%20"));
        // Percent-encoded as RFC 3986 asks (.NET's `Uri.EscapeDataString`), as JavaScript's
        // `encodeURIComponent` writes it (`!'()*` kept), and HTML-escaped (a reference in
        // upper case).
        let component = "Abc8Q~x%20y%40z%2B%26%3D%22%2F%5C%C3%A9%F0%9F%98%80%27%3C%3E";
        let js_component = "Abc8Q~x%20y%40z%2B%26%3D%22%2F%5C%C3%A9%F0%9F%98%80'%3C%3E";
        let html = "Abc8Q~x y@z+&amp;=&quot;/\\é😀&#39;&lt;&GT;";
        for echo in [
            secret,
            json,
            &form,
            &percent_20,
            component,
            js_component,
            html,
        ] {
            let text = format!("before {echo} after {echo}");
            assert_eq!(
                scrubbed(&text, &["other-secret", secret]),
                "before [redacted] after [redacted]",
                "{echo}"
            );
        }
    }

    #[test]
    fn the_form_encoding_is_the_one_oauth2_sends() {
        // The request body oauth2 builds, with the secret's `~` as `%7E`.
        let sent = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_secret", "Abc8Q~xyz")
            .finish();
        assert_eq!(sent, "client_secret=Abc8Q%7Exyz");
        let text = format!("grant_type=x&{sent}&scope=s");
        assert_eq!(
            scrubbed(&text, &["Abc8Q~xyz"]),
            "grant_type=x&client_secret=[redacted]&scope=s"
        );
    }

    #[test]
    fn an_echoed_authorization_code_and_verifier_are_redacted() {
        let code = format!("0.AXoA{}", "x-Y_z9".repeat(33));
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let text = format!(
            "AADSTS70008: bad grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2Flocalhost&code_verifier={verifier}"
        );
        assert_eq!(
            scrubbed(&text, &[&code, verifier]),
            "AADSTS70008: bad grant_type=authorization_code&code=[redacted]&redirect_uri=http%3A%2F%2Flocalhost&code_verifier=[redacted]"
        );
    }

    #[test]
    fn text_without_secrets_is_kept() {
        let text = "AADSTS7000215: Invalid client secret provided.";
        assert_eq!(scrubbed(text, &[]), text);
        assert_eq!(scrubbed(text, &["", "not-there"]), text);
    }
}
