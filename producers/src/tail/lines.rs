//! Splits a file's bytes into lines, each with the byte offset of its first byte.
//!
//! Bytes arrive in arbitrary chunks; a line is complete at its `\n`. The unfinished tail is
//! kept until more bytes come, or until the file changes under us ([`Lines::finish`]). A line
//! longer than `max_line` is cut into pieces of that size, so memory stays bounded. Each line
//! comes with its end offset (after its newline): where a reader resumes after it.

use tailrace_schemas::LogLine;

#[derive(Debug)]
pub struct Lines {
    partial: Vec<u8>,
    /// File offset of `partial[0]`.
    start: u64,
    max_line: usize,
}

impl Lines {
    pub fn new(offset: u64, max_line: usize) -> Self {
        Self { partial: Vec::new(), start: offset, max_line: max_line.max(1) }
    }

    /// The offset just after the last complete line (where a resumed read must start).
    pub fn complete_offset(&self) -> u64 {
        self.start
    }

    /// Adds bytes read at `offset` (which must continue the previous ones) and returns the
    /// lines they complete.
    pub fn push(&mut self, offset: u64, bytes: &[u8], out: &mut Vec<(LogLine, u64)>) {
        debug_assert_eq!(offset, self.start + self.partial.len() as u64, "bytes must be contiguous");
        let mut rest = bytes;
        while let Some(nl) = memchr(rest) {
            let (head, tail) = rest.split_at(nl);
            if self.partial.is_empty() {
                self.emit(head, out);
            } else {
                self.partial.extend_from_slice(head);
                let line = std::mem::take(&mut self.partial);
                self.emit(&line, out);
            }
            self.start += 1; // the newline
            rest = &tail[1..];
        }
        self.partial.extend_from_slice(rest);
        while self.partial.len() >= self.max_line {
            let piece: Vec<u8> = self.partial.drain(..self.max_line).collect();
            let line = LogLine::from_bytes(self.start, &piece);
            self.start += piece.len() as u64;
            out.push((line, self.start));
        }
    }

    /// Emits a complete line (its newline not yet counted): the last piece ends after it.
    fn emit(&mut self, line: &[u8], out: &mut Vec<(LogLine, u64)>) {
        let mut pieces = line.chunks(self.max_line).peekable();
        if pieces.peek().is_none() {
            out.push((LogLine::from_bytes(self.start, b""), self.start + 1));
        }
        while let Some(piece) = pieces.next() {
            let l = LogLine::from_bytes(self.start, piece);
            self.start += piece.len() as u64;
            let end = if pieces.peek().is_none() { self.start + 1 } else { self.start };
            out.push((l, end));
        }
    }

    /// The file ended for us (rotation, truncation, stop): the unfinished line becomes a line.
    pub fn finish(&mut self, out: &mut Vec<(LogLine, u64)>) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            let l = LogLine::from_bytes(self.start, &line);
            self.start += line.len() as u64;
            out.push((l, self.start));
        }
    }

    /// Starts over at `offset` of a (possibly other) file, dropping any unfinished line.
    pub fn reset(&mut self, offset: u64) {
        self.partial.clear();
        self.start = offset;
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn texts(lines: &[(LogLine, u64)]) -> Vec<(u64, &str)> {
        lines.iter().map(|(l, _)| (l.offset, l.text.as_str())).collect()
    }

    #[test]
    fn lines_carry_the_offset_of_their_first_byte() {
        let mut l = Lines::new(100, 1000);
        let mut out = Vec::new();
        l.push(100, b"ab\ncd", &mut out);
        assert_eq!(texts(&out), [(100, "ab")]);
        assert_eq!(l.complete_offset(), 103);
        l.push(105, b"e\n\nf", &mut out);
        assert_eq!(texts(&out), [(100, "ab"), (103, "cde"), (107, "")]);
        let ends: Vec<u64> = out.iter().map(|(_, e)| *e).collect();
        assert_eq!(ends, [103, 107, 108]);
        assert_eq!(l.complete_offset(), 108);
        l.finish(&mut out);
        assert_eq!(texts(&out)[3], (108, "f"));
    }

    #[test]
    fn long_lines_are_cut_into_bounded_pieces() {
        let mut l = Lines::new(0, 4);
        let mut out = Vec::new();
        l.push(0, b"abcdefghij\n", &mut out);
        assert_eq!(texts(&out), [(0, "abcd"), (4, "efgh"), (8, "ij")]);
        assert_eq!(out.last().unwrap().1, 11);
        assert_eq!(l.complete_offset(), 11);
    }

    proptest! {
        /// However the bytes are chunked, the same lines come out at the same offsets.
        #[test]
        fn chunking_does_not_change_the_lines(text in "[a-c\n]{0,200}", cuts in prop::collection::vec(0usize..200, 0..10)) {
            let bytes = text.as_bytes();
            let mut whole = Vec::new();
            let mut l = Lines::new(0, 64);
            l.push(0, bytes, &mut whole);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            points.push(0);
            points.push(bytes.len());
            points.sort_unstable();
            let mut chunked = Vec::new();
            let mut l2 = Lines::new(0, 64);
            for w in points.windows(2) {
                l2.push(w[0] as u64, &bytes[w[0]..w[1]], &mut chunked);
            }
            prop_assert_eq!(whole, chunked);
            prop_assert_eq!(l.complete_offset(), l2.complete_offset());
        }
    }
}
