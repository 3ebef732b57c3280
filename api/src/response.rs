//! Reading the platform's answers: its `{code, msg}` error object and the `{code, msg, data}`
//! envelope of successful calls, with secrets scrubbed from every text that is kept.

use serde_json::Value;

use crate::ApiError;
use crate::error::hint;

/// How much of an unexpected body an error keeps.
const EXCERPT_CHARS: usize = 200;

/// Values that must never be kept in an error text (the app secret, the access token).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Scrub<'a> {
    values: [Option<&'a str>; 2],
}

impl<'a> Scrub<'a> {
    pub(crate) fn new(secret: &'a str, token: Option<&'a str>) -> Self {
        Self {
            values: [Some(secret), token],
        }
    }

    /// `text` with every scrubbed value replaced by `<redacted>`.
    pub(crate) fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in self.values.iter().flatten() {
            if !value.is_empty() && out.contains(value) {
                out = out.replace(value, "<redacted>");
            }
        }
        out
    }
}

/// The platform's error object `{code, msg}` with a non-zero code, if `body` is one.
pub(crate) fn platform_error(body: &[u8], scrub: &Scrub<'_>) -> Option<(i64, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let code = code_of(value.get("code")?)?;
    if code == 0 {
        return None;
    }
    let msg = match value.get("msg").or_else(|| value.get("message")) {
        Some(Value::String(msg)) => msg.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    Some((code, scrub.apply(&msg)))
}

/// A `code` as a number, also when it is sent as a string of digits.
fn code_of(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The error of an error status: the platform's object when the body is one, else the start
/// of the body.
pub(crate) fn error_status(call: String, status: u16, body: &[u8], scrub: &Scrub<'_>) -> ApiError {
    match platform_error(body, scrub) {
        Some((code, msg)) => ApiError::Platform {
            call,
            status,
            code,
            msg,
            hint: hint(status),
        },
        None => ApiError::Http {
            call,
            status,
            excerpt: excerpt(body, scrub),
            hint: hint(status),
        },
    }
}

/// The `data` of a successful answer (`Null` when there is none).
///
/// A JSON object with a non-zero `code` is the platform's error even with a 2xx status.
pub(crate) fn success_data(
    call: &str,
    status: u16,
    body: &[u8],
    scrub: &Scrub<'_>,
) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::InvalidResponse {
        call: call.to_owned(),
        status,
        problem: format!("not JSON: {e}"),
    })?;
    if let Some((code, msg)) = platform_error(body, scrub) {
        return Err(ApiError::Platform {
            call: call.to_owned(),
            status,
            code,
            msg,
            hint: hint(400),
        });
    }
    match value {
        Value::Object(mut map) => Ok(map.remove("data").unwrap_or(Value::Null)),
        _ => Err(ApiError::InvalidResponse {
            call: call.to_owned(),
            status,
            problem: "not a JSON object".to_owned(),
        }),
    }
}

/// The start of `body` as text, scrubbed.
pub(crate) fn excerpt(body: &[u8], scrub: &Scrub<'_>) -> String {
    let text = String::from_utf8_lossy(body);
    let short: String = text.chars().take(EXCERPT_CHARS).collect();
    scrub.apply(short.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_errors_and_scrubbing() {
        let scrub = Scrub::new("sk-secret", Some("tok-123"));
        assert_eq!(
            platform_error(br#"{"code":"400006","msg":"bad tok-123"}"#, &scrub),
            Some((400_006, "bad <redacted>".to_owned()))
        );
        assert_eq!(platform_error(br#"{"code":0,"msg":"ok"}"#, &scrub), None);
        assert_eq!(platform_error(b"not json", &scrub), None);
        let err = error_status("POST /x".into(), 502, b"echo sk-secret", &scrub);
        assert!(!err.to_string().contains("sk-secret"), "{err}");
    }

    #[test]
    fn success_envelope() {
        let scrub = Scrub::default();
        assert_eq!(
            success_data("c", 200, br#"{"code":0,"data":{"message_id":"m"}}"#, &scrub).unwrap()["message_id"],
            "m"
        );
        assert_eq!(success_data("c", 200, b"", &scrub).unwrap(), Value::Null);
        assert!(matches!(
            success_data(
                "c",
                200,
                br#"{"code":403001,"msg":"no permission"}"#,
                &scrub
            ),
            Err(ApiError::Platform { code: 403_001, .. })
        ));
        assert!(matches!(
            success_data("c", 200, b"[1]", &scrub),
            Err(ApiError::InvalidResponse { .. })
        ));
    }
}
