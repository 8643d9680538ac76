//! What the fingerprinter learns of each source: how many leading columns of its messages are
//! still header (fields the rules of [`crate::line::header`] did not recognize, such as an
//! in-house service or host name column), learned from the source's own lines.
//!
//! A header column's value does not depend on the event: the same event appears with several of
//! its values, and each of its values appears with several events. A message's first word is
//! the other way round: it mostly decides what follows (`Accepted password for …` and `Failed
//! password for …` are two events, whose first words each come with one continuation). Such a
//! column is also exactly the kind that splits an event into several templates (the miner
//! groups by first word), while a column that goes with the event (a component name) splits
//! nothing. So after [`LEARN`] lines of a source, a leading column of words is cut when both
//! hold on the evidence of those lines, one column at a time, at most [`MAX_CUT`]; a token
//! holding a digit is a value (masked anyway), so a timestamp or counter column left in the
//! message is one value, not a thousand, and is cut only when a header column follows it.
//!
//! Learning looks ahead: callers [`Shapes::observe`] lines before fingerprinting them (a batch,
//! the first lines of a file), so a source whose first batch holds [`LEARN`] lines has every
//! line read alike. A source that sends fewer at a time is read whole until decided, and its
//! events may then get a second fingerprint, once.
//!
//! State is bounded: while learning, [`LEARN`] small samples per source, for at most
//! [`MAX_LEARNING`] sources at once; once decided, one byte. Decisions are exchanged as
//! [`ShapeRecord`]s with the templates, so a restart or another instance cuts a source's lines
//! as before and its lines keep their fingerprints. Only lines whose header the rules could
//! not close ([`crate::line::header::Split::open`]) are observed and cut, so a source whose
//! header the rules find whole is unaffected.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::miner::fnv1a;

/// Lines of a source observed before its shape is decided.
pub const LEARN: usize = 128;
/// Most leading columns cut.
pub const MAX_CUT: usize = 3;
/// Sources remembered; later ones are read by the rules alone (bounds memory against a flood
/// of one-line sources).
pub const MAX_SOURCES: usize = 65_536;
/// Sources learning at once (each holds up to [`LEARN`] samples).
pub const MAX_LEARNING: usize = 1024;
/// Tokens after a candidate block that stand for "the rest of the event".
const REST_TOKENS: usize = 6;

/// A source (host and file), hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceKey(pub u64);

impl SourceKey {
    pub fn new(host: &str, source: &str) -> Self {
        let mut bytes = Vec::with_capacity(host.len() + source.len() + 1);
        bytes.extend_from_slice(host.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(source.as_bytes());
        Self(fnv1a(&bytes))
    }
}

impl std::fmt::Display for SourceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A source's decided shape, as stored and exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeRecord {
    pub source: SourceKey,
    /// Leading message columns that are header.
    pub cut: u8,
}

/// The digit-masked hashes of a line's first tokens.
#[derive(Debug, Clone, Copy)]
struct Sample {
    hashes: [u32; MAX_CUT + REST_TOKENS],
    len: u8,
}

impl Sample {
    fn of(content: &str) -> Self {
        let mut sample = Self { hashes: [0; MAX_CUT + REST_TOKENS], len: 0 };
        for (slot, token) in sample.hashes.iter_mut().zip(content.split_ascii_whitespace()) {
            *slot = masked_hash(token);
            sample.len += 1;
        }
        sample
    }

    fn tokens(&self) -> &[u32] {
        &self.hashes[..usize::from(self.len)]
    }
}

#[derive(Debug)]
enum State {
    /// The samples of the lines whose header was left open, and how many lines were seen.
    Learning(Vec<Sample>, usize),
    Decided(u8),
}

/// The shapes of every source seen.
#[derive(Debug, Default)]
pub struct Shapes {
    sources: HashMap<SourceKey, State>,
    /// Sources in [`State::Learning`].
    learning: usize,
    /// Decided since [`Shapes::take_changes`].
    changed: Vec<ShapeRecord>,
}

impl Shapes {
    /// Whether `source`'s shape is still to be learned (and there is room to learn it).
    pub fn undecided(&self, source: SourceKey) -> bool {
        match self.sources.get(&source) {
            Some(State::Decided(_)) => false,
            Some(State::Learning(..)) => true,
            None => self.sources.len() < MAX_SOURCES && self.learning < MAX_LEARNING,
        }
    }

    /// Learns from a line of `source` not yet fingerprinted: its message when the rules left
    /// its header open, `None` when they closed it (such a line is never cut, but counts: a
    /// source whose lines the rules read whole is decided, at 0, after [`LEARN`] of them).
    pub fn observe(&mut self, source: SourceKey, open_content: Option<&str>) {
        if !self.sources.contains_key(&source) {
            if !self.undecided(source) {
                return;
            }
            self.sources.insert(source, State::Learning(Vec::new(), 0));
            self.learning += 1;
        }
        let state = self.sources.get_mut(&source).expect("inserted above");
        if let State::Learning(samples, seen) = state {
            *seen += 1;
            if let Some(content) = open_content {
                samples.push(Sample::of(content));
            }
            if *seen >= LEARN {
                let cut = decide(samples);
                *state = State::Decided(cut);
                self.learning -= 1;
                self.changed.push(ShapeRecord { source, cut });
            }
        }
    }

    /// `content` of a line of `source` with its learned header columns cut (as it is while the
    /// source is undecided).
    pub fn content<'a>(&self, source: SourceKey, content: &'a str) -> &'a str {
        match self.sources.get(&source) {
            Some(State::Decided(cut)) => skip_tokens(content, usize::from(*cut)),
            _ => content,
        }
    }

    /// Takes in a decision made elsewhere (a store, another instance); the first decision of a
    /// source stands, so every instance cuts its lines alike.
    pub fn absorb(&mut self, record: ShapeRecord) {
        match self.sources.get(&record.source) {
            Some(State::Decided(_)) => {}
            Some(State::Learning(..)) => {
                self.learning -= 1;
                self.sources.insert(record.source, State::Decided(record.cut));
            }
            None if self.sources.len() >= MAX_SOURCES => {}
            None => {
                self.sources.insert(record.source, State::Decided(record.cut));
            }
        }
    }

    /// The decision for `source`, if made.
    pub fn cut_of(&self, source: SourceKey) -> Option<u8> {
        match self.sources.get(&source) {
            Some(State::Decided(cut)) => Some(*cut),
            _ => None,
        }
    }

    /// Decisions made since the last call.
    pub fn take_changes(&mut self) -> Vec<ShapeRecord> {
        std::mem::take(&mut self.changed)
    }
}

/// What every token holding a digit hashes to: a value, which the masker makes `<*>` anyway.
const VALUE: u32 = 0;

/// The hash of a word; [`VALUE`] for a token with a digit in it.
fn masked_hash(token: &str) -> u32 {
    if token.bytes().any(|b| b.is_ascii_digit()) {
        return VALUE;
    }
    (fnv1a(token.as_bytes()) as u32).max(1)
}

fn combine(hashes: &[u32]) -> u64 {
    hashes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3))
}

/// How many leading columns the samples say are header: columns of words that vary
/// independently of what follows them, one at a time, and the value columns (numbers, ids)
/// between them.
fn decide(samples: &[Sample]) -> u8 {
    let (mut cut, mut column) = (0, 0);
    while column < MAX_CUT {
        let values = samples.iter().all(|s| s.tokens().get(column) == Some(&VALUE));
        if values {
            // Masked anyway; cut only if a header column follows.
            column += 1;
        } else if independent(samples, column) {
            column += 1;
            cut = column;
        } else {
            break;
        }
    }
    cut as u8
}

/// Whether column `at` varies independently of what follows it.
fn independent(samples: &[Sample], at: usize) -> bool {
    let pairs: Vec<(u64, u64)> = samples
        .iter()
        .map(Sample::tokens)
        // A remainder of one word is too little to tell an event by (`Starting cron.service`).
        .filter(|s| s.len() >= at + 3)
        .map(|s| (u64::from(s[at]), combine(&s[at + 1..])))
        .collect();
    if pairs.len() < LEARN / 2 {
        return false;
    }
    // The same event with several values, and the same value with several events.
    varied_share(pairs.iter().map(|&(value, rest)| (rest, value)), 4)
        && varied_share(pairs.iter().copied(), 2)
}

/// Whether, among keys seen on two lines or more (at least `groups` of them), half or more
/// come with two values or more.
fn varied_share(pairs: impl Iterator<Item = (u64, u64)>, groups: usize) -> bool {
    let mut by_key: HashMap<u64, (usize, HashSet<u64>)> = HashMap::new();
    for (key, value) in pairs {
        let e = by_key.entry(key).or_default();
        e.0 += 1;
        e.1.insert(value);
    }
    let repeated: Vec<_> = by_key.values().filter(|(n, _)| *n >= 2).collect();
    let varied = repeated.iter().filter(|(_, values)| values.len() >= 2).count();
    repeated.len() >= groups && varied * 2 >= repeated.len()
}

/// `text` after its first `n` whitespace-separated tokens (the whole text when it has no more
/// than `n`: a line is never cut to nothing).
fn skip_tokens(text: &str, n: usize) -> &str {
    let mut rest = text;
    for _ in 0..n {
        let trimmed = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        let end = trimmed.find(|c: char| c.is_ascii_whitespace()).unwrap_or(trimmed.len());
        rest = &trimmed[end..];
    }
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    if rest.is_empty() {
        text
    } else {
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: SourceKey = SourceKey(7);

    /// Feeds `lines` (cycled to [`LEARN`]) and returns the decision.
    fn learn(lines: &[String]) -> u8 {
        let mut shapes = Shapes::default();
        for line in lines.iter().cycle().take(LEARN) {
            shapes.observe(SRC, Some(line));
        }
        shapes.cut_of(SRC).expect("decided after LEARN lines")
    }

    const EVENTS: [&str; 6] = [
        "connection reset by peer {}",
        "request {} took too long",
        "cache miss for key {}",
        "Accepted password for {} from 10.0.0.{} port 22",
        "Failed password for {} from 10.0.0.{} port 22",
        "disk quota exceeded on volume {}",
    ];

    fn event(i: usize) -> String {
        EVENTS[i % EVENTS.len()].replace("{}", &(i * 7919 % 1000).to_string())
    }

    #[test]
    fn a_service_and_host_column_the_rules_missed_is_learned_as_header() {
        let services = ["billing", "search", "auth", "gateway"];
        let hosts = ["alpha", "beta", "gamma"];
        let lines: Vec<String> = (0..LEARN)
            .map(|i| format!("{} {} {}", services[(i / 5) % 4], hosts[(i / 3) % 3], event(i)))
            .collect();
        assert_eq!(learn(&lines), 2);
        let mut shapes = Shapes::default();
        for line in &lines {
            assert_eq!(shapes.content(SRC, line), line, "undecided: whole");
            shapes.observe(SRC, Some(line));
        }
        assert_eq!(shapes.content(SRC, "auth beta cache miss for key 9"), "cache miss for key 9");
        assert_eq!(shapes.take_changes(), vec![ShapeRecord { source: SRC, cut: 2 }]);
    }

    #[test]
    fn messages_whose_first_word_names_the_event_are_not_cut() {
        let lines: Vec<String> = (0..LEARN).map(event).collect();
        assert_eq!(learn(&lines), 0);
    }

    #[test]
    fn a_remainder_of_one_word_is_too_little_evidence() {
        // Each verb with every unit and each unit with every verb looks exactly like a header
        // column by co-occurrence; with one word left there is no event to tell it by.
        let verbs = ["Starting", "Stopping", "Started", "Stopped"];
        let units = ["nginx.service", "cron.service", "ssh.service", "docker.service", "sshd.socket"];
        let lines: Vec<String> =
            (0..LEARN).map(|i| format!("{} {}", verbs[i % 4], units[(i / 4) % 5])).collect();
        assert_eq!(learn(&lines), 0);
    }

    #[test]
    fn a_timestamp_left_in_the_message_is_one_value_not_many() {
        let lines: Vec<String> =
            (0..LEARN).map(|i| format!("{}.{:03} {}", 1_700_000_000 + i, i % 1000, event(i))).collect();
        assert_eq!(learn(&lines), 0);
    }

    #[test]
    fn a_source_whose_headers_the_rules_close_is_decided_at_once_and_never_cut() {
        let mut shapes = Shapes::default();
        for _ in 0..LEARN {
            assert!(shapes.undecided(SRC));
            shapes.observe(SRC, None);
        }
        assert_eq!(shapes.cut_of(SRC), Some(0));
        assert!(!shapes.undecided(SRC), "its lines are not parsed twice any more");
    }

    #[test]
    fn a_decision_absorbed_from_elsewhere_stands_and_is_not_reported_again() {
        let mut shapes = Shapes::default();
        shapes.absorb(ShapeRecord { source: SRC, cut: 1 });
        assert_eq!(shapes.content(SRC, "web-1 disk full"), "disk full");
        assert_eq!(shapes.content(SRC, "lonely"), "lonely", "never cut to nothing");
        assert!(shapes.take_changes().is_empty());
        shapes.absorb(ShapeRecord { source: SRC, cut: 2 });
        assert_eq!(shapes.cut_of(SRC), Some(1), "the first decision stands");
    }
}
