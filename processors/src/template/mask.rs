//! A message as tokens with its variables masked.
//!
//! What is certainly a variable is replaced by `<*>` before template mining, so the miner only
//! has to decide about plain words: any token holding a digit (numbers of every length, ids
//! such as `blk_-6952…`, addresses, ports, durations, sizes, hex, UUIDs, versions), paths,
//! URLs, e-mail addresses, hex words of 8+ characters, quoted strings, the value of
//! `key=value`, and dates written inside a message. Brackets, quotes and a `key=` around a
//! variable are kept (`[<*>]`, `rhost=<*>`), because they are part of the event's shape. Runs of
//! masked tokens become one `<*>`, so a variable that spans several words (a date) does not
//! change the token count.
//!
//! The seed's rules (6+ digit numbers, 8+ hex, UUIDs) are a subset. It kept shorter numbers
//! so HTTP statuses and ports stayed apart; here a position whose value varies becomes `<*>`
//! in the miner anyway, so masking them first only makes grouping cheaper and more exact.

use crate::line::header::is_calendar_word;

/// The placeholder of a variable.
pub const WILDCARD: &str = "<*>";

/// A masked message: tokens laid end to end in one buffer (reused between lines).
#[derive(Debug, Default, Clone)]
pub struct Masked {
    text: String,
    /// (start, end) of each token in `text`.
    spans: Vec<(u32, u32)>,
    /// Scratch: the raw tokens of the line being masked and how each is rendered.
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, Copy)]
struct Piece {
    start: u32,
    end: u32,
    how: How,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// As it is.
    Word,
    /// A month or weekday name: a variable next to another variable (`Jul 9`, `Sat Jul`).
    Calendar,
    /// `<*>`.
    Var,
    /// `<*>` inside the token's first `lead` and last `trail` bytes (`[<*>]`, `'<*>'`).
    Wrapped { lead: u8, trail: u8 },
    /// `key=<*>`: the token's first `key` bytes (through `=`), `<*>`, its last `trail` bytes.
    Value { key: u16, trail: u8 },
}

impl Masked {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn token(&self, i: usize) -> &str {
        let (s, e) = self.spans[i];
        &self.text[s as usize..e as usize]
    }

    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.spans.iter().map(|&(s, e)| &self.text[s as usize..e as usize])
    }

    /// The tokens joined by single spaces.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn push(&mut self, parts: &[&str]) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        let start = self.text.len() as u32;
        for p in parts {
            self.text.push_str(p);
        }
        self.spans.push((start, self.text.len() as u32));
    }
}

/// Masks `content` into `out`.
pub fn mask(content: &str, out: &mut Masked) {
    out.text.clear();
    out.spans.clear();
    out.pieces.clear();
    let b = content.as_bytes();
    let mut pos = 0usize;
    while pos < b.len() {
        while pos < b.len() && b[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= b.len() {
            break;
        }
        let start = pos;
        let mut end = start;
        // A quoted string runs to its closing quote, across spaces.
        if b[start] == b'"' {
            if let Some(close) = b[start + 1..].iter().position(|&c| c == b'"') {
                end = start + 1 + close + 1;
            }
        }
        while end < b.len() && !b[end].is_ascii_whitespace() {
            end += 1;
        }
        pos = end;
        let how = judge(&content[start..end]);
        out.pieces.push(Piece { start: start as u32, end: end as u32, how });
    }
    // Dates inside a message: calendar words next to a variable are variables too.
    let n = out.pieces.len();
    for i in 0..n {
        if out.pieces[i].how == How::Calendar {
            let var = |j: usize| out.pieces.get(j).is_some_and(|p| matches!(p.how, How::Var | How::Calendar));
            let near = (i > 0 && out.pieces[i - 1].how == How::Var)
                || var(i + 1) && (out.pieces[i + 1].how == How::Var || var(i + 2));
            if near {
                out.pieces[i].how = How::Var;
            }
        }
    }
    let mut last_var = false;
    for k in 0..n {
        let Piece { start, end, how } = out.pieces[k];
        let token = &content[start as usize..end as usize];
        match how {
            How::Word | How::Calendar => out.push(&[token]),
            How::Var => {
                // A run of variables is one variable.
                if !last_var {
                    out.push(&[WILDCARD]);
                }
            }
            How::Wrapped { lead, trail } => {
                let (lead, trail) = (lead as usize, trail as usize);
                out.push(&[&token[..lead], WILDCARD, &token[token.len() - trail..]]);
            }
            How::Value { key, trail } => {
                let (key, trail) = (key as usize, trail as usize);
                out.push(&[&token[..key], WILDCARD, &token[token.len() - trail..]]);
            }
        }
        last_var = how == How::Var;
    }
}

/// How one raw token is rendered.
fn judge(token: &str) -> How {
    let b = token.as_bytes();
    // Quoted strings are variables whole.
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        return How::Wrapped { lead: 1, trail: 1 };
    }
    // Peel wrappers: leading ([{<"' and trailing )]}>"',;:.!?
    let lead = b.iter().take_while(|c| b"([{<\"'".contains(c)).count();
    let trail = b[lead..].iter().rev().take_while(|c| b")]}>\"',;:.!?".contains(c)).count();
    let core = &token[lead..token.len() - trail];
    if core.is_empty() || lead > 255 || trail > 255 {
        return How::Word;
    }
    // A quoted word with punctuation after the quote (`"abc",`).
    if lead > 0
        && matches!(b[lead - 1], b'"' | b'\'')
        && token[token.len() - trail..].contains(b[lead - 1] as char)
    {
        return How::Wrapped { lead: lead as u8, trail: trail as u8 };
    }
    // key=value: the key stays, the value is judged alone.
    if let Some(eq) = core.find('=') {
        let (key, value) = (&core[..eq], &core[eq + 1..]);
        if is_key(key) {
            return if !value.is_empty() && is_variable(value) && lead + eq < usize::from(u16::MAX) {
                How::Value { key: (lead + eq + 1) as u16, trail: trail as u8 }
            } else {
                How::Word
            };
        }
    }
    if is_variable(core) {
        if lead == 0 && trail == 0 {
            How::Var
        } else {
            How::Wrapped { lead: lead as u8, trail: trail as u8 }
        }
    } else if lead == 0 && is_calendar_word(token.trim_end_matches(',')) {
        How::Calendar
    } else {
        How::Word
    }
}

fn is_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= 40
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

/// Whether a token (wrappers removed) is certainly a variable.
fn is_variable(core: &str) -> bool {
    let b = core.as_bytes();
    if b.iter().any(u8::is_ascii_digit) {
        return true;
    }
    // Paths and URLs.
    if b[0] == b'/' && b.len() > 1 || b.starts_with(b"./") || b.starts_with(b"~/") || core.contains("://") {
        return true;
    }
    // Windows paths.
    if b.len() > 2 && b[1] == b':' && b[2] == b'\\' {
        return true;
    }
    // E-mail addresses.
    if let Some(at) = core.find('@') {
        if at > 0 && core[at..].contains('.') {
            return true;
        }
    }
    // Hex words without a digit are rare but exist (`deadbeefcafe`).
    b.len() >= 8 && b.iter().all(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(s: &str) -> String {
        let mut m = Masked::default();
        mask(s, &mut m);
        m.text().to_owned()
    }

    #[test]
    fn variables_are_masked_and_their_wrappers_kept() {
        let cases = [
            (
                "PacketResponder 1 for block blk_-6952295868487656571 terminating",
                "PacketResponder <*> for block <*> terminating",
            ),
            ("Invalid user webmaster from 173.234.31.186", "Invalid user webmaster from <*>"),
            (
                "getaddrinfo for ns.example.com [173.234.31.186] failed",
                "getaddrinfo for ns.example.com [<*>] failed",
            ),
            (
                "logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4  user=root",
                "logname= uid=<*> euid=<*> tty=NODEVssh ruser= rhost=<*> user=root",
            ),
            ("creating device node '/udev/sda'", "creating device node '<*>'"),
            ("opened /var/log/messages and http://x.org/a", "opened <*> and <*>"),
            ("took 15ms to copy 64MB", "took <*> to copy <*>"),
            ("request 550e8400-e29b-41d4-a716-446655440000 failed", "request <*> failed"),
            (r#"query "select * from t" failed"#, r#"query "<*>" failed"#),
            (
                "connection from 1.2.3.4 (1.2.3.4) at Sat Jul 9 22:53:22 2005",
                "connection from <*> (<*>) at <*>",
            ),
            ("mail to a@b.com bounced, id deadbeefcafe", "mail to <*> bounced, id <*>"),
        ];
        for (line, want) in cases {
            assert_eq!(masked(line), want, "{line}");
        }
    }

    #[test]
    fn words_stay_words() {
        assert_eq!(
            masked("Received disconnect: Bye Bye [preauth]"),
            "Received disconnect: Bye Bye [preauth]"
        );
        assert_eq!(masked("March on, Sat"), "March on, Sat");
    }
}
