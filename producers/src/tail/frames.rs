//! Parses the follower's output (`follow.sh`): header lines, and for `D` frames exactly the
//! announced number of bytes.

use bytes::Bytes;
use tailrace_schemas::FileIdentity;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

/// One event from the follower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Following `ident` from `offset`.
    Open {
        ident: FileIdentity,
        offset: u64,
    },
    /// Bytes of the file starting at `offset`.
    Data {
        offset: u64,
        bytes: Bytes,
    },
    /// The path now names another file, read from 0.
    Rotated {
        ident: FileIdentity,
    },
    /// The file shrank; read again from 0.
    Truncated,
    Missing,
    Denied,
    KeepAlive,
    /// The file may not be served (why, for a person); the follower has exited.
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("reading the follower's output: {0}")]
    Io(#[from] std::io::Error),
    #[error("the follower said something unexpected: {0:?}")]
    Garbled(String),
}

pub fn parse_ident(s: &str) -> Option<FileIdentity> {
    let (dev, inode) = s.split_once(':')?;
    Some(FileIdentity { dev: dev.parse().ok()?, inode: inode.parse().ok()? })
}

#[derive(Debug)]
pub struct FrameReader<R> {
    reader: BufReader<R>,
    line: String,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(reader: R) -> Self {
        Self { reader: BufReader::with_capacity(256 * 1024, reader), line: String::new() }
    }

    /// The next frame; `None` when the follower's output ended.
    pub async fn next(&mut self) -> Result<Option<Frame>, FrameError> {
        self.line.clear();
        if self.reader.read_line(&mut self.line).await? == 0 {
            return Ok(None);
        }
        let header = self.line.trim_end_matches('\n');
        let garbled = || FrameError::Garbled(header.to_owned());
        let mut parts = header.split(' ');
        let frame = match parts.next() {
            Some("O") => {
                let ident = parts.next().and_then(parse_ident).ok_or_else(garbled)?;
                let offset = parts.next().and_then(|s| s.parse().ok()).ok_or_else(garbled)?;
                Frame::Open { ident, offset }
            }
            Some("D") => {
                let offset: u64 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(garbled)?;
                let len: usize = parts.next().and_then(|s| s.parse().ok()).ok_or_else(garbled)?;
                let mut buf = vec![0u8; len];
                self.reader.read_exact(&mut buf).await?;
                Frame::Data { offset, bytes: Bytes::from(buf) }
            }
            Some("R") => Frame::Rotated { ident: parts.next().and_then(parse_ident).ok_or_else(garbled)? },
            Some("T") => Frame::Truncated,
            Some("M") => Frame::Missing,
            Some("P") => Frame::Denied,
            Some("K") => Frame::KeepAlive,
            Some("X") => Frame::Refused(header.get(2..).unwrap_or_default().to_owned()),
            _ => return Err(garbled()),
        };
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_are_parsed_with_their_exact_bytes() {
        let input: &[u8] = b"O 1:2 5\nD 5 4\nab\ncR 1:3\nT\nM\nP\nK\nX /etc is a directory, not a file\n";
        let mut r = FrameReader::new(input);
        assert_eq!(
            r.next().await.unwrap(),
            Some(Frame::Open { ident: FileIdentity { dev: 1, inode: 2 }, offset: 5 })
        );
        assert_eq!(
            r.next().await.unwrap(),
            Some(Frame::Data { offset: 5, bytes: Bytes::from_static(b"ab\nc") })
        );
        assert_eq!(
            r.next().await.unwrap(),
            Some(Frame::Rotated { ident: FileIdentity { dev: 1, inode: 3 } })
        );
        assert_eq!(r.next().await.unwrap(), Some(Frame::Truncated));
        assert_eq!(r.next().await.unwrap(), Some(Frame::Missing));
        assert_eq!(r.next().await.unwrap(), Some(Frame::Denied));
        assert_eq!(r.next().await.unwrap(), Some(Frame::KeepAlive));
        assert_eq!(r.next().await.unwrap(), Some(Frame::Refused("/etc is a directory, not a file".into())));
        assert_eq!(r.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_garbled_header_is_an_error_naming_it() {
        let mut r = FrameReader::new(&b"bash: stat: command not found\n"[..]);
        let err = r.next().await.unwrap_err().to_string();
        assert!(err.contains("stat: command not found"), "{err}");
    }
}
