//! One position of a template, and how a line's token at that position compares with it.
//!
//! A position is a wildcard, a word, or a word with masked parts (`rhost=<*>`, `[<*>]`,
//! `(uid=<*>)`): the literal text around a variable is the template's own, so it is kept
//! when the position generalizes (`tty=NODEVssh` and `tty=<*>` give `tty=<*>`, not `<*>`).

use super::mask::WILDCARD;

/// How a token compares with a template position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// The token is what the position says (a word equal to it, or a value of its pattern).
    Equal,
    /// Another value: the position may become more general.
    Differs,
    /// The token cannot stand at this position of this template: both are patterns with
    /// different text around the variable (`(uid=<*>)`, `LOGIN(uid=<*>)`), or one is a field
    /// left empty and the other the same field with a value (`rhost=`, `rhost=<*>`); an empty
    /// field is not one of its values but another code path.
    Reshaped,
}

/// Compares `token` with the template word `slot`.
pub fn fit(slot: &str, token: &str) -> Fit {
    if slot == token {
        return Fit::Equal;
    }
    let empty_field = |x: &str, y: &str| x.ends_with('=') && y.len() > x.len() && y.starts_with(x);
    if empty_field(slot, token) || empty_field(token, slot) {
        return Fit::Reshaped;
    }
    if slot.contains(WILDCARD) {
        if matches_pattern(slot, token) {
            return Fit::Equal;
        }
        if token.contains(WILDCARD) {
            return Fit::Reshaped;
        }
    }
    Fit::Differs
}

/// Whether `token` is a value of `pattern` (`<*>` standing for any text, possibly empty).
fn matches_pattern(pattern: &str, token: &str) -> bool {
    let mut parts = pattern.split(WILDCARD);
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = token.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// What the position `slot` becomes once `token` differs from it: its shared frame around a
/// `<*>` (`key=<*>`, `[<*>]`), or `None` (a bare wildcard) when they share none.
pub fn generalize(slot: &str, token: &str) -> Option<Box<str>> {
    let (a, b) = (slot.as_bytes(), token.as_bytes());
    // The shared opening: wrapper characters, or a `key=`.
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let mut lead = 0;
    for (i, &c) in a.iter().enumerate().take(common) {
        match c {
            b'(' | b'[' | b'{' | b'<' | b'"' | b'\'' => lead = i + 1,
            b'=' => {
                lead = i + 1;
                break;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.' => {}
            _ => break,
        }
    }
    // A key must be followed by `=`; an unfinished word is no frame.
    if lead > 0 && a[lead - 1].is_ascii_alphanumeric() {
        lead = 0;
    }
    // The shared closing: wrapper and trailing punctuation only.
    let max_trail = a.len().min(b.len()) - lead;
    let trail = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_trail)
        .take_while(|(x, y)| x == y && b")]}>\"',;:.!?".contains(x))
        .count();
    if lead == 0 && trail == 0 {
        return None;
    }
    let frame = format!("{}{WILDCARD}{}", &slot[..lead], &slot[slot.len() - trail..]);
    Some(frame.into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_a_pattern_fit_it() {
        assert_eq!(fit("rhost=<*>", "rhost=localhost"), Fit::Equal);
        assert_eq!(fit("[<*>]", "[preauth]"), Fit::Equal);
        assert_eq!(fit("(<*>)", "()"), Fit::Equal);
        assert_eq!(fit("<*>:<*>", "a:b"), Fit::Equal);
        assert_eq!(fit("webmaster", "test"), Fit::Differs);
    }

    #[test]
    fn other_frames_and_empty_fields_are_other_templates() {
        assert_eq!(fit("(uid=<*>)", "LOGIN(uid=<*>)"), Fit::Reshaped);
        assert_eq!(fit("rhost=<*>", "rhost="), Fit::Reshaped);
        assert_eq!(fit("rhost=", "rhost=<*>"), Fit::Reshaped);
    }

    #[test]
    fn generalizing_keeps_the_shared_frame() {
        assert_eq!(generalize("tty=NODEVssh", "tty=<*>").as_deref(), Some("tty=<*>"));
        assert_eq!(generalize("(host)", "(<*>)").as_deref(), Some("(<*>)"));
        assert_eq!(generalize("'sparkExecutorActorSystem'", "'<*>'").as_deref(), Some("'<*>'"));
        assert_eq!(generalize("webmaster", "test"), None);
        assert_eq!(generalize("bytes", "values"), None);
        assert_eq!(generalize("abc,", "xyz,").as_deref(), Some("<*>,"));
    }
}
