//! Short text kept in place: the storage of [`crate::Timestamp`] and [`crate::ETag`].
//!
//! The service's timestamps and entity tags are a few dozen bytes each. Keeping them in
//! a fixed buffer inside the value, instead of a `String`, saves an allocation and a
//! free for every one decoded; a longer text (never seen from the service, but allowed)
//! goes to the heap.

/// Text of up to `N` bytes kept in place, else on the heap. Always the inline form when
/// the text fits, so two equal texts have the same form.
#[derive(Clone)]
pub(crate) enum InlineText<const N: usize> {
    Inline { len: u8, bytes: [u8; N] },
    Heap(Box<str>),
}

impl<const N: usize> InlineText<N> {
    /// A copy of `text`, in place when it fits.
    pub(crate) fn copy_of(text: &str) -> Self {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= N => {
                let mut bytes = [0u8; N];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                InlineText::Inline { len, bytes }
            }
            _ => InlineText::Heap(text.into()),
        }
    }

    /// Keeps `text`: copied in place when it fits, else its allocation is reused.
    pub(crate) fn from_string(text: String) -> Self {
        if text.len() <= N {
            Self::copy_of(&text)
        } else {
            InlineText::Heap(text.into_boxed_str())
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // The bytes were copied from a `&str` whole, so they are UTF-8; the check
            // keeps this crate free of `unsafe`.
            InlineText::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            InlineText::Heap(text) => text,
        }
    }
}

/// Deserializes a string into `T`: a borrowed text through `borrowed` (the usual case:
/// copied in place, no allocation), an owned one through `owned`; `expecting` names the
/// value in the error for anything that is not a string.
pub(crate) fn deserialize_text<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    borrowed: impl FnOnce(&str) -> T,
    owned: impl FnOnce(String) -> T,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Text<B, O> {
        expecting: &'static str,
        borrowed: B,
        owned: O,
    }
    impl<T, B: FnOnce(&str) -> T, O: FnOnce(String) -> T> serde::de::Visitor<'_> for Text<B, O> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<T, E> {
            Ok((self.borrowed)(value))
        }
        fn visit_string<E: serde::de::Error>(self, value: String) -> Result<T, E> {
            Ok((self.owned)(value))
        }
    }
    deserializer.deserialize_str(Text {
        expecting,
        borrowed,
        owned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn keeps_any_text_exactly(text in ".{0,80}") {
            let a = InlineText::<38>::copy_of(&text);
            let b = InlineText::<38>::from_string(text.clone());
            prop_assert_eq!(a.as_str(), text.as_str());
            prop_assert_eq!(b.as_str(), text.as_str());
            // The form depends on the length only.
            let inline = |t: &InlineText<38>| matches!(t, InlineText::Inline { .. });
            prop_assert_eq!(inline(&a), text.len() <= 38);
            prop_assert_eq!(inline(&b), text.len() <= 38);
        }
    }

    #[test]
    fn the_boundary_is_inclusive() {
        let fits = "x".repeat(38);
        let spills = "x".repeat(39);
        assert!(matches!(
            InlineText::<38>::copy_of(&fits),
            InlineText::Inline { len: 38, .. }
        ));
        assert!(matches!(
            InlineText::<38>::copy_of(&spills),
            InlineText::Heap(_)
        ));
        assert_eq!(InlineText::<38>::copy_of(&spills).as_str(), spills);
    }
}
