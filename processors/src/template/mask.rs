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
//! A token that joins words and variables without spaces (`<*>|Step|<*>|onChanged`,
//! `Switch<0>::callback`, `[myid=1]`) keeps its words: its parts between joiners (`|`, `:`,
//! `,`, brackets, `=`) are judged one by one. Masked whole, a format whose header runs into the
//! message by pipes made every line `<*>` and one event (0.19 on such a format in
//! `tests/formats.rs`; 1.0 now). A token stays one token, so a template stored by an older build
//! (`<*>` there) still takes such lines under its fingerprint.
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
    /// Scratch: a joined token's middle as rendered.
    joined: String,
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
    /// Words and variables joined by punctuation (`<*>|Step_LSC|<*>`, `Switch<<*>>::callback`):
    /// inside the token's first `lead` and last `trail` bytes, each variable part is `<*>` and
    /// the words stay.
    Joined { lead: u8, trail: u8 },
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

    pub fn tokens(&self) -> impl ExactSizeIterator<Item = &str> {
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
    tokenize(content, out, false);
    render(content, out, None);
}

/// Masks a template stored by an earlier build as the current rules mask a line, so lines
/// masked now find it: a word the rules now mask becomes `<*>` (a run of such words one
/// `<*>`), and words the tokenizer now keeps together (a `key="…"` value) are one position. The
/// template's own `<*>` stay as they are, each a position of its own: whether one stood for a
/// masked run or for a word the miner found varying is not written down, and merging it with a
/// neighbour would take the template away from the lines of the second kind. `positions`
/// gets, for each of the stored template's positions, the position it is now.
pub fn remask_template(template: &str, out: &mut Masked, positions: &mut Vec<u32>) {
    tokenize(template, out, true);
    let mut now = Vec::with_capacity(out.pieces.len());
    render(template, out, Some(&mut now));
    // The stored positions, by where each starts, in the pieces that now hold them.
    positions.clear();
    let (mut piece, mut at) = (0, 0u32);
    for token in template.split(' ') {
        while piece + 1 < out.pieces.len() && out.pieces[piece].end <= at {
            piece += 1;
        }
        positions.push(now.get(piece).copied().unwrap_or(0));
        at += token.len() as u32 + 1;
    }
}

/// Splits `content` into judged pieces; with `stored`, a `<*>` is a template's own position.
fn tokenize(content: &str, out: &mut Masked, stored: bool) {
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
        // A quoted string runs to its closing quote, across spaces. (A stored template had
        // this done to its lines already, and its `"<*>` frames must not reach a later quote.)
        if b[start] == b'"' && !stored {
            if let Some(close) = b[start + 1..].iter().position(|&c| c == b'"') {
                end = start + 1 + close + 1;
            }
        }
        while end < b.len() && !b[end].is_ascii_whitespace() {
            // So does a quoted value (`tag="View Lock",`, `err="failed to \"start\""`): as
            // words, a value of two words would make another event than a value of one. (In an
            // earlier build's template, a value whose escaped quote was masked away closes
            // early: that cannot be told from its text.)
            if b[end] == b'"' && end > start && b[end - 1] == b'=' {
                if let Some(close) = closing_quote(&b[end + 1..]) {
                    end += 1 + close + 1;
                    continue;
                }
            }
            end += 1;
        }
        pos = end;
        let token = &content[start..end];
        let how = if stored && token == WILDCARD { How::Word } else { judge(token) };
        out.pieces.push(Piece { start: start as u32, end: end as u32, how });
    }
}

/// Renders the judged pieces of `content` into `out`'s tokens.
/// With `positions`, the token each piece is now.
fn render(content: &str, out: &mut Masked, mut positions: Option<&mut Vec<u32>>) {
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
            How::Joined { lead, trail } => {
                let (lead, trail) = (lead as usize, trail as usize);
                let mut joined = std::mem::take(&mut out.joined);
                render_joined(&token[lead..token.len() - trail], &mut joined);
                out.push(&[&token[..lead], &joined, &token[token.len() - trail..]]);
                out.joined = joined;
            }
        }
        last_var = how == How::Var;
        if let Some(p) = positions.as_deref_mut() {
            p.push(out.spans.len() as u32 - 1);
        }
    }
}

/// Where the quoted text `b` starts in ends: its first `"` not escaped by a backslash.
fn closing_quote(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
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
        // A template's tokens hold no spaces.
        return if token.bytes().any(|c| c.is_ascii_whitespace()) { How::Var } else { How::Word };
    }
    // A quoted word with punctuation after the quote (`"abc",`).
    if lead > 0
        && matches!(b[lead - 1], b'"' | b'\'')
        && token[token.len() - trail..].contains(b[lead - 1] as char)
    {
        return How::Wrapped { lead: lead as u8, trail: trail as u8 };
    }
    let kinds = Kinds::of(core.as_bytes());
    // key=value: the key stays, the value is judged alone.
    if let Some(eq) = kinds.has(EQUALS).then(|| core.find('=')).flatten() {
        let (key, value) = (&core[..eq], &core[eq + 1..]);
        if is_key(key) {
            // A quoted value of several words (the tokenizer kept it whole) is a variable,
            // its quotes kept: `tag="<*>",`. Any other token holding a space (text after the
            // closing quote) is one variable: a template's tokens hold no spaces.
            if kinds.has(SPACE) {
                if value.starts_with('"') && token[lead + eq + 2..].contains('"') {
                    let trail =
                        token.len() - (lead + eq + 2) - token[lead + eq + 2..].rfind('"').unwrap_or(0);
                    if let (Ok(key), Ok(trail)) = (u16::try_from(lead + eq + 2), u8::try_from(trail)) {
                        return How::Value { key, trail };
                    }
                }
                return How::Var;
            }
            return if !value.is_empty()
                && is_variable(value, Kinds::of(value.as_bytes()))
                && lead + eq < usize::from(u16::MAX)
            {
                How::Value { key: (lead + eq + 1) as u16, trail: trail as u8 }
            } else {
                How::Word
            };
        }
    }
    if is_variable(core, kinds) {
        if kinds.has(JOINER) && joins_words(core) {
            How::Joined { lead: lead as u8, trail: trail as u8 }
        } else if lead == 0 && trail == 0 {
            How::Var
        } else {
            How::Wrapped { lead: lead as u8, trail: trail as u8 }
        }
    } else if lead == 0 && is_calendar_word(token.trim_end_matches(',')) {
        How::Calendar
    } else if kinds.has(SPACE) {
        // Quoted text with more after its closing quote: a template's tokens hold no spaces.
        How::Var
    } else {
        How::Word
    }
}

/// What kinds of bytes a token holds, found in one pass: most tokens are judged on these alone,
/// without searching them again for `=`, `@`, `://` or a joiner.
#[derive(Debug, Clone, Copy)]
struct Kinds(u8);

const DIGIT: u8 = 1;
const EQUALS: u8 = 1 << 1;
const AT: u8 = 1 << 2;
const COLON: u8 = 1 << 3;
const JOINER: u8 = 1 << 4;
/// Neither a hex digit nor a digit.
const NOT_HEX: u8 = 1 << 5;
/// Whitespace: only inside a quoted string the tokenizer kept whole.
const SPACE: u8 = 1 << 6;

/// The kinds of each byte value.
static KINDS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let mut k = 0;
        if b.is_ascii_digit() {
            k |= DIGIT;
        } else if !b.is_ascii_hexdigit() {
            k |= NOT_HEX;
        }
        if b == b'=' {
            k |= EQUALS;
        }
        if b == b'@' {
            k |= AT;
        }
        if b == b':' {
            k |= COLON;
        }
        if b.is_ascii_whitespace() {
            k |= SPACE;
        }
        if is_joiner(b) {
            k |= JOINER;
        }
        t[c] = k;
        c += 1;
    }
    t
};

impl Kinds {
    fn of(b: &[u8]) -> Self {
        Self(b.iter().fold(0, |k, &c| k | KINDS[c as usize]))
    }

    fn has(self, kind: u8) -> bool {
        self.0 & kind != 0
    }
}

/// What joins the parts of a token that holds both words and variables with no space between
/// them: pipes, colons, commas, brackets, `=`. Not `.`, `-`, `_` or `/`: those are inside
/// dotted names, versions, addresses, ids and paths, which are one variable whole.
const fn is_joiner(b: u8) -> bool {
    matches!(b, b'|' | b':' | b',' | b';' | b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'=')
}

/// A part of a joined token that is a word: two or more letters (`_`, `-`, `.` may join them),
/// no digit, and a letter that is not a hex digit (`FF:F2:9F:EA` is an address, not words).
fn is_word_part(p: &[u8]) -> bool {
    p.len() >= 2
        && p.iter().all(|c| c.is_ascii_alphabetic() || matches!(c, b'_' | b'-' | b'.'))
        && p.iter().filter(|c| c.is_ascii_alphabetic()).count() >= 2
        && p.iter().any(|c| c.is_ascii_alphabetic() && !c.is_ascii_hexdigit())
}

/// Whether a variable token is really words and variables joined by punctuation: a part of it
/// is a word, and it is not a path, URL or e-mail address, which stay one variable.
fn joins_words(core: &str) -> bool {
    let b = core.as_bytes();
    if b[0] == b'/'
        || b.starts_with(b"./")
        || b.starts_with(b"~/")
        || core.contains("://")
        || core.contains('@')
    {
        return false;
    }
    if b.len() > 2 && b[1] == b':' && b[2] == b'\\' {
        return false;
    }
    b.split(|&c| is_joiner(c)).any(is_word_part)
}

/// A joined token's parts: words kept, each run of other parts (with the punctuation between
/// them) one `<*>`, the punctuation between a word and a variable kept.
fn render_joined(core: &str, out: &mut String) {
    out.clear();
    let b = core.as_bytes();
    let mut last_var = false;
    // Punctuation after a variable, written only if a word follows (else the run goes on).
    let mut held = 0..0;
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if is_joiner(b[i]) {
            while i < b.len() && is_joiner(b[i]) {
                i += 1;
            }
            if last_var {
                held = start..i;
            } else {
                out.push_str(&core[start..i]);
            }
            continue;
        }
        while i < b.len() && !is_joiner(b[i]) {
            i += 1;
        }
        if is_word_part(&b[start..i]) {
            if last_var {
                out.push_str(&core[held.clone()]);
            }
            out.push_str(&core[start..i]);
            last_var = false;
        } else {
            if !last_var {
                out.push_str(WILDCARD);
            }
            last_var = true;
        }
        held = 0..0;
    }
    out.push_str(&core[held]);
}

fn is_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= 40
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

/// Whether a token (wrappers removed; `kinds` its bytes' kinds) is certainly a variable.
fn is_variable(core: &str, kinds: Kinds) -> bool {
    let b = core.as_bytes();
    if kinds.has(DIGIT) {
        return true;
    }
    // Paths and URLs.
    if b[0] == b'/' && b.len() > 1 || b.starts_with(b"./") || b.starts_with(b"~/") {
        return true;
    }
    if kinds.has(COLON) {
        // URLs and Windows paths.
        if core.contains("://") || b.len() > 2 && b[1] == b':' && b[2] == b'\\' {
            return true;
        }
    }
    // E-mail addresses.
    if let Some(at) = kinds.has(AT).then(|| core.find('@')).flatten() {
        if at > 0 && core[at..].contains('.') {
            return true;
        }
    }
    // Hex words without a digit are rare but exist (`deadbeefcafe`).
    b.len() >= 8 && !kinds.has(NOT_HEX)
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
            (r"loaded C:\Windows\system.dll for from=ops@example.org", "loaded <*> for from=<*>"),
            ("see ftp://mirror.example.org/pub and FACADE", "see <*> and FACADE"),
            // Words joined to variables by punctuation keep the words.
            (
                "20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579",
                "<*>|Step_LSC|<*>|onStandStepChanged <*>",
            ),
            (
                "IOThunderboltSwitch<0>(0x0)::listenerCallback - Thunderbolt HPD",
                "IOThunderboltSwitch<<*>)::listenerCallback - Thunderbolt HPD",
            ),
            ("QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181 up", "QuorumPeer[myid=<*> up"),
            ("at 10.0.0.1:8080, 10.0.0.2:80 and /a/b:3", "at <*>, <*> and <*>"),
            // A quoted value of several words is one variable; of one word, a word.
            (
                r#"acquire lock=1, flags=0x1, tag="View Lock", name=com.android.systemui, ws=null"#,
                r#"acquire lock=<*>, flags=<*>, tag="<*>", name=com.android.systemui, ws=null"#,
            ),
            (r#"acquire tag="AudioMix", uid=1000"#, r#"acquire tag="AudioMix", uid=<*>"#),
            (r#"sync err="failed to "StartContainer"" pod=web"#, r#"sync err="<*>" pod=web"#),
            (r#"open a="unclosed value"#, r#"open a="unclosed value"#),
        ];
        for (line, want) in cases {
            assert_eq!(masked(line), want, "{line}");
        }
    }

    #[test]
    fn a_stored_template_is_masked_as_lines_are_now_and_its_variables_stay() {
        let remasked = |t: &str| {
            let (mut m, mut positions) = (Masked::default(), Vec::new());
            remask_template(t, &mut m, &mut positions);
            (m.text().to_owned(), positions)
        };
        // Today's templates are what they were.
        for t in [
            "PacketResponder <*> for block <*> terminating",
            "rhost=<*> user=root",
            "'<*>' [<*>] <*>|Step|<*>",
        ] {
            assert_eq!(remasked(t).0, t);
        }
        // Words the rules now mask, one run of them one variable; stored `<*>` never merged.
        assert_eq!(remasked("backup 2024-01-02 10:00:00 done").0, "backup <*> done");
        assert_eq!(remasked("backup 2024-01-02 10:00:00 done").1, [0, 1, 1, 2]);
        assert_eq!(remasked("user <*> <*> sda1 done").0, "user <*> <*> <*> done");
        // A quoted value an earlier build split into words is one position again.
        let (text, positions) = remasked(r#"acquire tag="View Lock", uid=<*> done"#);
        assert_eq!(text, r#"acquire tag="<*>", uid=<*> done"#);
        assert_eq!(positions, [0, 1, 1, 2, 3]);
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
