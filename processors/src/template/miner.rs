//! Online template mining: masked lines of one event template end up in one cluster, whose
//! template (`<*>` where lines differ) is the issue's message and whose fingerprint never
//! changes once made.
//!
//! Like Drain (He et al., ICWS 2017), clusters are grouped by token count and first word, and
//! a line joins the most similar cluster of its group if the similarity reaches a threshold,
//! turning the positions where they differ into `<*>`. Unlike Drain, variables are masked
//! before mining (so most lines of a template are already identical and hit an exact-match
//! cache), and similarity is counted over the positions that can still differ: a position that
//! is `<*>` in both the line and the template says nothing about whether they are one event.
//!
//! A cluster's fingerprint is a stable hash (FNV-1a, 64 bits) of the first line that made it,
//! so it does not depend on the process, the platform or the order later lines arrive in. The
//! clusters can be exported and absorbed again ([`Miner::absorb`]): a restarted processor, or
//! another instance of it, continues with the same templates and fingerprints.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use tailrace_schemas::Fingerprint;

use super::mask::{self, Masked, WILDCARD};
use super::slot::{self, Fit};

/// Distinct lines agreeing on a position's word after which it is the event's own.
const SETTLED: u32 = 8;

/// The grouping rules templates are made under, stored with them. 0 (absent): builds that
/// grouped a line by its first token even when that was a variable; 1: by its first word.
pub const GROUPING: u16 = 1;

/// The masking rules a stored template's text was made under. 0 (absent): builds before
/// quoted values were one token; their templates are masked again as they load
/// ([`mask::remask_template`]). A template of the current rules is taken as it is written.
pub const MASKING: u16 = 1;

/// Tuning of the miner. One configuration serves every log format.
#[derive(Debug, Clone, Copy)]
pub struct MinerConfig {
    /// Share of comparable positions that must be equal for a line to join a cluster.
    pub similarity: f64,
    /// Most clusters kept; beyond it, a line that matches none gets a fingerprint of its
    /// masked text without being remembered (so garbage cannot grow memory without bound).
    pub max_clusters: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        Self { similarity: 0.75, max_clusters: 100_000 }
    }
}

/// One template.
#[derive(Debug, Clone)]
struct Cluster {
    fingerprint: Fingerprint,
    /// `None` is a wildcard position.
    slots: Vec<Option<Box<str>>>,
    /// Per position, how many distinct lines had its word there: a word many lines agreed on
    /// is the event's own, and a line with another word there is another event. At a wildcard
    /// position, 0 while only masked values (numbers, addresses…) stood there: a plain word is
    /// not one of its values, and counts as a difference, not as a match.
    support: Vec<u32>,
    template: String,
    /// The grouping rules it was made under ([`GROUPING`]), the newest any record of it said.
    grouping: u16,
    /// Where its group's word stands (`slots.len()` when it has none), as [`group_key`] found
    /// it when the template was filed: that position never turns into `<*>`.
    own: u32,
}

impl Cluster {
    fn record(&self) -> TemplateRecord {
        let settled = (0..self.slots.len() as u32)
            .filter(|&i| self.slots[i as usize].is_some() && self.support[i as usize] >= SETTLED)
            .collect();
        let masked = (0..self.slots.len() as u32)
            .filter(|&i| self.slots[i as usize].is_none() && self.support[i as usize] == 0)
            .collect();
        TemplateRecord {
            v: 1,
            fingerprint: self.fingerprint,
            template: self.template.clone(),
            settled,
            masked,
            masking: MASKING,
            grouping: self.grouping,
        }
    }

    fn render(&mut self) {
        self.template.clear();
        for (i, slot) in self.slots.iter().enumerate() {
            if i > 0 {
                self.template.push(' ');
            }
            self.template.push_str(slot.as_deref().unwrap_or(WILDCARD));
        }
    }
}

/// What matching one line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// The line fits a template as it stands.
    Nothing,
    /// The line made a new template.
    New,
    /// The line turned positions of its template into `<*>`.
    Generalized,
    /// No room for a new template: the fingerprint is of the masked line, not remembered.
    Unremembered,
}

/// A line's template.
#[derive(Debug, Clone, Copy)]
pub struct Matched<'m> {
    pub fingerprint: Fingerprint,
    pub template: &'m str,
    pub learned: Learned,
}

/// A template as stored and exchanged (the `fingerprint-templates` bucket's value): its
/// fingerprint, text, settled and masked-only positions, and the rules it was made under.
pub type TemplateRecord = tailrace_schemas::IssueTemplate;

/// Clusters of one token count and first word: the first token holding a letter (a word, or a
/// frame or joined token with one: `<*>|Step_LSC|<*>|onChanged`; of a `key=value` field, the
/// key), and where it stands.
type GroupKey = (u32, u32, u64);

/// The masked line's hash is the key; hashing it again would only cost time.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type PrehashedMap<V> = HashMap<u64, V, BuildHasherDefault<Prehashed>>;

/// Exact masked lines already seen, at most this many (then forgotten and relearned).
const CACHE_LIMIT: usize = 1 << 18;

#[derive(Default)]
pub struct Miner {
    cfg: MinerConfig,
    clusters: Vec<Cluster>,
    groups: HashMap<GroupKey, Vec<u32>>,
    /// Templates made under earlier grouping rules that have `<*>` before their first word, by
    /// length: grouped by its first variable token, such a template took lines whose first
    /// word stands where it has `<*>`, which now fall in other groups.
    legacy: HashMap<u32, Vec<u32>>,
    by_fingerprint: HashMap<Fingerprint, u32>,
    /// Hash of a masked line → its cluster.
    cache: PrehashedMap<u32>,
    /// The cache's hash: faster than FNV-1a on whole lines, and seeded per process, so lines
    /// made to collide in it cannot be found offline (the cache is never stored).
    cache_seed: foldhash::fast::RandomState,
    /// Clusters made or changed since [`Miner::take_changes`].
    changed: Vec<u32>,
    /// Scratch for the fingerprint of an unremembered line.
    scratch: String,
}

impl std::fmt::Debug for Miner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Miner")
            .field("cfg", &self.cfg)
            .field("templates", &self.clusters.len())
            .finish_non_exhaustive()
    }
}

pub use tailrace_schemas::fnv1a;

/// A stored template's tokens (none for the empty template).
fn tokens(template: &str) -> impl Iterator<Item = &str> {
    template.split(' ').filter(|t| !t.is_empty())
}

fn is_wild(token: &str) -> bool {
    token == WILDCARD
}

/// The group a line or template of these tokens falls in: its length and first word. A header
/// column left in the message as `<*>` or punctuation (a time, a pid, `-`) does not make its
/// lines one group, in which lines that differ in their first word (`Accepted`, `Failed`) would be compared; and
/// since every line of a group has the word where its group says, that position never turns
/// into `<*>`, so a template stays in the group it was made in (and is found there again when
/// a restart absorbs it).
fn group_key<'t>(tokens: impl ExactSizeIterator<Item = Option<&'t str>>) -> GroupKey {
    let len = tokens.len() as u32;
    let first = tokens.enumerate().find_map(|(i, t)| {
        t.filter(|t| t.bytes().any(|b| b.is_ascii_alphabetic())).map(|t| {
            // A field is grouped by its key: `user=bob` and `user=<*>` are one field whose
            // value was a word, then a masked one, and may be one template's position.
            let word = match t.find('=') {
                Some(eq) if t[..eq].bytes().any(|b| b.is_ascii_alphabetic()) => &t[..=eq],
                _ => t,
            };
            (i as u32, fnv1a(word.as_bytes()))
        })
    });
    let (at, hash) = first.unwrap_or((len, 0));
    (len, at, hash)
}

impl Miner {
    pub fn new(cfg: MinerConfig) -> Self {
        Self { cfg, ..Self::default() }
    }

    pub fn templates(&self) -> usize {
        self.clusters.len()
    }

    /// The template of `masked`, learning from it.
    pub fn learn(&mut self, masked: &Masked) -> Matched<'_> {
        let cache_key = self.cache_seed.hash_one(masked.text());
        if let Some(&idx) = self.cache.get(&cache_key) {
            let c = &self.clusters[idx as usize];
            return Matched { fingerprint: c.fingerprint, template: &c.template, learned: Learned::Nothing };
        }
        // A template's fingerprint is the FNV-1a of its first line's masked text, as in every
        // earlier build, so stored fingerprints stay what they were.
        let key_hash = fnv1a(masked.text().as_bytes());
        let key = group_key(masked.tokens().map(Some));
        let (idx, learned) = match self.best(key, masked) {
            Some(idx) => (idx, self.generalize(idx, masked)),
            None if self.clusters.len() >= self.cfg.max_clusters => {
                self.scratch.clear();
                self.scratch.push_str(masked.text());
                return Matched {
                    fingerprint: Fingerprint(key_hash),
                    template: &self.scratch,
                    learned: Learned::Unremembered,
                };
            }
            None => (self.create(key, Fingerprint(key_hash), masked), Learned::New),
        };
        if self.cache.len() >= CACHE_LIMIT {
            self.cache.clear();
        }
        self.cache.insert(cache_key, idx);
        let c = &self.clusters[idx as usize];
        Matched { fingerprint: c.fingerprint, template: &c.template, learned }
    }

    /// The most similar cluster of the group, if similar enough; templates of earlier grouping
    /// rules that may take the line compete with the group's ([`Miner::legacy_fits`]). Ties go
    /// to more of the template's own words matched, then more equal positions, then the smaller
    /// fingerprint, so the choice does not depend on the order the clusters were learned in.
    fn best(&self, key: GroupKey, masked: &Masked) -> Option<u32> {
        let own = self.groups.get(&key).into_iter().flatten().copied();
        let legacy = self.legacy.get(&key.0).into_iter().flatten().copied();
        self.best_of(own.chain(legacy.filter(|&idx| self.legacy_fits(idx, key, masked))), masked)
    }

    /// Whether a template of earlier grouping rules, filed by a later word (or none), may take
    /// a line whose first word stands at `at`: its position there is `<*>` or a pattern the
    /// word fits, and the line has the template's own word where that stands, so the
    /// template's word never turns into `<*>` and it stays in its group. An issue of an
    /// earlier build goes on under its fingerprint for the lines of every first word it took.
    fn legacy_fits(&self, idx: u32, (_, at, _): GroupKey, masked: &Masked) -> bool {
        let c = &self.clusters[idx as usize];
        let own = c.own as usize;
        c.own > at
            && c.slots.get(at as usize).is_some_and(|slot| match slot {
                None => true,
                Some(pattern) => {
                    pattern.contains(WILDCARD) && slot::fit(pattern, masked.token(at as usize)) == Fit::Equal
                }
            })
            && (own == c.slots.len() || c.slots[own].as_deref() == Some(masked.token(own)))
    }

    fn best_of(&self, candidates: impl Iterator<Item = u32>, masked: &Masked) -> Option<u32> {
        let mut best: Option<(f64, usize, usize, Fingerprint, u32)> = None;
        for idx in candidates {
            let c = &self.clusters[idx as usize];
            // `literal`: positions where the line has the template's own word (stronger
            // evidence than a word standing where the template has a wildcard).
            let (mut equal, mut compared, mut literal) = (0usize, 0usize, 0usize);
            let mut reshaped = false;
            for (i, (slot, token)) in c.slots.iter().zip(masked.tokens()).enumerate() {
                match slot {
                    None if is_wild(token) => {}
                    // Only masked values stood here so far: a plain word is not one of them (a
                    // token holding a masked part, `[<*>]`, still is).
                    None if c.support[i] == 0 && !token.contains(WILDCARD) => compared += 1,
                    None => {
                        equal += 1;
                        compared += 1;
                    }
                    Some(word) => {
                        compared += 1;
                        match slot::fit(word, token) {
                            Fit::Equal => {
                                equal += 1;
                                literal += 1;
                            }
                            // A word enough lines agreed on does not turn into a variable.
                            Fit::Differs if c.support[i] >= SETTLED => {
                                reshaped = true;
                                break;
                            }
                            Fit::Differs => {}
                            // Another value of a variable that had shown one value so far.
                            Fit::Alike => equal += 1,
                            Fit::Reshaped => {
                                reshaped = true;
                                break;
                            }
                        }
                    }
                }
            }
            if reshaped {
                continue;
            }
            let sim = if compared == 0 { 1.0 } else { equal as f64 / compared as f64 };
            if sim < self.cfg.similarity {
                continue;
            }
            let better = match best {
                None => true,
                Some((s, l, e, f, _)) => {
                    (sim, literal, equal, std::cmp::Reverse(c.fingerprint)) > (s, l, e, std::cmp::Reverse(f))
                }
            };
            if better {
                best = Some((sim, literal, equal, c.fingerprint, idx));
            }
        }
        best.map(|b| b.4)
    }

    fn generalize(&mut self, idx: u32, masked: &Masked) -> Learned {
        let c = &mut self.clusters[idx as usize];
        let (mut changed, mut settled, mut worded) = (false, false, false);
        for ((position, support), token) in c.slots.iter_mut().zip(c.support.iter_mut()).zip(masked.tokens())
        {
            if let Some(word) = position.as_deref() {
                if slot::fit(word, token) != Fit::Equal {
                    *position = slot::generalize(word, token);
                    changed = true;
                } else {
                    *support = support.saturating_add(1);
                    // Settled just now: other instances and the store learn it.
                    settled |= *support == SETTLED;
                }
            } else if *support == 0 && !token.contains(WILDCARD) {
                *support = 1;
                worded = true;
            }
        }
        if !changed {
            if settled || worded {
                self.changed.push(idx);
            }
            return Learned::Nothing;
        }
        c.render();
        self.changed.push(idx);
        Learned::Generalized
    }

    fn create(&mut self, key: GroupKey, mut fingerprint: Fingerprint, masked: &Masked) -> u32 {
        // Two different texts with one 64-bit hash: step to a free value, deterministically.
        while self.by_fingerprint.contains_key(&fingerprint) {
            fingerprint = Fingerprint(fingerprint.0.wrapping_add(1));
        }
        let slots = masked.tokens().map(|t| (!is_wild(t)).then(|| Box::<str>::from(t))).collect();
        let support = masked.tokens().map(|t| u32::from(!is_wild(t))).collect();
        let cluster =
            Cluster { fingerprint, slots, support, template: String::new(), grouping: GROUPING, own: key.1 };
        self.insert(key, cluster)
    }

    fn insert(&mut self, key: GroupKey, mut cluster: Cluster) -> u32 {
        cluster.own = key.1;
        cluster.render();
        let idx = self.clusters.len() as u32;
        self.by_fingerprint.insert(cluster.fingerprint, idx);
        self.groups.entry(key).or_default().push(idx);
        self.clusters.push(cluster);
        self.changed.push(idx);
        idx
    }

    /// Takes in a template learned elsewhere (a store, another instance). A known fingerprint
    /// is generalized to cover both; an unknown one is added. Absorbing is idempotent, and what
    /// is absorbed is not reported by [`Miner::take_changes`], except a template an earlier
    /// build stored with words the current rules mask: it is migrated (masked as lines are now,
    /// under its fingerprint, its settled positions carried over) and reported, so the store
    /// holds it as lines now find it.
    pub fn absorb(&mut self, record: &TemplateRecord) {
        let (mut remasked, mut positions) = (Masked::default(), Vec::new());
        let text = if record.masking < MASKING {
            mask::remask_template(&record.template, &mut remasked, &mut positions);
            remasked.text()
        } else {
            positions.extend(0..tokens(&record.template).count() as u32);
            &record.template
        };
        let migrated = text != record.template;
        let slots: Vec<Option<Box<str>>> =
            tokens(text).map(|t| (!is_wild(t)).then(|| Box::<str>::from(t))).collect();
        // Stored positions where they are now, kept where the slot is still a word (`settled`)
        // or a wildcard (`masked`).
        let now = |stored: &[u32], word: bool| -> Vec<u32> {
            stored
                .iter()
                .filter_map(|&i| positions.get(i as usize).copied())
                .filter(|&i| slots.get(i as usize).is_some_and(|s| s.is_some() == word))
                .collect()
        };
        let (settled, masked) = (now(&record.settled, true), now(&record.masked, false));
        if let Some(&idx) = self.by_fingerprint.get(&record.fingerprint) {
            let c = &mut self.clusters[idx as usize];
            if c.slots.len() != slots.len() {
                return;
            }
            if record.grouping >= GROUPING && c.grouping < GROUPING {
                // Made under today's rules elsewhere: it takes only its own group's lines.
                if let Some(list) = self.legacy.get_mut(&(c.slots.len() as u32)) {
                    list.retain(|&l| l != idx);
                }
            }
            c.grouping = c.grouping.max(record.grouping);
            // Our group's word stays, whatever a build of other rules made of it; our record is
            // stored again, so the store does not keep theirs as the last word.
            let own = c.own as usize;
            if record.grouping < c.grouping
                || slots.get(own).is_some_and(|t| t.as_deref() != c.slots[own].as_deref())
            {
                self.changed.push(idx);
            }
            let c = &mut self.clusters[idx as usize];
            let mut changed = false;
            for (i, (mine, theirs)) in c.slots.iter_mut().zip(&slots).enumerate() {
                if i == own {
                    continue;
                }
                let Some(word) = mine.as_deref() else { continue };
                let general = match theirs.as_deref() {
                    None => None,
                    Some(t) if slot::fit(word, t) == Fit::Equal => continue,
                    Some(t) => slot::generalize(word, t),
                };
                if general.as_deref() != Some(word) {
                    *mine = general;
                    changed = true;
                }
            }
            for &i in &settled {
                if let Some(s) = c.support.get_mut(i as usize) {
                    *s = (*s).max(SETTLED);
                }
            }
            // A word stood at our masked-only wildcard in their lines.
            for (i, (mine, support)) in c.slots.iter().zip(c.support.iter_mut()).enumerate() {
                if mine.is_none() && *support == 0 && !masked.contains(&(i as u32)) {
                    *support = 1;
                }
            }
            if changed {
                c.render();
            }
            return;
        }
        let key = group_key(slots.iter().map(|s| s.as_deref()));
        let mut support = vec![1; slots.len()];
        for &i in &settled {
            if let Some(s) = support.get_mut(i as usize) {
                *s = SETTLED;
            }
        }
        for &i in &masked {
            support[i as usize] = 0;
        }
        // Filed by a later word (or none), it may take lines whose first word stands before it
        // (`legacy_fits` checks what stands there, line by line).
        let legacy = record.grouping < GROUPING && key.1 > 0;
        let cluster = Cluster {
            fingerprint: record.fingerprint,
            slots,
            support,
            template: String::new(),
            grouping: record.grouping,
            own: key.1,
        };
        let idx = self.insert(key, cluster);
        if legacy {
            self.legacy.entry(key.0).or_default().push(idx);
        }
        if !migrated {
            // Learned elsewhere: not a change of ours to pass on.
            self.changed.retain(|&c| c != idx);
        }
    }

    /// The current template of a fingerprint this miner knows.
    pub fn template_of(&self, fingerprint: Fingerprint) -> Option<&str> {
        self.by_fingerprint.get(&fingerprint).map(|&idx| self.clusters[idx as usize].template.as_str())
    }

    /// Every template, for a snapshot.
    pub fn records(&self) -> impl Iterator<Item = TemplateRecord> + '_ {
        self.clusters.iter().map(Cluster::record)
    }

    /// How many templates [`Miner::take_changes`] would report (at most).
    pub fn pending_changes(&self) -> usize {
        self.changed.len()
    }

    /// The templates made or changed since the last call, each once.
    pub fn take_changes(&mut self) -> Vec<TemplateRecord> {
        let mut idx = std::mem::take(&mut self.changed);
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().map(|i| self.clusters[i as usize].record()).collect()
    }
}
