//! Reversible escaping of one user string into one NATS subject token.
//!
//! A subject token may not contain `.`, `*`, `>` or whitespace, and must not be empty. User input
//! (a host name, an IP such as `10.55.23.41`, a file name with spaces) routinely does. Rather than
//! strip those characters, which would merge distinct names, every byte outside `[A-Za-z0-9_-]`
//! becomes `~` and two upper-case hex digits, and the empty string becomes a lone `~`. The escaped
//! form is therefore made only of `[A-Za-z0-9_~-]`: it can never hold a wildcard or a separator,
//! and `unescape(escape(s)) == s` for every string. Only the canonical spelling is accepted back,
//! so one name has exactly one subject.

use std::fmt;

/// The marker that starts an escape sequence (`~2E` is `.`), and alone stands for "empty".
pub const ESCAPE: char = '~';

/// A string that is a valid, canonically escaped subject token.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(String);

/// Why a string is not a canonically escaped token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is empty (the empty string is escaped as `~`)")]
    Empty,
    #[error("token {token:?} holds {found:?} at byte {at}, which is never part of an escaped token")]
    ForbiddenChar { token: String, found: char, at: usize },
    #[error("token {token:?} has an incomplete escape at byte {at} (expected `~` and two hex digits)")]
    IncompleteEscape { token: String, at: usize },
    #[error("token {token:?} is not canonical at byte {at} (escapes use upper-case hex and only for bytes outside [A-Za-z0-9_-])")]
    NotCanonical { token: String, at: usize },
    #[error("token {token:?} does not decode to UTF-8")]
    NotUtf8 { token: String },
}

const fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Escapes `raw` into one subject token. Never fails; the result is never empty.
pub fn escape(raw: &str) -> Token {
    if raw.is_empty() {
        return Token(ESCAPE.to_string());
    }
    if raw.bytes().all(is_plain) {
        return Token(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len() + 8);
    for b in raw.bytes() {
        if is_plain(b) {
            out.push(b as char);
        } else {
            out.push(ESCAPE);
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xF)] as char);
        }
    }
    Token(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Reverses [`escape`]. Rejects anything [`escape`] would not have produced.
pub fn unescape(token: &str) -> Result<String, TokenError> {
    let bytes = token.as_bytes();
    if bytes.is_empty() {
        return Err(TokenError::Empty);
    }
    if token == "~" {
        return Ok(String::new());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_plain(b) {
            out.push(b);
            i += 1;
        } else if b == b'~' {
            let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
                return Err(TokenError::IncompleteEscape { token: token.to_owned(), at: i });
            };
            let decoded = match (hex_value(h), hex_value(l)) {
                (Some(h), Some(l)) => (h << 4) | l,
                _ if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    return Err(TokenError::NotCanonical { token: token.to_owned(), at: i })
                }
                _ => return Err(TokenError::IncompleteEscape { token: token.to_owned(), at: i }),
            };
            if is_plain(decoded) {
                return Err(TokenError::NotCanonical { token: token.to_owned(), at: i });
            }
            out.push(decoded);
            i += 3;
        } else {
            let found = token[i..].chars().next().unwrap_or('\u{FFFD}');
            return Err(TokenError::ForbiddenChar { token: token.to_owned(), found, at: i });
        }
    }
    String::from_utf8(out).map_err(|_| TokenError::NotUtf8 { token: token.to_owned() })
}

impl Token {
    /// Checks that `escaped` is a canonical escaped token and wraps it.
    pub fn parse(escaped: &str) -> Result<Self, TokenError> {
        unescape(escaped)?;
        Ok(Token(escaped.to_owned()))
    }

    /// The escaped form, as it appears in a subject.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The original string.
    pub fn decode(&self) -> String {
        // A Token is only ever built from `escape` or a checked `parse`.
        unescape(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_ip_address_becomes_one_token() {
        let t = escape("10.55.23.41");
        assert_eq!(t.as_str(), "10~2E55~2E23~2E41");
        assert_eq!(t.decode(), "10.55.23.41");
    }

    #[test]
    fn wildcards_and_spaces_are_escaped() {
        assert_eq!(escape("*").as_str(), "~2A");
        assert_eq!(escape(">").as_str(), "~3E");
        assert_eq!(escape("my file.log").as_str(), "my~20file~2Elog");
        assert_eq!(escape("").as_str(), "~");
        assert_eq!(escape("~").as_str(), "~7E");
    }

    #[test]
    fn plain_names_are_unchanged() {
        assert_eq!(escape("genesis").as_str(), "genesis");
        assert_eq!(escape("web-01_a").as_str(), "web-01_a");
    }

    #[test]
    fn non_canonical_spellings_are_refused() {
        assert!(matches!(unescape("~2e"), Err(TokenError::NotCanonical { .. })));
        assert!(matches!(unescape("~41"), Err(TokenError::NotCanonical { .. })));
        assert!(matches!(unescape("a~2"), Err(TokenError::IncompleteEscape { .. })));
        assert!(matches!(unescape("a.b"), Err(TokenError::ForbiddenChar { found: '.', .. })));
        assert!(matches!(unescape("*"), Err(TokenError::ForbiddenChar { found: '*', .. })));
        assert!(matches!(unescape(""), Err(TokenError::Empty)));
        assert!(matches!(unescape("~FF"), Err(TokenError::NotUtf8 { .. })));
    }

    proptest! {
        #[test]
        fn every_string_round_trips(s in any::<String>()) {
            let t = escape(&s);
            prop_assert_eq!(unescape(t.as_str()).unwrap(), s);
        }

        #[test]
        fn escaped_tokens_hold_only_safe_characters(s in any::<String>()) {
            let t = escape(&s);
            prop_assert!(!t.as_str().is_empty());
            prop_assert!(t.as_str().bytes().all(|b| is_plain(b) || b == b'~'));
        }

        #[test]
        fn distinct_strings_get_distinct_tokens(a in any::<String>(), b in any::<String>()) {
            prop_assume!(a != b);
            prop_assert_ne!(escape(&a), escape(&b));
        }

        #[test]
        fn arbitrary_input_either_parses_canonically_or_is_refused(s in "[ -~]{0,12}") {
            if let Ok(decoded) = unescape(&s) {
                let again = escape(&decoded);
                prop_assert_eq!(again.as_str(), s.as_str());
            }
        }
    }
}
