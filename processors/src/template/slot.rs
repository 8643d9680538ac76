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
    /// Another name of the same kind in the same frame (`com.android.phone`,
    /// `com.whatsapp`; `name=cron.service,`, `name=nginx.service,`): the position is a variable
    /// that had shown one value so far, so the token counts as equal and the position becomes
    /// `<*>`, however many lines agreed on the first name.
    Alike,
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
    if alike_names(slot, token) || alike_value(slot, token) {
        return Fit::Alike;
    }
    Fit::Differs
}

/// Whether `slot` is a value of the field `token` holds masked (`tag="AudioMix",` and
/// `tag="<*>",`; `state=ready` and `state=<*>`): the same key, so the same variable, whether its
/// value was a word so far or a masked one.
fn alike_value(slot: &str, token: &str) -> bool {
    let Some(eq) = token.find('=') else { return false };
    let key = &token.as_bytes()[..eq];
    !key.is_empty()
        && key.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
        && slot.as_bytes().get(..=eq) == token.as_bytes().get(..=eq)
        && token[eq + 1..].trim_start_matches(['"', '\'']).starts_with(WILDCARD)
        && matches_pattern(token, slot)
}

/// Whether two different tokens are dotted names (package, class, host, file and unit names:
/// letters in two or more dot-separated parts, no digit) in the same frame: the same wrapper
/// characters and the same `key=` before them. Such a name is a value, never the word that
/// tells one event from another, even where the lines seen so far all had one.
fn alike_names(slot: &str, token: &str) -> bool {
    let (a, b) = (slot.as_bytes(), token.as_bytes());
    let lead = a.iter().zip(b).take_while(|(x, y)| x == y && !x.is_ascii_alphanumeric()).count();
    // A shared `key=`.
    let lead = match (slot.find('='), token.find('=')) {
        (Some(i), Some(j)) if i == j && a[..i] == b[..i] => i + 1,
        _ => lead,
    };
    let is_trail = |c: &u8| b")]}>\"',;:.!?".contains(c);
    let trail = a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y && is_trail(x)).count();
    if lead + trail >= a.len().min(b.len()) {
        return false;
    }
    is_dotted_name(&a[lead..a.len() - trail]) && is_dotted_name(&b[lead..b.len() - trail])
}

/// `com.android.phone`, `nginx.service`, `storage.MemoryStore`: parts of letters (and `_`,
/// `-` inside), each starting with a letter, joined by single dots, one part of 2+ letters.
fn is_dotted_name(name: &[u8]) -> bool {
    let mut parts = 0;
    let mut long = false;
    for part in name.split(|&c| c == b'.') {
        if part.is_empty()
            || !part[0].is_ascii_alphabetic()
            || !part.iter().all(|c| c.is_ascii_alphabetic() || matches!(c, b'_' | b'-'))
        {
            return false;
        }
        parts += 1;
        long |= part.len() >= 2;
    }
    parts >= 2 && long
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
                // A quoted value's opening quote is the frame's too: `tag="<*>",`.
                lead = if i + 1 < common && matches!(a[i + 1], b'"' | b'\'') { i + 2 } else { i + 1 };
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
    fn dotted_names_in_one_frame_are_values_alike() {
        assert_eq!(fit("com.android.phone", "com.whatsapp"), Fit::Alike);
        assert_eq!(fit("name=cron.service,", "name=nginx.service,"), Fit::Alike);
        assert_eq!(fit("(sshd.service)", "(cron.service)"), Fit::Alike);
        // Not names: words, a sentence's end, another key, another frame.
        assert_eq!(fit("started", "stopped"), Fit::Differs);
        assert_eq!(fit("e.g.", "i.e."), Fit::Differs);
        assert_eq!(fit("name=a.bc", "user=a.bc2"), Fit::Differs);
        assert_eq!(fit("(nginx.service)", "nginx.service"), Fit::Differs);
        assert_eq!(fit("com..x", "com.y"), Fit::Differs);
    }

    #[test]
    fn a_fields_word_value_and_its_masked_value_are_alike() {
        assert_eq!(fit("tag=\"AudioMix\",", "tag=\"<*>\","), Fit::Alike);
        assert_eq!(fit("state=ready", "state=<*>"), Fit::Alike);
        assert_eq!(generalize("tag=\"AudioMix\",", "tag=\"<*>\",").as_deref(), Some("tag=\"<*>\","));
        // Another key, or no key: not the same field.
        assert_eq!(fit("name=ready", "state=<*>"), Fit::Differs);
        assert_eq!(fit("[preauth]", "[<*>]"), Fit::Differs);
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
