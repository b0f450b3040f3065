//! Scrubbing secrets out of text a server sent back.
//!
//! A token endpoint may echo the request in its error text, and the request
//! body is form-urlencoded by `oauth2` with `url::form_urlencoded` (WHATWG
//! URL §5.2 `application/x-www-form-urlencoded` serializer: `*-._` and ASCII
//! alphanumerics kept, space as `+`, every other byte as upper-case `%XX`).
//! So a secret can come back raw, form-encoded, percent-encoded in another
//! way (`%20`, lower-case hex), JSON-escaped or HTML-escaped. [`scrub`]
//! finds a secret in any mix of those forms, and also blanks the value of
//! every secret-carrying parameter by its name, whatever the value is (an
//! authorization `code` only when it looks like one).
//!
//! Server texts are attacker-controlled and the search runs on an async
//! worker, so its work is bounded: callers cut a text before scrubbing it,
//! and a search that needs more than [`STEP_BUDGET`] steps gives up and
//! hides the whole text.

/// What a redacted value is replaced with.
pub(crate) const REDACTED: &str = "[redacted]";

/// Secrets shorter than this (in characters) are not searched for as free
/// text: a one- to three-character secret occurs by chance in ordinary text
/// (`"abc"` in a description), and replacing every such occurrence would
/// mangle the message while hinting at the secret. Short secrets are still
/// redacted where the echo names them (`password=Zq9`), which is how a
/// request body is echoed.
const MIN_FREE_TEXT_CHARS: usize = 4;

/// The request parameters (RFC 6749 §4.1.3, §4.3.2, §4.4.2, §6; RFC 7636
/// §4.5; RFC 7521 §4.2) and response fields (RFC 6749 §5.1, OpenID Connect
/// Core §3.1.3.3) that carry a secret. `code` is special: see
/// [`MIN_CODE_BYTES`].
const SECRET_NAMES: [&str; 9] = [
    "client_secret",
    "password",
    "refresh_token",
    "access_token",
    "id_token",
    "code",
    "code_verifier",
    "client_assertion",
    "assertion",
];

/// `code` is also the name of ordinary error fields (`"code":
/// "GatewayTimeout"`, `code=AADSTS700016`, Azure AD's `error?code=7000215`).
/// An authorization code (RFC 6749 §4.1.2) is only ever sent form-encoded,
/// and Azure AD's are hundreds of characters long, so `code` is redacted
/// only in form style and only when its value is at least this long.
const MIN_CODE_BYTES: usize = 32;

/// How many steps (one character form tried at one text position) the
/// free-text search may take over one text. Matching is linear in the text
/// times the secret's length, so a hostile text (`aaaa...` against a secret
/// `aaa...ab`) could otherwise keep a worker busy for minutes. Ordinary
/// texts take about one step per byte per secret.
const STEP_BUDGET: usize = 4_000_000;

/// What a text is replaced with when the search ran out of its budget: it
/// fails closed, since what was not searched may hold a secret.
pub(crate) const NOT_CHECKED: &str = "[not shown: it could not be checked for secrets]";

/// Replaces every occurrence of `secrets` in `text`, in any of the forms
/// described in the module docs, and every secret-named parameter value,
/// with [`REDACTED`]. If that takes more than [`STEP_BUDGET`] steps, the
/// whole text becomes [`NOT_CHECKED`]. Callers bound `text` first.
pub(crate) fn scrub(text: &mut String, secrets: &[&str]) {
    let _ = scrub_within(text, secrets, STEP_BUDGET);
}

/// [`scrub`] with a given budget; returns the steps taken.
fn scrub_within(text: &mut String, secrets: &[&str], budget: usize) -> usize {
    let mut search = Search {
        positions: Vec::new(),
        next: Vec::new(),
        steps_left: budget,
    };
    for secret in secrets {
        if secret.chars().count() >= MIN_FREE_TEXT_CHARS
            && replace_encoded(text, secret, &mut search).is_none()
        {
            NOT_CHECKED.clone_into(text);
            return budget;
        }
    }
    redact_by_name(text);
    budget - search.steps_left
}

/// The state of the free-text search: two buffers reused at every text
/// position, and the steps it may still take.
struct Search {
    positions: Vec<usize>,
    next: Vec<usize>,
    steps_left: usize,
}

/// Replaces every occurrence of `secret`, each of its characters written in
/// any of the accepted forms. `None` if the budget ran out (`text` is then
/// unchanged).
fn replace_encoded(text: &mut String, secret: &str, search: &mut Search) -> Option<()> {
    let mut out = String::new();
    let mut copied = 0;
    let mut at = 0;
    while at < text.len() {
        if let Some(end) = search.match_at(text, at, secret)? {
            out.push_str(&text[copied..at]);
            out.push_str(REDACTED);
            copied = end;
            at = end;
        } else {
            at += text[at..].chars().next().map_or(1, char::len_utf8);
        }
    }
    if copied > 0 {
        out.push_str(&text[copied..]);
        *text = out;
    }
    Some(())
}

impl Search {
    /// Where an occurrence of `secret` starting at `start` ends (the
    /// longest one), if there is one; `None` if the budget ran out. The
    /// forms of one character may overlap (`%` is itself or the start of
    /// `%25`), so every possible end is followed at once (a small NFA),
    /// which keeps this linear in the secret's length.
    fn match_at(&mut self, text: &str, start: usize, secret: &str) -> Option<Option<usize>> {
        let bytes = text.as_bytes();
        self.positions.clear();
        self.positions.push(start);
        for c in secret.chars() {
            self.steps_left = self.steps_left.checked_sub(self.positions.len())?;
            self.next.clear();
            for &p in &self.positions {
                push_char_forms(bytes, p, c, &mut self.next);
            }
            self.next.sort_unstable();
            self.next.dedup();
            if self.next.is_empty() {
                return Some(None);
            }
            std::mem::swap(&mut self.positions, &mut self.next);
        }
        Some(self.positions.iter().copied().max())
    }
}

/// Pushes the end of every form of `c` that `text` has at `at`.
fn push_char_forms(text: &[u8], at: usize, c: char, ends: &mut Vec<usize>) {
    let rest = &text[at..];
    let mut utf8 = [0; 4];
    let raw = c.encode_utf8(&mut utf8).as_bytes();
    // Raw.
    if rest.starts_with(raw) {
        ends.push(at + raw.len());
    }
    // Percent-encoded, hex in either case (`%7E`, `%7e`); the form encoder's
    // `+` for a space.
    if let Some(len) = percent_encoded(rest, raw) {
        ends.push(at + len);
    }
    if c == ' ' && rest.starts_with(b"+") {
        ends.push(at + 1);
    }
    // JSON (RFC 8259 §7): the two-character escapes and `\uXXXX` (a
    // surrogate pair beyond the BMP).
    let short = match c {
        '"' => Some(&br#"\""#[..]),
        '\\' => Some(&br"\\"[..]),
        '/' => Some(&br"\/"[..]),
        '\n' => Some(&br"\n"[..]),
        '\r' => Some(&br"\r"[..]),
        '\t' => Some(&br"\t"[..]),
        '\u{8}' => Some(&br"\b"[..]),
        '\u{c}' => Some(&br"\f"[..]),
        _ => None,
    };
    if let Some(escape) = short {
        if rest.starts_with(escape) {
            ends.push(at + escape.len());
        }
    }
    let mut units = [0; 2];
    let mut len = 0;
    for unit in c.encode_utf16(&mut units).iter() {
        match json_unit(&rest[len..]) {
            Some(u) if u == *unit => len += 6,
            _ => {
                len = 0;
                break;
            }
        }
    }
    if len > 0 {
        ends.push(at + len);
    }
    // HTML character references for the characters HTML escaping touches.
    let references: &[&[u8]] = match c {
        '&' => &[b"&amp;"],
        '<' => &[b"&lt;"],
        '>' => &[b"&gt;"],
        '"' => &[b"&quot;", b"&#34;", b"&#x22;"],
        '\'' => &[b"&#39;", b"&#x27;", b"&apos;"],
        _ => &[],
    };
    for reference in references {
        if starts_with_ignore_case(rest, reference) {
            ends.push(at + reference.len());
        }
    }
}

/// The length of `raw` written as `%XX` triplets at the start of `text`.
fn percent_encoded(text: &[u8], raw: &[u8]) -> Option<usize> {
    for (i, byte) in raw.iter().enumerate() {
        let triplet = text.get(3 * i..3 * i + 3)?;
        if triplet[0] != b'%' || hex_value(&triplet[1..]) != Some(u32::from(*byte)) {
            return None;
        }
    }
    Some(3 * raw.len())
}

/// The UTF-16 unit of a `\uXXXX` escape at the start of `text`.
fn json_unit(text: &[u8]) -> Option<u16> {
    let escape = text.get(..6)?;
    if &escape[..2] != br"\u" {
        return None;
    }
    hex_value(&escape[2..]).and_then(|v| u16::try_from(v).ok())
}

fn hex_value(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |value, d| {
        char::from(*d).to_digit(16).map(|digit| value * 16 + digit)
    })
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Blanks the value of every secret-named parameter: form style
/// (`password=...`, also `password%3D...` when the form was itself
/// encoded) and JSON style (`"password":"..."`, also with escaped quotes
/// when the JSON sits inside a JSON string). This covers secrets of any
/// length, and tokens the caller does not know.
fn redact_by_name(text: &mut String) {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    let bytes = text.as_bytes();
    while at < bytes.len() {
        let boundary = at == 0 || !is_name_byte(bytes[at - 1]);
        let value = if boundary {
            SECRET_NAMES
                .iter()
                .filter(|name| starts_with_ignore_case(&bytes[at..], name.as_bytes()))
                .find_map(|name| {
                    let (from, to, form) = value_after_name(bytes, at + name.len())?;
                    let ordinary_code = name == &"code" && (!form || to - from < MIN_CODE_BYTES);
                    (!ordinary_code).then_some((from, to))
                })
        } else {
            None
        };
        match value {
            Some((from, to)) if to > from && &text[from..to] != REDACTED => {
                out.push_str(&text[copied..from]);
                out.push_str(REDACTED);
                copied = to;
                at = to;
            }
            _ => at += text[at..].chars().next().map_or(1, char::len_utf8),
        }
    }
    if copied > 0 {
        out.push_str(&text[copied..]);
        *text = out;
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The byte range of the value that follows a parameter name ending at
/// `at`, if a value follows, and whether it is form style (`name=value`).
fn value_after_name(text: &[u8], at: usize) -> Option<(usize, usize, bool)> {
    let rest = &text[at..];
    // Form style. The value ends where a form-encoded value cannot go on;
    // after an encoded `=` (`%3D`) the encoded `&` is not looked for, so the
    // redaction runs on to the end of the run: more is hidden, never less.
    let form_start = if rest.starts_with(b"=") {
        Some(at + 1)
    } else if starts_with_ignore_case(rest, b"%3D") {
        Some(at + 3)
    } else {
        None
    };
    if let Some(from) = form_start {
        let len = text[from..]
            .iter()
            .position(|&b| {
                b.is_ascii_whitespace() || matches!(b, b'&' | b'"' | b'\'' | b'<' | b'>' | b'\\')
            })
            .unwrap_or(text.len() - from);
        return Some((from, from + len, true));
    }
    // JSON style: `"name"` then `:` then a string, quotes maybe escaped.
    let mut i = at;
    let escaped = text[i..].starts_with(b"\\\"");
    i += if escaped {
        2
    } else if text[i..].starts_with(b"\"") {
        1
    } else {
        return None;
    };
    let skip_space = |mut i: usize| {
        while text.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    i = skip_space(i);
    if text.get(i) != Some(&b':') {
        return None;
    }
    i = skip_space(i + 1);
    let quote: &[u8] = if escaped { b"\\\"" } else { b"\"" };
    if !text[i..].starts_with(quote) {
        return None;
    }
    let from = i + quote.len();
    let mut j = from;
    while j < text.len() {
        if text[j..].starts_with(quote) {
            break;
        }
        // In plain JSON a backslash escapes the next character; in escaped
        // JSON the closing quote itself starts with one, checked above.
        j += if !escaped && text[j] == b'\\' { 2 } else { 1 };
    }
    // A trailing backslash may step past the end; the value then runs to it.
    Some((from, j.min(text.len()), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubbed(text: &str, secrets: &[&str]) -> String {
        let mut text = text.to_owned();
        scrub(&mut text, secrets);
        text
    }

    /// The form exactly as `oauth2` puts it in the request body.
    fn form_encoded(secret: &str) -> String {
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect()
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
        let secret = "Abc8Q~x y@z+&=\"/\\é😀";
        let json = serde_json::to_string(secret).unwrap();
        let json = &json[1..json.len() - 1];
        let ascii_json: String = secret
            .encode_utf16()
            .map(|u| format!("\\u{u:04X}"))
            .collect();
        let form = form_encoded(secret);
        let percent_20 = lower_hex(&form.replace('+', "%20"));
        let html = secret
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;");
        for echo in [secret, json, &ascii_json, &form, &percent_20, &html] {
            let text = format!("before {echo} after");
            assert_eq!(
                scrubbed(&text, &[secret]),
                "before [redacted] after",
                "{echo}"
            );
        }
    }

    #[test]
    fn form_encoding_is_the_one_oauth2_sends() {
        // The request body oauth2 builds, with the secret's `~` as `%7E`.
        assert_eq!(form_encoded("a~b c@"), "a%7Eb+c%40");
        let text = "grant_type=x&client_secret=Abc8Q%7Exyz&scope=s";
        // Found as an encoded secret, not only by name.
        let mut only_encoded = text.to_owned();
        let mut search = Search {
            positions: Vec::new(),
            next: Vec::new(),
            steps_left: STEP_BUDGET,
        };
        replace_encoded(&mut only_encoded, "Abc8Q~xyz", &mut search).unwrap();
        assert_eq!(
            only_encoded,
            "grant_type=x&client_secret=[redacted]&scope=s"
        );
    }

    #[test]
    fn short_secrets_are_redacted_by_name_only() {
        let text = "body: grant_type=password&username=u&password=Zq9&scope=s; Zq9 is short";
        assert_eq!(
            scrubbed(text, &["Zq9"]),
            "body: grant_type=password&username=u&password=[redacted]&scope=s; Zq9 is short"
        );
    }

    #[test]
    fn secret_named_values_are_redacted_whatever_they_are() {
        let long_code = format!("code={}&scope=s", "A".repeat(MIN_CODE_BYTES));
        for (text, want) in [
            (long_code.as_str(), "code=[redacted]&scope=s"),
            ("x CLIENT_SECRET=s3 y", "x CLIENT_SECRET=[redacted] y"),
            (
                "\"a=b&code_verifier=v\"",
                "\"a=b&code_verifier=[redacted]\"",
            ),
            (
                "q=client_assertion%3Dey.J%26x=1",
                "q=client_assertion%3D[redacted]",
            ),
            (
                r#"{"access_token": "AT", "refresh_token":"R\"T","x":1}"#,
                r#"{"access_token": "[redacted]", "refresh_token":"[redacted]","x":1}"#,
            ),
            (
                r#"{"d":"{\"id_token\":\"ID\"}"}"#,
                r#"{"d":"{\"id_token\":\"[redacted]\"}"}"#,
            ),
            // Not a parameter name: part of a longer word, or no value.
            (
                "error_code=7 barcode=1 code: x",
                "error_code=7 barcode=1 code: x",
            ),
            // Azure AD's error page link.
            (
                "https://login.example/error?code=7000215",
                "https://login.example/error?code=7000215",
            ),
            ("password=", "password="),
        ] {
            assert_eq!(scrubbed(text, &[]), want, "{text}");
        }
    }

    #[test]
    fn percent_in_a_secret_matches_raw_and_encoded() {
        // `%` is both a raw character and the start of `%25`.
        let secret = "50%25off";
        assert_eq!(scrubbed("x 50%25off y", &[secret]), "x [redacted] y");
        assert_eq!(scrubbed("x 50%2525off y", &[secret]), "x [redacted] y");
    }

    #[test]
    fn unterminated_values_run_to_the_end() {
        assert_eq!(scrubbed("...password=abc", &[]), "...password=[redacted]");
        assert_eq!(
            scrubbed(r#"{"password":"ab\"#, &[]),
            r#"{"password":"[redacted]"#
        );
    }
    #[test]
    fn ordinary_error_codes_are_kept() {
        for text in [
            r#"{"error":{"code":"GatewayTimeout","message":"The gateway did not receive a response"}}"#,
            r#"{\"code\": \"GatewayTimeout\"}"#,
            "Error code=AADSTS700016 for application x",
            "code%3DAADSTS700016",
            // JSON `code` keys are never redacted, whatever their length.
            r#"{"code":"AADSTS700016_UnauthorizedClient_DoesNotMatchRequest"}"#,
        ] {
            assert_eq!(scrubbed(text, &[]), text);
        }
    }

    #[test]
    fn an_echoed_authorization_code_is_redacted() {
        let code = format!("0.AXoA{}", "x-Y_z9".repeat(33));
        assert_eq!(code.len(), 204);
        let text = format!(
            "AADSTS70008: bad grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2Flocalhost&code_verifier=v"
        );
        assert_eq!(
            scrubbed(&text, &[]),
            "AADSTS70008: bad grant_type=authorization_code&code=[redacted]&redirect_uri=http%3A%2F%2Flocalhost&code_verifier=[redacted]"
        );
    }

    /// The worst case for the free-text search: every position of the text
    /// matches all of the secret but its last character.
    #[test]
    fn a_hostile_text_is_hidden_once_the_budget_is_spent() {
        let secret = format!("{}b", "a".repeat(4095));
        let hostile = "a".repeat(66 * 1024);
        let mut text = hostile.clone();
        let steps = scrub_within(&mut text, &[&secret], STEP_BUDGET);
        assert_eq!(text, NOT_CHECKED);
        assert_eq!(steps, STEP_BUDGET);
        // Searched to the end, the same text would take about 270 million
        // steps: the budget is what stops it.
        let mut short = hostile[..1024].to_owned();
        let steps = scrub_within(&mut short, &[&secret[4095 - 1023..]], usize::MAX);
        assert!(steps > 500_000, "{steps}");
        assert_eq!(short, hostile[..1024]);
    }

    #[test]
    fn ordinary_texts_take_about_one_step_per_byte() {
        let secret = "Abc8Q~xyz-0123456789";
        let text = format!("{} {secret} {}", "a".repeat(60_000), "Ab".repeat(3000));
        let mut scrubbed = text.clone();
        let steps = scrub_within(&mut scrubbed, &[secret], STEP_BUDGET);
        assert!(steps < 2 * text.len(), "{steps}");
        assert!(scrubbed.contains(" [redacted] "));
    }
}
