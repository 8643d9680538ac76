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
//! hold on the evidence of those lines, one column at a time, at most [`MAX_CUT`]: the same
//! remainder comes with three values or more (two words taking turns before the same words,
//! `Accepted`/`Failed`, `GET`/`POST`, are events, not a column), and the same value with
//! several remainders. A token holding a digit is a value (masked anyway), so a timestamp or
//! counter column left in the message is one value, not a thousand, and is cut only when a
//! header column follows it.
//!
//! Learning looks ahead: callers [`Shapes::observe`] lines before fingerprinting them (a
//! batch, the first lines of a file), so a source whose first batch holds [`LEARN`] lines has
//! every line read alike. The fingerprint processor sees a source's warn and error lines only,
//! so it learns from the first [`LEARN`] of those; a source that sends fewer at a time is read
//! whole until decided, and its events may then get a second fingerprint, once.
//!
//! State is bounded: while learning, [`LEARN`] small samples per source, for at most
//! [`MAX_LEARNING`] sources at once (the one idle longest gives way to a new one); once
//! decided, an entry of a few bytes, for at most [`MAX_SOURCES`] sources. Decisions are
//! exchanged as [`ShapeRecord`]s with the templates, the first one stored for a source standing
//! for every instance, so a restart or another instance cuts a source's lines alike. Only lines
//! whose header the rules could not close ([`crate::line::header::Split::open`]) are observed
//! and cut; a source none of whose lines are such is decided without a record to store.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::miner::fnv1a;

/// Lines of a source observed before its shape is decided.
pub const LEARN: usize = 128;
/// Most leading columns cut.
pub const MAX_CUT: usize = 3;
/// Sources whose decision is remembered; later ones are read by the rules alone (bounds memory
/// against a flood of sources).
pub const MAX_SOURCES: usize = 1 << 20;
/// Sources learning at once (each holds up to [`LEARN`] samples).
pub const MAX_LEARNING: usize = 1024;
/// Tokens after a candidate block that stand for "the rest of the event".
const REST_TOKENS: usize = 6;
/// Share of a column's samples that must be values for it to be passed over as one.
const VALUE_SHARE: f64 = 0.9;

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
    /// Leading message columns that are header (at most [`MAX_CUT`]).
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

#[derive(Debug, Default)]
struct Learning {
    /// The samples of the lines whose header the rules left open.
    samples: Vec<Sample>,
    /// Lines seen, open or not.
    seen: usize,
    /// When it last saw a line (the shapes' own clock).
    last: u64,
}

/// The shapes of every source seen.
#[derive(Debug, Default)]
pub struct Shapes {
    decided: HashMap<SourceKey, u8>,
    learning: HashMap<SourceKey, Learning>,
    /// Lines observed, as a clock for choosing which learner gives way.
    clock: u64,
    /// Decided since [`Shapes::take_changes`].
    changed: Vec<ShapeRecord>,
}

impl Shapes {
    /// Whether `source`'s shape is still to be learned.
    pub fn undecided(&self, source: SourceKey) -> bool {
        !self.decided.contains_key(&source) && self.decided.len() < MAX_SOURCES
    }

    /// Learns from a line of `source` not yet fingerprinted: its message when the rules left
    /// its header open, `None` when they closed it (such a line is never cut, but counts: a
    /// source whose lines the rules read whole is decided, at 0, after [`LEARN`] of them).
    pub fn observe(&mut self, source: SourceKey, open_content: Option<&str>) {
        if !self.undecided(source) {
            return;
        }
        self.clock += 1;
        if !self.learning.contains_key(&source) && self.learning.len() >= MAX_LEARNING {
            // The learner idle longest gives way (a source that went quiet, or that now has a
            // stated format): a new source is not locked out for good.
            if let Some(idle) = self.learning.iter().min_by_key(|(_, l)| l.last).map(|(k, _)| *k) {
                self.learning.remove(&idle);
            }
        }
        let learning = self.learning.entry(source).or_default();
        learning.seen += 1;
        learning.last = self.clock;
        if let Some(content) = open_content {
            learning.samples.push(Sample::of(content));
        }
        if learning.seen >= LEARN {
            let learning = self.learning.remove(&source).expect("present");
            let cut = decide(&learning.samples);
            self.decided.insert(source, cut);
            // Without an open line there was nothing to learn: nothing worth storing.
            if !learning.samples.is_empty() {
                self.changed.push(ShapeRecord { source, cut });
            }
        }
    }

    /// `content` of a line of `source` with its learned header columns cut (as it is while the
    /// source is undecided).
    pub fn content<'a>(&self, source: SourceKey, content: &'a str) -> &'a str {
        match self.decided.get(&source) {
            Some(&cut) => skip_tokens(content, usize::from(cut)),
            None => content,
        }
    }

    /// Takes in a decision stored by any instance. The store keeps the first decision made for
    /// a source, and it replaces one this instance made meanwhile, so every instance comes to
    /// cut the source's lines alike.
    pub fn absorb(&mut self, record: ShapeRecord) {
        if !self.decided.contains_key(&record.source) && self.decided.len() >= MAX_SOURCES {
            return;
        }
        self.learning.remove(&record.source);
        self.decided.insert(record.source, record.cut.min(MAX_CUT as u8));
        self.changed.retain(|r| r.source != record.source);
    }

    /// The decision for `source`, if made.
    pub fn cut_of(&self, source: SourceKey) -> Option<u8> {
        self.decided.get(&source).copied()
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
        let values = samples.iter().filter(|s| s.tokens().get(column) == Some(&VALUE)).count();
        if !samples.is_empty() && values as f64 >= VALUE_SHARE * samples.len() as f64 {
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
    // The same event with three values or more (two words taking turns are two events), and
    // the same value with several events.
    let by_rest = varied_share(pairs.iter().map(|&(value, rest)| (rest, value)), 3, 3);
    let by_value = varied_share(pairs.iter().copied(), 2, 2);
    by_rest && by_value
}

/// Whether, among keys seen on `lines` lines or more (at least two such keys), half or more
/// come with `values` different values or more.
fn varied_share(pairs: impl Iterator<Item = (u64, u64)>, lines: usize, values: usize) -> bool {
    let mut by_key: HashMap<u64, (usize, HashSet<u64>)> = HashMap::new();
    for (key, value) in pairs {
        let e = by_key.entry(key).or_default();
        e.0 += 1;
        e.1.insert(value);
    }
    let repeated: Vec<_> = by_key.values().filter(|(n, _)| *n >= lines).collect();
    let varied = repeated.iter().filter(|(_, v)| v.len() >= values).count();
    repeated.len() >= 2 && varied * 2 >= repeated.len()
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
    fn a_stored_decision_replaces_this_instances_own_and_is_not_reported_again() {
        let mut shapes = Shapes::default();
        shapes.absorb(ShapeRecord { source: SRC, cut: 1 });
        assert_eq!(shapes.content(SRC, "web-1 disk full"), "disk full");
        assert_eq!(shapes.content(SRC, "lonely"), "lonely", "never cut to nothing");
        assert!(shapes.take_changes().is_empty());
        // Another instance's decision won the store: this one follows it.
        shapes.absorb(ShapeRecord { source: SRC, cut: 2 });
        assert_eq!(shapes.cut_of(SRC), Some(2));
        shapes.absorb(ShapeRecord { source: SRC, cut: 200 });
        assert_eq!(shapes.cut_of(SRC), Some(MAX_CUT as u8), "a stored cut is bounded");
    }

    #[test]
    fn two_words_taking_turns_before_the_same_words_are_events_not_a_column() {
        let users = ["alice", "bob", "carol", "dave", "erin"];
        let lines: Vec<String> = (0..LEARN)
            .map(|i| {
                let verb = if i % 3 == 0 { "Failed" } else { "Accepted" };
                format!("{verb} password for {} from 10.0.0.{i} port 22", users[(i / 2) % 5])
            })
            .collect();
        assert_eq!(learn(&lines), 0);
    }

    #[test]
    fn a_value_column_is_cut_through_when_a_header_column_follows_it() {
        let hosts = ["alpha", "bravo", "charlie", "delta"];
        let with_pid: Vec<String> =
            (0..LEARN).map(|i| format!("{} {} {}", 100 + i, hosts[(i / 5) % 4], event(i))).collect();
        assert_eq!(learn(&with_pid), 2);
        let pid_only: Vec<String> = (0..LEARN).map(|i| format!("{} {}", 100 + i, event(i))).collect();
        assert_eq!(learn(&pid_only), 0, "a value column alone is left to the masker");
    }

    #[test]
    fn learners_are_bounded_and_the_one_idle_longest_gives_way() {
        let mut shapes = Shapes::default();
        for k in 0..MAX_LEARNING as u64 {
            shapes.observe(SourceKey(k), Some("web disk full"));
        }
        assert_eq!(shapes.learning.len(), MAX_LEARNING);
        // Source 0 is seen again, so source 1 is now the one idle longest.
        shapes.observe(SourceKey(0), Some("web disk full"));
        shapes.observe(SourceKey(u64::MAX), Some("web disk full"));
        assert_eq!(shapes.learning.len(), MAX_LEARNING);
        assert!(shapes.learning.contains_key(&SourceKey(0)));
        assert!(!shapes.learning.contains_key(&SourceKey(1)));
        assert!(shapes.learning.contains_key(&SourceKey(u64::MAX)));
        // A stored decision ends a learner.
        shapes.absorb(ShapeRecord { source: SourceKey(0), cut: 0 });
        assert_eq!(shapes.learning.len(), MAX_LEARNING - 1);
    }
}
