//! [`Query`]: the query string as a typed value, refused as JSON naming the parameter.
//!
//! axum's own `Query` answers a bad parameter with a text/plain 400 and decodes invalid UTF-8
//! lossily (a `%FF` becomes U+FFFD and is accepted). This one refuses invalid UTF-8 and NUL in
//! any parameter, and names the parameter in the JSON body of every refusal.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A deserialized query string; see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Parses a raw query string (without `?`).
pub fn parse<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(key_text) = decode(key).filter(|k| !k.contains('\0')) else {
            return Err(ApiError::bad_request(
                "query",
                &format!("the parameter name {key:?} is not valid UTF-8, or holds a NUL"),
            ));
        };
        let value = decode(value)
            .ok_or_else(|| ApiError::bad_request(&key_text, &"is not valid UTF-8 once percent-decoded"))?;
        if value.contains('\0') {
            return Err(ApiError::bad_request(&key_text, &"holds a NUL character"));
        }
    }
    // `access_token` is the caller's credential for clients that cannot send a header
    // (EventSource, WebSocket): the auth layer took it, no endpoint's parameters hold it.
    let kept: String =
        raw.split('&').filter(|p| !p.starts_with("access_token=")).collect::<Vec<_>>().join("&");
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(kept.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| refusal(e, "query"))
}

/// A JSON value (a WebSocket event's `data`) as a typed request, refused naming the field.
pub fn from_json<T: DeserializeOwned>(data: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(data).map_err(|e| refusal(e, "data"))
}

/// A deserialization error as a refusal naming the field it is about (`whole` when it is about
/// no one field).
fn refusal<E: std::fmt::Display>(e: serde_path_to_error::Error<E>, whole: &str) -> ApiError {
    let path = e.path().to_string();
    let reason = e.into_inner().to_string();
    let field = if path.is_empty() || path == "." {
        missing_field(&reason).unwrap_or_else(|| whole.to_owned())
    } else {
        path
    };
    ApiError::bad_request(field, &reason)
}

/// `+` as space, then percent-decoding; `None` if the bytes are not UTF-8.
fn decode(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&spaced).collect();
    String::from_utf8(bytes).ok()
}

/// The field serde names in "missing field `subject`".
fn missing_field(reason: &str) -> Option<String> {
    reason.strip_prefix("missing field `").and_then(|r| r.split('`').next()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Q {
        #[allow(dead_code)]
        subject: String,
        #[allow(dead_code)]
        from: Option<u64>,
    }

    fn field(raw: &str) -> String {
        match parse::<Q>(raw) {
            Err(ApiError::BadRequest { field, .. }) => field,
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn every_refusal_names_the_parameter() {
        assert_eq!(field("from=1"), "subject");
        assert_eq!(field("subject=logs.>&from=abc"), "from");
        assert_eq!(field("subject=logs.%FF"), "subject");
        assert_eq!(field("subject=logs.%00"), "subject");
        assert_eq!(field("subject=logs.raw.%3E&%FF=1"), "query");
        assert_eq!(field("subject=logs.raw.%3E&a%00b=1"), "query");
        assert!(parse::<Q>("subject=logs.raw.%3E&from=3").is_ok());
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        path: String,
    }

    #[test]
    fn the_access_token_is_not_taken_for_an_unknown_parameter() {
        assert!(parse::<Strict>("path=a.log&access_token=secret").is_ok());
        assert!(parse::<Strict>("path=a.log&other=1").is_err());
    }
}
