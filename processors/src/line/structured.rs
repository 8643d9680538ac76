//! Lines that carry their own fields: JSON objects and logfmt (`level=error msg="..."`).
//! Their message is the `msg`/`message` field and their level the `level` field, so a JSON
//! logger's lines group by what they say, not by their timestamps and keys.

use std::borrow::Cow;

use tailrace_schemas::Severity;

use super::header::level_word;

/// Message and level of a structured line; `None` when the line is not structured.
pub fn parse(line: &str) -> Option<(Cow<'_, str>, Option<Severity>)> {
    let t = line.trim_start();
    if t.starts_with('{') {
        return json(t);
    }
    // logfmt opens with a pair: the first field holds its `=`.
    let first = t.split(' ').next().unwrap_or("");
    if first.contains('=') {
        return logfmt(t);
    }
    None
}

const MESSAGE_KEYS: [&str; 6] = ["msg", "message", "MESSAGE", "log", "text", "event"];
const LEVEL_KEYS: [&str; 7] = ["level", "lvl", "severity", "log.level", "loglevel", "levelname", "LEVEL"];

fn json(line: &str) -> Option<(Cow<'_, str>, Option<Severity>)> {
    let serde_json::Value::Object(map) = serde_json::from_str::<serde_json::Value>(line).ok()? else {
        return None;
    };
    let level = LEVEL_KEYS.iter().find_map(|k| map.get(*k)).and_then(|v| match v {
        serde_json::Value::String(s) => level_word(s),
        // Bunyan/pino numeric levels: 10 trace … 60 fatal.
        serde_json::Value::Number(n) => n.as_u64().map(|n| match n {
            0..=19 => Severity::Trace,
            20..=29 => Severity::Debug,
            30..=39 => Severity::Info,
            40..=49 => Severity::Warn,
            _ => Severity::Error,
        }),
        _ => None,
    });
    let message = MESSAGE_KEYS
        .iter()
        .find_map(|k| map.get(*k))
        .and_then(|v| v.as_str())
        .map(|s| Cow::Owned(s.to_owned()));
    Some((message.unwrap_or(Cow::Borrowed(line)), level))
}

/// `key=value key2="quoted value"`: at least two pairs, one of them a level or a message.
fn logfmt(line: &str) -> Option<(Cow<'_, str>, Option<Severity>)> {
    let mut level = None;
    let mut message: Option<Cow<'_, str>> = None;
    let mut pairs = 0;
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            // A bare word: fine in logfmt, but not a pair.
            continue;
        }
        let key = &line[key_start..i];
        i += 1;
        let value: Cow<'_, str> = if i < b.len() && b[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            let mut escaped = false;
            while j < b.len() && (b[j] != b'"' || escaped) {
                escaped = b[j] == b'\\' && !escaped;
                j += 1;
            }
            let raw = &line[start..j.min(b.len())];
            i = (j + 1).min(b.len());
            if raw.contains('\\') {
                Cow::Owned(raw.replace("\\\"", "\"").replace("\\\\", "\\"))
            } else {
                Cow::Borrowed(raw)
            }
        } else {
            let start = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            Cow::Borrowed(&line[start..i])
        };
        pairs += 1;
        if LEVEL_KEYS.contains(&key) {
            level = level_word(&value);
        } else if MESSAGE_KEYS.contains(&key) && message.is_none() {
            message = Some(value);
        }
    }
    (pairs >= 2 && (level.is_some() || message.is_some()))
        .then(|| (message.unwrap_or(Cow::Borrowed(line)), level))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_give_their_message_and_level() {
        let (m, l) = parse(r#"{"ts":"2024-01-01T00:00:00Z","level":"warn","msg":"disk 91% full"}"#).unwrap();
        assert_eq!((m.as_ref(), l), ("disk 91% full", Some(Severity::Warn)));
        let (_, l) = parse(r#"{"level":50,"msg":"x"}"#).unwrap();
        assert_eq!(l, Some(Severity::Error));
    }

    #[test]
    fn logfmt_lines_give_their_message_and_level() {
        let (m, l) =
            parse(r#"ts=2024-01-01T00:00:00Z level=error msg="connect failed: \"db\"" attempt=3"#).unwrap();
        assert_eq!((m.as_ref(), l), (r#"connect failed: "db""#, Some(Severity::Error)));
    }

    #[test]
    fn plain_lines_are_not_structured() {
        assert!(parse("uid=0 logged in").is_none());
        assert!(parse("{not json").is_none());
    }
}
