//! Entity tags as the service sends them.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// An entity tag exactly as the service sent it, quotes included (`"\"e0d5...\""`), to
/// send back as `If-None-Match`.
///
/// Both the `ETag` header of an answer ([`crate::OperationResponse::etag`]) and the
/// `etag` field of an operation are read into this type. It is text, nothing more: any
/// string is kept as sent, so a surprising tag never breaks the decoding of an answer;
/// building a request refuses a tag that cannot be a header value
/// ([`crate::Error::InvalidETag`]). Two tags are equal when their texts are byte for byte
/// equal (neither of RFC 9110's comparisons: `W/"a"` and `"a"` differ). It dereferences
/// to `str`.
///
/// ```
/// use adu_model::ETag;
///
/// let tag = ETag::new("\"e0d5a1b2\"");
/// assert_eq!(tag.as_str(), "\"e0d5a1b2\"");
/// assert_eq!(tag, "\"e0d5a1b2\"");
/// assert!(tag.starts_with('"')); // a `str` method, through `Deref`
/// assert_eq!(ETag::from(String::from("\"e0d5a1b2\"")), tag);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ETag(String);

impl ETag {
    /// Keeps a copy of `text`.
    pub fn new(text: &str) -> Self {
        ETag(text.to_owned())
    }

    /// The tag exactly as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the tag can be sent back as `If-None-Match`: not empty, and only visible
    /// ASCII and spaces (what the request builders accept; they refuse anything else with
    /// [`crate::Error::InvalidETag`]).
    pub fn is_sendable(&self) -> bool {
        is_sendable(&self.0)
    }
}

/// See [`ETag::is_sendable`].
pub(crate) fn is_sendable(tag: &str) -> bool {
    !tag.is_empty() && tag.bytes().all(|b| (0x21..=0x7e).contains(&b) || b == b' ')
}

impl Deref for ETag {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ETag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// `Hash` and `Eq` both go through the text, so a `HashMap<ETag, _>` can be read with a
/// `&str`.
impl std::borrow::Borrow<str> for ETag {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ETag {
    fn from(text: &str) -> Self {
        ETag::new(text)
    }
}

impl From<String> for ETag {
    fn from(text: String) -> Self {
        ETag(text)
    }
}

impl From<ETag> for String {
    fn from(tag: ETag) -> Self {
        tag.0
    }
}

impl std::str::FromStr for ETag {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(ETag::new(text))
    }
}

impl PartialEq<str> for ETag {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ETag {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for ETag {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text survives JSON both ways, whatever its length or escapes.
        #[test]
        fn json_round_trip_keeps_the_text(text in "\\PC{0,70}") {
            let tag = ETag::new(&text);
            let json = serde_json::to_string(&tag).unwrap();
            prop_assert_eq!(&json, &serde_json::to_string(&text).unwrap());
            let back: ETag = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.as_str(), text.as_str());
            prop_assert_eq!(&back, &tag);
        }
    }

    #[test]
    fn a_long_tag_is_kept_whole() {
        let long = format!("\"{}\"", "a".repeat(100));
        let tag = ETag::from(long.clone());
        assert_eq!(tag, long);
        assert_eq!(String::from(tag), long);
    }

    #[test]
    fn compares_with_text_and_reads_maps_by_str() {
        let tag = ETag::new("\"x\"");
        let owned = String::from("\"x\"");
        assert!(tag == "\"x\"" && tag == owned && tag == *"\"x\"");
        assert!(tag != "\"y\"");
        let mut seen = std::collections::HashMap::new();
        seen.insert(tag.clone(), 1);
        assert_eq!(seen.get("\"x\""), Some(&1));
        assert_eq!("\"x\"".parse::<ETag>(), Ok(tag));
    }

    proptest! {
        /// Sendable exactly when the request builder takes the tag as `If-None-Match`.
        #[test]
        fn sendable_agrees_with_the_request_builder(text in "\\PC{0,12}|[ -~]{0,12}") {
            let endpoint = crate::Endpoint::parse("contoso.api.adu.microsoft.com").unwrap();
            let built = crate::build_get_operation_request(
                &endpoint,
                &crate::InstanceId::new("blue").unwrap(),
                &crate::OperationId::new("op").unwrap(),
                crate::OperationKind::Update,
                crate::ApiVersion::V2022_10_01,
                Some(&text),
            );
            prop_assert_eq!(ETag::new(&text).is_sendable(), built.is_ok() && !text.is_empty());
        }
    }

    #[test]
    fn debug_and_display_show_the_text() {
        let tag = ETag::new("\"x\"");
        assert_eq!(format!("{tag:?}"), r#"ETag("\"x\"")"#);
        assert_eq!(tag.to_string(), "\"x\"");
    }
}
