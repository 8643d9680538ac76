//! A stored message as JSON, by the payload type its subject carries, with every string cut to
//! the line limit: a small compressed message can hold a line of tens of megabytes, and it
//! must not reach every subscriber as it is.

use serde_json::Value;

/// The payload's JSON form, decoded by the type its subject carries; strings longer than
/// `max_string` bytes are cut at a character boundary and their object gets `"truncated": true`.
pub fn payload(subject: &str, bytes: &[u8], max_string: usize) -> Value {
    let mut value = tailrace_schemas::streams::to_json(subject, bytes);
    limit(&mut value, max_string);
    value
}

/// Cuts long strings in place; true if a string directly in `value` (an array's item) was cut.
fn limit(value: &mut Value, max: usize) -> bool {
    match value {
        Value::String(s) if s.len() > max => {
            let mut end = max;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            true
        }
        Value::Array(items) => items.iter_mut().fold(false, |cut, v| limit(v, max) | cut),
        Value::Object(fields) => {
            let cut = fields.values_mut().fold(false, |cut, v| limit(v, max) | cut);
            if cut {
                fields.insert("truncated".to_owned(), Value::Bool(true));
            }
            false
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_at_a_character_boundary_and_marked() {
        let batch = tailrace_schemas::LogBatch {
            v: 1,
            host: "h".into(),
            source: "s".into(),
            path: "/p".into(),
            file: None,
            generation: 0,
            lines: vec![
                tailrace_schemas::LogLine { offset: 0, text: "é".repeat(40), lossy: false, priority: None },
                tailrace_schemas::LogLine { offset: 80, text: "short".into(), lossy: false, priority: None },
            ],
            next_offset: None,
            cursor: None,
            cursor_lines: None,
            read_at: tailrace_schemas::Timestamp::now(),
        };
        let bytes = tailrace_schemas::encode(&batch).unwrap();
        let v = payload("logs.raw.h.s", &bytes, 11);
        assert_eq!(v["lines"][0]["text"], "é".repeat(5));
        assert_eq!(v["lines"][0]["truncated"], true);
        assert_eq!(v["lines"][1]["text"], "short");
        assert!(v["lines"][1].get("truncated").is_none());
    }
}
