//! [`LineFormat`]: a source's format as an operator states it, for when they know it.
//!
//! Without one, a line's header is found by what its fields look like ([`crate::line`]). An
//! operator who knows a source's format can say it in the form logparser and its parsers
//! (Drain, Brain) take, `<Date> <Time> <Pid> <Level> <Component>: <Content>`, and give regexes of
//! the variables that source writes; grouping on that source then starts from its exact message
//! and masks. As in logparser, the text between fields is a regular expression in which a run
//! of spaces matches any run of whitespace, every field but the last is matched as little as it
//! can, and `<Content>` takes the rest. A line the format does not match is fingerprinted as if
//! there were no format.
//!
//! [`Formats`] picks a batch's format by host and source globs, first match wins.

use std::borrow::Cow;

use globset::GlobMatcher;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::WILDCARD;

/// `[[processors.fingerprint.formats]]`: the format of the sources a host and source glob pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatConfig {
    /// Glob on the host name (`web-*`); any host when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Glob on the source name (`nginx*`); any source when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The line's format: `<Date> <Time> <Level> <Component>: <Content>`.
    pub header: String,
    /// Regexes of variables in the message, each match replaced by `<*>` before mining.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masks: Vec<String>,
}

/// A format that cannot be used, naming the entry and field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("formats[{index}].header: {reason} in {header:?}")]
    Header { index: usize, header: String, reason: String },
    #[error("formats[{index}].masks[{mask}]: invalid regex {pattern:?}: {reason}")]
    Mask { index: usize, mask: usize, pattern: String, reason: String },
    #[error("formats[{index}].{field}: invalid glob {pattern:?}: {reason}")]
    Glob { index: usize, field: &'static str, pattern: String, reason: String },
}

/// A compiled format.
#[derive(Debug, Clone)]
pub struct LineFormat {
    regex: Regex,
    content: usize,
    masks: Vec<Regex>,
}

impl LineFormat {
    /// Compiles `header` and `masks`; `index` names the entry in errors.
    pub fn new(index: usize, header: &str, masks: &[String]) -> Result<Self, FormatError> {
        let bad = |reason: &str| FormatError::Header {
            index,
            header: header.to_owned(),
            reason: reason.to_owned(),
        };
        let mut pattern = String::from("^");
        let mut fields = Vec::new();
        let mut rest = header;
        loop {
            let Some(open) = rest.find('<') else {
                pattern.push_str(&spaces(rest));
                break;
            };
            let close = rest[open..].find('>').ok_or_else(|| bad("a `<` without its `>`"))? + open;
            let name = &rest[open + 1..close];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(bad(&format!("field <{name}> must be a name of letters, digits and `_`")));
            }
            if fields.contains(&name) {
                return Err(bad(&format!("field <{name}> is given twice")));
            }
            pattern.push_str(&spaces(&rest[..open]));
            pattern.push_str(if name == "Content" { "(.*)" } else { "(.*?)" });
            fields.push(name);
            rest = &rest[close + 1..];
        }
        pattern.push('$');
        let content =
            fields.iter().position(|f| *f == "Content").ok_or_else(|| bad("no <Content> field"))? + 1;
        let regex = Regex::new(&pattern)
            .map_err(|e| bad(&format!("the text between fields is not a regex ({e})")))?;
        let masks = masks
            .iter()
            .enumerate()
            .map(|(mask, p)| {
                let bad = |reason: String| FormatError::Mask { index, mask, pattern: p.clone(), reason };
                let re = Regex::new(p).map_err(|e| bad(e.to_string()))?;
                // One that matches nothing at all would put `<*>` between every two characters.
                if re.is_match("") {
                    return Err(bad("it matches the empty text".to_owned()));
                }
                Ok(re)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { regex, content, masks })
    }

    /// The message of `line` with the masks applied, or `None` when the format does not match.
    pub fn content<'a>(&self, line: &'a str) -> Option<Cow<'a, str>> {
        let content = self.regex.captures(line)?.get(self.content)?.as_str().trim();
        let mut out = Cow::Borrowed(content);
        for mask in &self.masks {
            if let Cow::Owned(masked) = mask.replace_all(&out, WILDCARD) {
                out = Cow::Owned(masked);
            }
        }
        Some(out)
    }
}

/// logparser's reading of the text between fields: a run of spaces is any run of whitespace.
fn spaces(text: &str) -> String {
    let mut out = String::new();
    let mut in_space = false;
    for c in text.chars() {
        if c == ' ' {
            if !in_space {
                out.push_str(r"\s+");
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Entry {
    host: Option<GlobMatcher>,
    source: Option<GlobMatcher>,
    format: LineFormat,
}

/// The configured formats, in order.
#[derive(Debug, Clone, Default)]
pub struct Formats {
    entries: Vec<Entry>,
}

fn glob(index: usize, field: &'static str, pattern: &str) -> Result<GlobMatcher, FormatError> {
    tailrace_schemas::categories::config_glob(pattern).map_err(|reason| FormatError::Glob {
        index,
        field,
        pattern: pattern.to_owned(),
        reason,
    })
}

impl Formats {
    pub fn new(configured: &[FormatConfig]) -> Result<Self, FormatError> {
        let entries = configured
            .iter()
            .enumerate()
            .map(|(index, c)| {
                Ok(Entry {
                    host: c.host.as_deref().map(|p| glob(index, "host", p)).transpose()?,
                    source: c.source.as_deref().map(|p| glob(index, "source", p)).transpose()?,
                    format: LineFormat::new(index, &c.header, &c.masks)?,
                })
            })
            .collect::<Result<_, FormatError>>()?;
        Ok(Self { entries })
    }

    /// The format of `host`'s `source`, if one is configured.
    pub fn of(&self, host: &str, source: &str) -> Option<&LineFormat> {
        self.entries
            .iter()
            .find(|e| {
                e.host.as_ref().is_none_or(|g| g.is_match(host))
                    && e.source.as_ref().is_none_or(|g| g.is_match(source))
            })
            .map(|e| &e.format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logparser_format_finds_the_message_and_masks_apply_to_it() {
        let f = LineFormat::new(
            0,
            "<Date> <Time> <Pid> <Level> <Component>: <Content>",
            &[r"blk_-?\d+".to_owned()],
        )
        .unwrap();
        let line = "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating";
        assert_eq!(f.content(line).unwrap(), "PacketResponder 1 for block <*> terminating");
        assert_eq!(f.content("not this format"), None);
        // A run of spaces in the format matches any run of whitespace.
        let padded = LineFormat::new(0, "<Date>, <Level>  <Component>  <Content>", &[]).unwrap();
        assert_eq!(
            padded
                .content("2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack")
                .unwrap(),
            "Loaded Servicing Stack"
        );
    }

    #[test]
    fn a_bad_format_is_refused_naming_its_entry_and_field() {
        let err = |h: &str, m: &[&str]| {
            LineFormat::new(3, h, &m.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap_err()
                .to_string()
        };
        assert!(err("<Date> <Time>", &[]).contains("formats[3].header: no <Content> field"));
        assert!(err("<Date <Content>", &[]).contains("must be a name"));
        assert!(err("<Date> <Content", &[]).contains("without its `>`"));
        assert!(err("<Date> <Date> <Content>", &[]).contains("given twice"));
        assert!(err("<Content>", &["(unclosed"]).contains("formats[3].masks[0]: invalid regex"));
        assert!(err("<Content>", &["x", r"\d*"])
            .contains("formats[3].masks[1]: invalid regex \"\\\\d*\": it matches the empty text"));
    }

    #[test]
    fn the_first_entry_whose_globs_match_gives_the_format() {
        let formats = Formats::new(&[
            FormatConfig {
                host: Some("web-*".into()),
                source: None,
                // (The text between fields is a regex, as in logparser: brackets are escaped.)
                header: r"\[<Time>\] <Content>".into(),
                masks: vec![],
            },
            FormatConfig {
                host: None,
                source: Some("app".into()),
                header: "<Time> <Content>".into(),
                masks: vec![],
            },
        ])
        .unwrap();
        assert_eq!(formats.of("web-1", "app").unwrap().content("[t] x").unwrap(), "x");
        assert_eq!(formats.of("db-1", "app").unwrap().content("t y").unwrap(), "y");
        assert!(formats.of("db-1", "nginx").is_none());
    }
}
