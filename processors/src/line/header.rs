//! Where a log line's header ends, without being told the line's format.
//!
//! A header is the run of fields a logging library puts before the message: timestamps in any
//! common shape, a host name, a process id, a level, a thread in brackets, a logger name. They
//! are recognised by what they look like and where they stand (a host only between a timestamp
//! and a `prog[pid]:`; upper-case fields only between a timestamp and a level), so syslog,
//! log4j, Python, Go, glog, Apache, HDFS, BGL and ZooKeeper lines all split without
//! configuration, and so do formats written from their documentation only: Android logcat
//! (one-letter levels, brief and threadtime), nginx and Apache 2.4 error logs (`[module:level]`),
//! PostgreSQL (`LOG:`), MySQL 8 (`[Note]`, `[System]`), Redis (`#`/`*` marks) and Envoy
//! (brackets side by side). A line with neither a timestamp nor a level has no header.

use tailrace_schemas::Severity;

/// A line split at the end of its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split<'a> {
    /// The message: everything after the header (the whole line when it has none).
    pub content: &'a str,
    /// The level the header states, if it states one.
    pub level: Option<Severity>,
    /// Whether the header may go on with fields these rules do not know: it has none, or it
    /// ends at a timestamp, number or bracket rather than at a field that ends headers (a
    /// level, a `name:`, a separator). Only such lines teach a source's own header columns
    /// ([`crate::template::source`]).
    pub open: bool,
}

/// How far a level word may stand after the first field that is neither timestamp nor level
/// (BGL: `node time node RAS KERNEL INFO`).
const LEVEL_LOOKAHEAD: usize = 6;

/// Android's one-letter levels (logcat): Verbose, Debug, Info, Warn, Error, Fatal, Assert.
fn letter_level(t: &str) -> Option<Severity> {
    Some(match t {
        "V" => Severity::Trace,
        "D" => Severity::Debug,
        "I" => Severity::Info,
        "W" => Severity::Warn,
        "E" | "F" | "A" => Severity::Error,
        _ => return None,
    })
}

/// logcat's brief format, `E/Tag( 1234): message`: the level and where the message starts.
fn logcat_brief(line: &str) -> Option<(usize, Severity)> {
    // The level is one letter: no need to look for a `/` further on.
    if line.as_bytes().get(1) != Some(&b'/') {
        return None;
    }
    let (letter, rest) = line.split_once('/')?;
    let sev = letter_level(letter)?;
    let open = rest.find('(')?;
    if open == 0 || rest[..open].contains(char::is_whitespace) {
        return None;
    }
    let close = rest[open..].find("):")? + open;
    rest[open + 1..close]
        .trim()
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then_some((letter.len() + 1 + close + 2, sev))
}

/// Splits `line` at the end of its header.
pub fn split(line: &str) -> Split<'_> {
    if let Some((end, sev)) = logcat_brief(line) {
        return Split { content: line[end..].trim_start(), level: Some(sev), open: false };
    }
    // A syslog priority (`<13>`) is glued to the timestamp.
    let (mut end, priority) = match priority(line) {
        Some((len, sev)) => (len, Some(sev)),
        None => (0, None),
    };
    let mut level = None;
    let mut fields = Fields::new(line, end);
    let mut saw_stamp = false;
    let mut previous = None;
    let mut i = 0usize;
    while let Some((tok, class)) = fields.get(i) {
        match class {
            Class::Stamp => {
                // After the level only when right after it (glog: `I1122 12:00:00.123`).
                if level.is_some() && !matches!(previous, Some(Class::Level(_) | Class::Stamp)) {
                    break;
                }
                saw_stamp = true;
                end = tok.end;
            }
            Class::Number => {
                // A number before the level is a date part, an epoch or a process id; after it,
                // only a process id before a separator, thread or logger (`INFO 123 ---`).
                if level.is_some()
                    && !matches!(fields.class(i + 1), Some(Class::Sep | Class::Bracket(_) | Class::Logger))
                {
                    break;
                }
                end = tok.end;
            }
            Class::Level(sev) => {
                if level.is_some() {
                    break;
                }
                level = Some(sev);
                end = tok.end;
            }
            Class::Sep => {
                if i > 0 && !(saw_stamp || level.is_some()) {
                    break;
                }
                end = tok.end;
            }
            Class::Bracket(inner) => match inner {
                Inner::Stamp if level.is_none() => {
                    saw_stamp = true;
                    end = tok.end;
                }
                Inner::Level(sev) if level.is_none() => {
                    level = Some(sev);
                    end = tok.end;
                }
                Inner::Other if saw_stamp || level.is_some() => end = tok.end,
                _ => break,
            },
            Class::Logger => {
                if saw_stamp || level.is_some() {
                    end = tok.end;
                }
                break;
            }
            Class::Word => {
                let next = fields.class(i + 1);
                if i == 0 && month_day(tok.text) && next == Some(Class::Stamp) {
                    // logcat's date has no year: `12-05 10:00:00.123`.
                    saw_stamp = true;
                    end = tok.end;
                    previous = Some(Class::Stamp);
                    i += 1;
                    continue;
                }
                if let Some(sev) = letter_level(tok.text).filter(|_| saw_stamp && level.is_none()) {
                    // logcat threadtime: `date time pid tid E Tag: message`.
                    if next == Some(Class::Logger) {
                        level = Some(sev);
                        end = fields.end(i + 1);
                        break;
                    }
                }
                if let Some(sev) =
                    mark_level(tok.text).filter(|_| previous == Some(Class::Stamp) && level.is_none())
                {
                    // Redis: `pid:role date time # message`.
                    level = Some(sev);
                    end = tok.end;
                    break;
                }
                if i == 0 && is_tag(tok.text) && matches!(next, Some(Class::Number | Class::Stamp)) {
                    // A tag before the timestamp (BGL's alert category).
                    end = tok.end;
                } else if previous == Some(Class::Stamp) && level.is_none() && next == Some(Class::Logger) {
                    // syslog: `time host prog[pid]: message` (the host right after the time).
                    end = fields.end(i + 1);
                    break;
                } else if let Some((at, sev)) =
                    (saw_stamp && level.is_none()).then(|| level_ahead(&mut fields, i)).flatten()
                {
                    // Fields between the timestamp and the level (node ids, facilities,
                    // a Python logger name): the header runs through the level.
                    level = Some(sev);
                    end = fields.end(at);
                    i = at;
                } else if level.is_some() && is_identifier(tok.text) && next == Some(Class::Sep) {
                    // A logger name followed by a separator (`c.e.Foo - message`).
                    end = fields.end(i + 1);
                    break;
                } else {
                    break;
                }
            }
        }
        previous = Some(class);
        i += 1;
    }
    let level = level.or(priority);
    if !(saw_stamp || level.is_some()) {
        return Split { content: line, level: None, open: true };
    }
    Split { content: line[end..].trim_start(), level, open: !ends_header(&line[..end]) }
}

/// Whether a header's last field (as the fields were read: a `[…]` group is one) is one that
/// ends headers: a level, a separator, a `name:`.
fn ends_header(header: &str) -> bool {
    let Some(last) = Tokens::new(header, 0).last().map(|t| t.text) else { return false };
    last.ends_with(':')
        || letter_level(last).is_some()
        || mark_level(last).is_some()
        || matches!(
            classify(last),
            Class::Level(_) | Class::Sep | Class::Logger | Class::Bracket(Inner::Level(_))
        )
}

/// `MM-DD`, a date without its year.
fn month_day(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 5
        && b[2] == b'-'
        && b[..2].iter().chain(&b[3..]).all(u8::is_ascii_digit)
        && (1..=12).contains(&((b[0] - b'0') * 10 + (b[1] - b'0')))
}

/// Redis's level marks after its timestamp: `#` warning, `*` notice, `-` verbose, `.` debug.
fn mark_level(t: &str) -> Option<Severity> {
    Some(match t {
        "#" => Severity::Warn,
        "*" => Severity::Info,
        "." => Severity::Debug,
        _ => return None,
    })
}

/// The index and severity of a level word within the lookahead from field `from`, if every
/// field before it looks like a header field. Plain lower-case words (host and service names
/// of in-house formats: `time alpha billing ERROR: message`) count as header fields only before
/// a level written in capitals, at most [`WORDS_BEFORE_LEVEL`] of them: a message's own words
/// are seldom followed by one.
fn level_ahead(fields: &mut Fields<'_>, from: usize) -> Option<(usize, Severity)> {
    let mut words = 0;
    for k in from..from + LEVEL_LOOKAHEAD {
        let (t, class) = fields.get(k)?;
        match class {
            Class::Level(sev) => {
                // After words, the level must be written as a header writes it: in capitals,
                // then a colon or a separator, then the message (`… returned WARN` at a line's
                // end, or `… level DEBUG set`, is a message).
                let mut header_like = || {
                    let capitals = !t.text.bytes().any(|b| b.is_ascii_lowercase());
                    let marked = t.text.ends_with(':')
                        || matches!(
                            fields.class(k + 1),
                            Some(Class::Sep | Class::Bracket(_) | Class::Logger)
                        );
                    capitals && marked && fields.get(k + 1).is_some()
                };
                return (k > from && (words == 0 || header_like())).then_some((k, sev));
            }
            Class::Stamp | Class::Number | Class::Sep | Class::Bracket(_) => {}
            _ if is_field(t.text) => {}
            _ if is_plain_word(t.text) && words < WORDS_BEFORE_LEVEL => words += 1,
            _ => return None,
        }
    }
    None
}

/// How many plain words may stand between a timestamp and a level in capitals.
const WORDS_BEFORE_LEVEL: usize = 3;

/// A word of letters, digits, `-` and `_`, starting with a letter (`alpha`, `web-1`, `billing`).
fn is_plain_word(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// An upper-case field (`RAS`, `KERNEL`, `R02-M1-N0-C:J12-U11`) or a dotted identifier.
fn is_field(t: &str) -> bool {
    !t.bytes().any(|b| b.is_ascii_lowercase()) || is_identifier(t)
}

/// A tag: upper-case letters, digits and `_` (BGL's `KERNDTLB`).
fn is_tag(t: &str) -> bool {
    t.len() >= 2 && t.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// A dotted or `_`-joined identifier such as a logger name (`module.sub`, `c.e.Foo`).
fn is_identifier(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'$' | b'-'))
        && b.iter().any(|&c| matches!(c, b'.' | b'_'))
}

#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    text: &'a str,
    end: usize,
}

/// How many fields a header may have.
const MAX_FIELDS: usize = 24;

/// The line's first fields, tokenized and classified once each, on demand: most headers end
/// after a few fields, and the scan looks ahead and back.
struct Fields<'a> {
    tokens: Tokens<'a>,
    seen: [(Tok<'a>, Class); MAX_FIELDS],
    len: usize,
}

impl<'a> Fields<'a> {
    fn new(line: &'a str, pos: usize) -> Self {
        Self {
            tokens: Tokens::new(line, pos),
            seen: [(Tok { text: "", end: 0 }, Class::Word); MAX_FIELDS],
            len: 0,
        }
    }

    fn get(&mut self, i: usize) -> Option<(Tok<'a>, Class)> {
        while self.len <= i {
            if self.len == MAX_FIELDS {
                return None;
            }
            let tok = self.tokens.next()?;
            self.seen[self.len] = (tok, classify(tok.text));
            self.len += 1;
        }
        Some(self.seen[i])
    }

    fn class(&mut self, i: usize) -> Option<Class> {
        self.get(i).map(|(_, c)| c)
    }

    /// The end of field `i`, which the caller has already seen.
    fn end(&self, i: usize) -> usize {
        self.seen[i].0.end
    }
}

/// Whitespace-separated tokens, except that a `[` group runs to its matching `]` across spaces
/// (`[Sun Dec 04 04:47:44 2005]`, `[QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:Leader@774]`).
struct Tokens<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn new(line: &'a str, pos: usize) -> Self {
        Self { line, pos }
    }
}

/// A syslog priority at the very start: its length and severity.
fn priority(line: &str) -> Option<(usize, Severity)> {
    let b = line.as_bytes();
    if b.first() != Some(&b'<') {
        return None;
    }
    let close = b.iter().take(5).position(|&c| c == b'>')?;
    let digits = &line[1..close];
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let pri: u32 = digits.parse().ok()?;
    Some((close + 1, syslog_severity(pri % 8)))
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Tok<'a>;

    fn next(&mut self) -> Option<Tok<'a>> {
        let b = self.line.as_bytes();
        while self.pos < b.len() && b[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
        if self.pos >= b.len() {
            return None;
        }
        let start = self.pos;
        let mut end = start;
        if b[start] == b'[' {
            let mut depth = 0usize;
            for (k, &c) in b[start..].iter().enumerate() {
                match c {
                    b'[' => depth += 1,
                    b']' => {
                        depth -= 1;
                        if depth == 0 {
                            end = start + k + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        while end < b.len() && !b[end].is_ascii_whitespace() {
            end += 1;
        }
        self.pos = end;
        Some(Tok { text: &self.line[start..end], end })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A date, a time, a date-time, a month or weekday name, a time zone.
    Stamp,
    /// Digits only.
    Number,
    Level(Severity),
    /// `-`, `|`, `--`, `---`, `:`.
    Sep,
    Bracket(Inner),
    /// A name ending with `:` (`sshd[24200]:`, `dfs.DataNode$PacketResponder:`), or glog's
    /// `file.go:123]`: the header's last field.
    Logger,
    Word,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    Stamp,
    Level(Severity),
    Other,
}

fn classify(t: &str) -> Class {
    let b = t.as_bytes();
    if b.iter().all(u8::is_ascii_digit) {
        return Class::Number;
    }
    // Redis's `pid:role` (`1:M`, `12:C`).
    if let Some((pid, role)) = b[0].is_ascii_digit().then(|| t.split_once(':')).flatten() {
        if !pid.is_empty() && pid.bytes().all(|c| c.is_ascii_digit()) && matches!(role, "M" | "S" | "C" | "X")
        {
            return Class::Number;
        }
    }
    if matches!(t, "-" | "|" | "--" | "---" | ":" | "::" | ">" | "-->") {
        return Class::Sep;
    }
    if b[0] == b'[' {
        let close = t.rfind(']').unwrap_or(t.len());
        let inner = t[1..close].trim();
        let trailing_ok = t[close..].trim_start_matches(']').chars().all(|c| c == ':');
        if !trailing_ok {
            return Class::Word;
        }
        if let Some(sev) = bracket_level(inner) {
            return Class::Bracket(Inner::Level(sev));
        }
        // Brackets side by side (Envoy: `[time][thread][level][logger]`): the level of any.
        if inner.contains("][") {
            if let Some(sev) = inner.split("][").find_map(bracket_level) {
                return Class::Bracket(Inner::Level(sev));
            }
        }
        let stamp_or_number = |p: &str| is_stamp_part(p) || p.bytes().all(|c| c.is_ascii_digit());
        if !inner.is_empty() && inner.split_ascii_whitespace().all(stamp_or_number) && inner.contains(':') {
            return Class::Bracket(Inner::Stamp);
        }
        return Class::Bracket(Inner::Other);
    }
    if let Some(sev) = level_word(t.trim_end_matches(':')) {
        return Class::Level(sev);
    }
    // PostgreSQL's `LOG:` (upper case only: a message may say "log").
    if t == "LOG:" || t == "LOG" {
        return Class::Level(Severity::Info);
    }
    if let Some(sev) = glog_prefix(b) {
        return Class::Level(sev);
    }
    if is_stamp_part(t) && !b.iter().all(u8::is_ascii_digit) {
        return Class::Stamp;
    }
    if is_logger(t) {
        return Class::Logger;
    }
    Class::Word
}

/// A date, time or date-time in any common shape, a month or weekday name, or a zone:
/// 2015-10-18, 18:01:47,978, 17/06/09, 2005.06.03, 2005-06-03-15.42.50.675872,
/// 2024-01-01T12:00:00.123Z, +0200 (not an address such as 10.0.0.1:80, nor a version).
fn is_stamp_part(t: &str) -> bool {
    let t = t.trim_end_matches(',');
    if is_calendar_word(t)
        || matches!(t, "UTC" | "GMT" | "Z" | "CET" | "CEST" | "EST" | "EDT" | "PST" | "PDT")
    {
        return true;
    }
    let b = t.as_bytes();
    if b.len() == 5 && (b[0] == b'+' || b[0] == b'-') && b[1..].iter().all(u8::is_ascii_digit) {
        return true;
    }
    if b.is_empty() || !b[0].is_ascii_digit() {
        return false;
    }
    // Lengths of the digit groups, and whether the first separator after the first group is a
    // colon (a time) or a date separator.
    let mut groups: [usize; 3] = [0; 3];
    let mut n = 0usize;
    let mut run = 0usize;
    let mut first_sep = 0u8;
    let mut date_seps = false;
    for &c in b {
        if c.is_ascii_digit() {
            run += 1;
            continue;
        }
        if !matches!(c, b'-' | b'/' | b'.' | b':' | b',' | b'T' | b'Z' | b'+') {
            return false;
        }
        if run > 0 {
            if n < 3 {
                groups[n] = run;
            }
            n += 1;
        }
        run = 0;
        if first_sep == 0 {
            first_sep = c;
        }
        date_seps |= matches!(c, b'-' | b'/' | b'.');
    }
    if run > 0 {
        if n < 3 {
            groups[n] = run;
        }
        n += 1;
    }
    let time = first_sep == b':' && (1..=2).contains(&groups[0]) && groups[1] == 2;
    let date = date_seps
        && first_sep != b':'
        && n >= 3
        && !is_ipv4_like(t)
        && ((groups[0] == 4 && groups[1] <= 2 && groups[2] <= 2)
            || (groups[0] <= 2 && groups[1] <= 2 && (groups[2] == 2 || groups[2] == 4)));
    time || date
}

/// Four dot-separated numbers (an address, not a date like 2005.06.03).
fn is_ipv4_like(t: &str) -> bool {
    t.split('.').count() == 4
        && t.split('.').all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|c| c.is_ascii_digit()))
}

fn is_month(t: &str) -> bool {
    const M: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    M.contains(&t) || (t.len() > 3 && t.get(..3).is_some_and(|m| M.contains(&m)) && month_full(t))
}

fn month_full(t: &str) -> bool {
    matches!(
        t,
        "January"
            | "February"
            | "March"
            | "April"
            | "June"
            | "July"
            | "August"
            | "September"
            | "October"
            | "November"
            | "December"
    )
}

fn is_weekday(t: &str) -> bool {
    matches!(
        t,
        "Mon"
            | "Tue"
            | "Wed"
            | "Thu"
            | "Fri"
            | "Sat"
            | "Sun"
            | "Monday"
            | "Tuesday"
            | "Wednesday"
            | "Thursday"
            | "Friday"
            | "Saturday"
            | "Sunday"
    )
}

/// A month or weekday name (also used by masking: a date inside a message is a variable).
pub(crate) fn is_calendar_word(t: &str) -> bool {
    // Most words are rejected by their first letter and length alone.
    let b = t.as_bytes();
    (3..=9).contains(&b.len()) && b[0].is_ascii_uppercase() && (is_month(t) || is_weekday(t))
}

/// glog: `I1122`, `W0102`, `E1122`, `F0101` (level letter, month, day).
fn glog_prefix(b: &[u8]) -> Option<Severity> {
    if b.len() != 5 || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    match b[0] {
        b'I' => Some(Severity::Info),
        b'W' => Some(Severity::Warn),
        b'E' | b'F' => Some(Severity::Error),
        _ => None,
    }
}

fn syslog_severity(sev: u32) -> Severity {
    match sev {
        0..=3 => Severity::Error,
        4 => Severity::Warn,
        5 | 6 => Severity::Info,
        _ => Severity::Debug,
    }
}

/// A level word of syslog, log4j/logback, java.util.logging, Python, Go (zap, logrus) loggers.
pub fn level_word(t: &str) -> Option<Severity> {
    if t.is_empty() || t.len() > 11 {
        return None;
    }
    let mut buf = [0u8; 11];
    for (d, s) in buf.iter_mut().zip(t.bytes()) {
        *d = s.to_ascii_lowercase();
    }
    let lower = &buf[..t.len()];
    Some(match lower {
        b"trace" | b"finest" | b"finer" | b"trc" => Severity::Trace,
        b"debug" | b"fine" | b"config" | b"verbose" | b"dbg" | b"debug1" | b"debug2" | b"debug3" => {
            Severity::Debug
        }
        b"info" | b"information" | b"informational" | b"notice" | b"inf" => Severity::Info,
        b"warn" | b"warning" | b"wrn" => Severity::Warn,
        b"error" | b"err" | b"fatal" | b"critical" | b"crit" | b"severe" | b"alert" | b"emerg"
        | b"emergency" | b"panic" | b"dpanic" | b"failure" => Severity::Error,
        _ => return None,
    })
}

/// A level in brackets: a level word, MySQL's `Note` and `System`, or Apache's
/// `module:level` (`core:error`, `mpm_event:notice`).
fn bracket_level(inner: &str) -> Option<Severity> {
    let inner = inner.trim();
    if inner.eq_ignore_ascii_case("note") || inner == "System" {
        return Some(Severity::Info);
    }
    level_word(inner).or_else(|| {
        inner.rsplit_once(':').and_then(|(module, l)| {
            (!module.is_empty() && module.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'))
                .then(|| level_word(l))
                .flatten()
        })
    })
}

/// `sshd[24200]:`, `sshd(pam_unix)[19939]:`, `kernel:`, `org.apache.Foo:`, and glog's
/// `file.go:123]`.
fn is_logger(t: &str) -> bool {
    let b = t.as_bytes();
    if b.len() >= 2 && b[b.len() - 1] == b':' {
        let body = &b[..b.len() - 1];
        return body[0].is_ascii_alphabetic()
            && body.iter().all(|&c| c.is_ascii_alphanumeric() || b"._$-/()[]@#".contains(&c))
            && !body.contains(&b':');
    }
    if b.len() >= 4 && b[b.len() - 1] == b']' {
        if let Some((file, line)) = t[..t.len() - 1].rsplit_once(':') {
            return file.contains('.') && !line.is_empty() && line.bytes().all(|c| c.is_ascii_digit());
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(line: &str) -> &str {
        split(line).content
    }

    #[test]
    fn headers_of_common_formats_are_stripped() {
        let cases = [
            ("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown", "check pass; user unknown"),
            ("Dec 10 06:55:46 LabSZ sshd[24200]: error: Received disconnect", "error: Received disconnect"),
            ("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/x", "workerEnv.init() ok /etc/x"),
            ("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block", "PacketResponder 1 for block"),
            (
                "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster",
                "Created MRAppMaster",
            ),
            ("17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered signal", "Registered signal"),
            (
                "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200",
                "Notification time out: 3200",
            ),
            (
                "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected",
                "instruction cache parity error corrected",
            ),
            (
                "KERNDTLB 1118536327 2005.06.11 R30-M0-N9-C:J16-U01 2005-06-11-17.32.07.581048 R30-M0-N9-C:J16-U01 RAS KERNEL FATAL data TLB error interrupt",
                "data TLB error interrupt",
            ),
            ("2024-01-02 10:00:00,123 - app.db - WARNING - pool exhausted", "pool exhausted"),
            ("2024-01-02T10:00:00.123Z ERROR [main] c.e.Foo - boom", "boom"),
            ("I1122 12:00:00.123456   12345 server.go:88] listening on :80", "listening on :80"),
            ("<13>Jan  5 10:00:00 host app[1]: started", "started"),
        ];
        for (line, want) in cases {
            assert_eq!(content(line), want, "{line}");
        }
    }

    #[test]
    fn levels_in_the_header_are_reported() {
        assert_eq!(split("2024-01-02 10:00:00 WARN x: y").level, Some(Severity::Warn));
        assert_eq!(split("[Sun Dec 04 04:47:44 2005] [error] mod_jk child").level, Some(Severity::Error));
        assert_eq!(split("E1122 12:00:00.1 1 a.go:1] bad").level, Some(Severity::Error));
        assert_eq!(split("<11>Jan  5 10:00:00 host app: x").level, Some(Severity::Error));
        assert_eq!(split("Jun 14 15:16:01 combo sshd[1]: x").level, None);
    }

    #[test]
    fn a_header_ending_at_a_level_name_or_separator_is_closed_and_any_other_open() {
        for line in [
            "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster",
            "2015-10-18 18:01:47,978 INFO [main] org.apache.Foo: started",
            "2026-12-05 10:00:00,123 - app.auth - INFO - user alice logged in",
            "[2026-12-05 10:00:00.123][12][warning][config] bad cluster",
            "[2026-12-05 10:00:00] [ ERROR ] disk full",
            "081109 203615 148 INFO dfs.DataNode$PacketResponder: done",
            "E/Tag( 123): boom",
        ] {
            assert!(!split(line).open, "{line}");
        }
        for line in [
            "2026-12-05T10:00:00Z alpha billing payment error",
            "[10.30 16:49:06] chrome.exe - proxy.example.com:5070 open through proxy",
            "connection reset by peer",
        ] {
            assert!(split(line).open, "{line}");
        }
    }

    #[test]
    fn a_line_without_timestamp_or_level_is_all_message() {
        for line in ["connection reset by peer", "user root logged in at 10:00", "ERRORS: none", "- a - b"] {
            assert_eq!(content(line), line);
        }
    }
}
