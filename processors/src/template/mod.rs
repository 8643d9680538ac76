//! Issue fingerprints: lines of one event template share one fingerprint, and the template,
//! with `<*>` where lines differ, is the message.
//!
//! A line goes through three steps: its header is cut off ([`crate::line`] and the header
//! columns learned of its [`source`], or the source's stated [`format`]), certain variables are
//! masked ([`mask`]), and the masked tokens are mined into templates online ([`miner`]).
//! [`Fingerprinter`] holds the state of all three and reuses its buffers, so a line costs no
//! allocation once its template is known.

pub mod format;
pub mod mask;
pub mod miner;
pub mod slot;
pub mod source;

use tailrace_schemas::Fingerprint;

pub use format::{FormatConfig, FormatError, Formats, LineFormat};
pub use mask::{Masked, WILDCARD};
pub use miner::{Learned, Matched, Miner, MinerConfig, TemplateRecord};
pub use source::{ShapeRecord, Shapes, SourceKey};

/// Lines are cut to this many bytes before fingerprinting (at a character boundary).
pub const DEFAULT_MAX_BYTES: usize = 2048;

#[derive(Debug)]
pub struct Fingerprinter {
    miner: Miner,
    shapes: Shapes,
    masked: Masked,
    max_bytes: usize,
}

impl Default for Fingerprinter {
    fn default() -> Self {
        Self::new(MinerConfig::default())
    }
}

impl Fingerprinter {
    pub fn new(cfg: MinerConfig) -> Self {
        Self {
            miner: Miner::new(cfg),
            shapes: Shapes::default(),
            masked: Masked::default(),
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// The template of a raw line (header included) whose source is unknown: its header as the
    /// rules find it.
    pub fn line(&mut self, line: &str) -> Matched<'_> {
        let parsed = crate::line::parse(line);
        match parsed.content {
            std::borrow::Cow::Borrowed(content) => self.content(content),
            std::borrow::Cow::Owned(content) => self.content(&content),
        }
    }

    /// The template of a raw line of `source`: its message as the source's stated format finds
    /// it, masked as the format says; without a format (or on a line it does not match), after
    /// the header the rules find and the header columns learned of the source.
    pub fn line_from(&mut self, source: SourceKey, line: &str, format: Option<&LineFormat>) -> Matched<'_> {
        match format.and_then(|f| f.content(line)) {
            Some(std::borrow::Cow::Borrowed(content)) => self.content(content),
            Some(std::borrow::Cow::Owned(content)) => self.content(&content),
            None => self.parsed(source, &crate::line::parse(line)),
        }
    }

    /// Learns `source`'s header columns from lines about to be fingerprinted (a batch): see
    /// [`source`]. Costs nothing once the source is decided.
    pub fn look_ahead<'l>(&mut self, source: SourceKey, lines: impl IntoIterator<Item = &'l str>) {
        for line in lines {
            if !self.shapes.undecided(source) {
                return;
            }
            let parsed = crate::line::parse(line);
            self.shapes.observe(source, parsed.open.then_some(&*parsed.content));
        }
    }

    /// The template of a line of `source` already parsed (for callers that also want its
    /// level): [`Fingerprinter::line_from`] without a stated format.
    pub fn parsed(&mut self, source: SourceKey, parsed: &crate::line::Parsed<'_>) -> Matched<'_> {
        let content =
            if parsed.open { self.shapes.content(source, &parsed.content) } else { &parsed.content };
        let content = truncate(content, self.max_bytes);
        mask::mask(content, &mut self.masked);
        self.miner.learn(&self.masked)
    }

    /// The template of a message whose header is already gone.
    pub fn content(&mut self, content: &str) -> Matched<'_> {
        let content = truncate(content, self.max_bytes);
        mask::mask(content, &mut self.masked);
        self.miner.learn(&self.masked)
    }

    pub fn miner(&mut self) -> &mut Miner {
        &mut self.miner
    }

    /// What was learned of each source's header.
    pub fn shapes(&mut self) -> &mut Shapes {
        &mut self.shapes
    }

    /// The fingerprint a template text would have if it were new (for tests and tools).
    pub fn fingerprint_of_masked(text: &str) -> Fingerprint {
        Fingerprint(miner::fnv1a(text.as_bytes()))
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
