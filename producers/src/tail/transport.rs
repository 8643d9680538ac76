//! Where the follower runs: an SSH exec channel on a remote host, or a local bash child for
//! the `local` host. Both give the follower's stdout as a byte stream; dropping the [`Follower`]
//! ends the process (channel closed; child killed).

use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::ssh::{self, HostConfig, SshError, SshSession};

const FOLLOW_SH: &str = include_str!("follow.sh");
const FOLLOW_PL: &str = include_str!("follow.pl");

/// Which follower program runs on the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FollowerKind {
    /// `follow.pl` where the host has perl (no forks, inotify wake-up), else `follow.sh`.
    #[default]
    Auto,
    Perl,
    Bash,
}

/// How to reach the host a tail reads from.
#[derive(Debug, Clone)]
pub enum Transport {
    /// Files on this machine, no SSH.
    Local,
    Ssh(Box<HostConfig>),
}

/// A connection to a host, over which followers are started.
pub enum Connection {
    Local,
    Ssh(SshSession),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Connection::Local => "Connection::Local",
            Connection::Ssh(_) => "Connection::Ssh",
        })
    }
}

/// A running command's input and output (see [`Connection::open_shell`]); dropping it ends
/// the command.
pub struct ShellStream {
    pub input: Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    pub output: Pin<Box<dyn AsyncRead + Send>>,
    _guard: Option<tokio::process::Child>,
}

impl std::fmt::Debug for ShellStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShellStream")
    }
}

/// A running follower's output.
pub struct Follower {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    _guard: Option<tokio::process::Child>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Follower")
    }
}

impl AsyncRead for Follower {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_read(cx, buf)
    }
}

/// Quotes one argument for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The follower's arguments: path, resume offset, expected identity (or `-`), lines to start
/// with, poll interval in seconds.
#[derive(Debug, Clone)]
pub struct FollowArgs {
    pub path: String,
    pub offset: u64,
    pub ident: Option<tailrace_schemas::FileIdentity>,
    pub last_lines: u32,
    pub interval: std::time::Duration,
    pub kind: FollowerKind,
    /// Resolved roots every opened file must lie in (see [`super::roots`]).
    pub roots: Vec<String>,
}

impl FollowArgs {
    /// The shell command that runs the follower: `tailrace-follow PATH ...` in its command line,
    /// so it can be found on the host by name.
    fn command(&self) -> String {
        let mut args = String::from("tailrace-follow");
        for a in self.argv() {
            args.push(' ');
            args.push_str(&shell_quote(&a));
        }
        let perl = format!("exec perl -e {} {args}", shell_quote(FOLLOW_PL));
        let bash = format!("exec bash -c {} {args}", shell_quote(FOLLOW_SH));
        match self.kind {
            FollowerKind::Perl => perl,
            FollowerKind::Bash => bash,
            FollowerKind::Auto => format!("if command -v perl >/dev/null 2>&1; then {perl}; else {bash}; fi"),
        }
    }

    fn argv(&self) -> Vec<String> {
        let mut argv = vec![
            self.path.clone(),
            self.offset.to_string(),
            self.ident.map_or_else(|| "-".to_owned(), |i| format!("{}:{}", i.dev, i.inode)),
            self.last_lines.to_string(),
            format!("{:.3}", self.interval.as_secs_f64()),
        ];
        argv.extend(self.roots.iter().cloned());
        argv
    }
}

impl Transport {
    pub fn ssh(host: HostConfig) -> Self {
        Self::Ssh(Box::new(host))
    }

    pub async fn connect(&self) -> Result<Connection, SshError> {
        self.connect_with(false).await
    }

    /// [`Transport::connect`], with the SSH session compressed when `compress` is set.
    pub async fn connect_with(&self, compress: bool) -> Result<Connection, SshError> {
        match self {
            Transport::Local => Ok(Connection::Local),
            Transport::Ssh(host) => ssh::connect_with(host, compress).await.map(Connection::Ssh),
        }
    }
}

impl Connection {
    /// Starts the follower for `args`.
    pub async fn follow(&self, args: &FollowArgs) -> Result<Follower, String> {
        match self {
            Connection::Local => {
                let mut child = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(args.command())
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| format!("cannot start sh: {e}"))?;
                let stdout = child.stdout.take().ok_or("no stdout from sh")?;
                Ok(Follower { inner: Box::pin(stdout), _guard: Some(child) })
            }
            Connection::Ssh(session) => {
                let channel = session
                    .channel_open_session()
                    .await
                    .map_err(|e| format!("cannot open a channel: {e}"))?;
                channel
                    .exec(true, args.command())
                    .await
                    .map_err(|e| format!("cannot run the follower: {e}"))?;
                Ok(Follower { inner: Box::pin(channel.into_stream()), _guard: None })
            }
        }
    }

    /// Starts `command` with its input and output connected to the returned stream (a
    /// long-lived remote command that takes requests on its input).
    pub async fn open_shell(&self, command: &str) -> Result<ShellStream, String> {
        match self {
            Connection::Local => {
                let mut child = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| format!("cannot start sh: {e}"))?;
                let input = child.stdin.take().ok_or("no stdin to sh")?;
                let output = child.stdout.take().ok_or("no stdout from sh")?;
                Ok(ShellStream { input: Box::pin(input), output: Box::pin(output), _guard: Some(child) })
            }
            Connection::Ssh(session) => {
                let channel = session.channel_open_session().await.map_err(|e| e.to_string())?;
                channel.exec(true, command).await.map_err(|e| e.to_string())?;
                let (output, input) = tokio::io::split(channel.into_stream());
                Ok(ShellStream { input: Box::pin(input), output: Box::pin(output), _guard: None })
            }
        }
    }

    /// Runs `command` and returns its stdout (used to list remote directories).
    pub async fn run(&self, command: &str) -> Result<(Vec<u8>, u32), String> {
        match self {
            Connection::Local => {
                let out = tokio::process::Command::new("bash")
                    .arg("-c")
                    .arg(command)
                    .output()
                    .await
                    .map_err(|e| format!("cannot start bash: {e}"))?;
                Ok((out.stdout, out.status.code().unwrap_or(255) as u32))
            }
            Connection::Ssh(session) => {
                let mut channel = session.channel_open_session().await.map_err(|e| e.to_string())?;
                channel.exec(true, command).await.map_err(|e| e.to_string())?;
                // Nothing is sent to a command: a forced command that reads its input (an
                // SFTP-only host's internal-sftp) ends instead of waiting.
                channel.eof().await.map_err(|e| e.to_string())?;
                let (mut out, mut code) = (Vec::new(), 255);
                while let Some(msg) = channel.wait().await {
                    match msg {
                        russh::ChannelMsg::Data { data } => out.extend_from_slice(&data),
                        russh::ChannelMsg::ExitStatus { exit_status } => code = exit_status,
                        _ => {}
                    }
                }
                Ok((out, code))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
