//! One event as printed: the NDJSON object, the readable block, and a one-line summary from the
//! typed models.

use open_event_core::Event;
use open_event_core::model::{
    AppChatCreate, AppChatMessageCreate, GroupChatDelete, GroupChatMemberRobotCreate,
    GroupChatMemberRobotDelete, GroupChatMemberUserCreate, GroupChatMemberUserDelete, Identity,
    TypedEvent,
};
use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use crate::style::{Palette, rfc3339};

/// The JSON object of one event (`--json`, `--output`, `--exec` stdin, `decode --json`).
///
/// `data` is the sender's JSON text itself when it is JSON (key order, number spelling,
/// escapes and spacing kept; a line break between tokens becomes a space, so the object stays
/// on one line), else the text as a JSON string. No `Value` tree is built: the data is
/// checked against the JSON grammar and borrowed (copied only to replace line breaks).
#[derive(Debug)]
pub(crate) struct EventRecord<'a> {
    /// The event's `time` in RFC 3339 (UTC).
    pub(crate) time: String,
    pub(crate) event_code: &'a str,
    pub(crate) topic: &'a str,
    pub(crate) operation: &'a str,
    pub(crate) nonce: &'a str,
    /// The data as one line of JSON text when it parses, else `None` (printed as a string).
    pub(crate) data: Option<Cow<'a, str>>,
    raw_data: &'a str,
}

/// The fields before `data`, in the order they are printed.
#[derive(Serialize)]
struct Head<'r> {
    time: &'r str,
    event_code: &'r str,
    topic: &'r str,
    operation: &'r str,
    nonce: &'r str,
}

impl<'a> EventRecord<'a> {
    /// The record of any event: its data is checked against the JSON grammar (the core's own
    /// check, [`Event::check_json`]).
    pub(crate) fn new(event: &'a Event) -> Self {
        let is_json = !event.data.is_empty() && event.check_json().is_ok();
        Self::with_data(event, is_json.then(|| one_line(&event.data)))
    }

    /// The record of an event the core delivered (a connection or the webhook endpoint): the
    /// core delivers only events whose data is JSON text or empty ([`Event::check_json`]), so
    /// it is not parsed a second time.
    pub(crate) fn delivered(event: &'a Event) -> Self {
        debug_assert!(
            event.check_json().is_ok(),
            "the core delivered non-JSON data"
        );
        let data = (!event.data.is_empty()).then(|| one_line(&event.data));
        Self::with_data(event, data)
    }

    fn with_data(event: &'a Event, data: Option<Cow<'a, str>>) -> Self {
        Self {
            time: rfc3339(event.time),
            event_code: event.event_code(),
            topic: &event.topic,
            operation: &event.operation,
            nonce: &event.nonce,
            data,
            raw_data: &event.data,
        }
    }

    /// One line of JSON, newline included.
    pub(crate) fn to_line(&self) -> String {
        let head = Head {
            time: &self.time,
            event_code: self.event_code,
            topic: self.topic,
            operation: self.operation,
            nonce: self.nonce,
        };
        let data_len = self
            .data
            .as_ref()
            .map_or(self.raw_data.len() + 2, |d| d.len());
        let mut line = Vec::with_capacity(128 + data_len);
        let written = serde_json::to_writer(&mut line, &head).and_then(|()| {
            // `{...}` -> `{...,"data":DATA}`.
            line.pop();
            line.extend_from_slice(br#","data":"#);
            match &self.data {
                Some(json) => line.extend_from_slice(json.as_bytes()),
                None => serde_json::to_writer(&mut line, self.raw_data)?,
            }
            line.extend_from_slice(b"}\n");
            Ok(())
        });
        match written.map(|()| String::from_utf8(line)) {
            Ok(Ok(line)) => line,
            // Serializing strings into a Vec cannot fail, and every piece is UTF-8; keep the
            // stream valid anyway.
            Ok(Err(err)) => error_line(&err.to_string()),
            Err(err) => error_line(&err.to_string()),
        }
    }
}

fn error_line(message: &str) -> String {
    let mut line = serde_json::json!({ "error": message }).to_string();
    line.push('\n');
    line
}

/// Valid JSON text on one line: a line break can stand only between tokens (JSON strings hold
/// none unescaped), so each one becomes a space; the rest is kept as sent. Borrowed when there
/// is none, the platform's case.
fn one_line(data: &str) -> Cow<'_, str> {
    if memchr::memchr2(b'\n', b'\r', data.as_bytes()).is_none() {
        return Cow::Borrowed(data);
    }
    Cow::Owned(data.replace(['\n', '\r'], " "))
}

/// The event's data as JSON, or its text as a JSON string when it is not JSON.
pub(crate) fn data_value(data: &str) -> Value {
    serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.to_owned()))
}

/// The readable block of one event: a header line, the summary, the pretty data.
pub(crate) fn readable(event: &Event, palette: Palette, indent: &str) -> String {
    let mut out = format!(
        "{}  {}  {}\n",
        palette.dim(&rfc3339(event.time)),
        palette.bold(&palette.cyan(event.event_code())),
        palette.dim(&event.nonce),
    );
    out.push_str(indent);
    out.push_str(&describe(event));
    out.push('\n');
    out.push_str(&palette.json(&data_value(&event.data), indent));
    out.push('\n');
    out
}

/// What the event means, in one line, read through its typed model (docs/protocol.md §10).
pub(crate) fn describe(event: &Event) -> String {
    let code = event.event_code();
    let result = match code {
        AppChatMessageCreate::EVENT_CODE => typed(event, |m: AppChatMessageCreate| {
            let content = &m.message.content;
            let what = if let Some(text) = &content.text {
                format!("{text:?}")
            } else if let Some(file) = &content.file {
                format!("a file {:?}", file.name)
            } else if let Some(image) = &content.image {
                format!("an image ({})", image.file_id)
            } else {
                format!("a {} message", m.message.kind)
            };
            let mentions = match m.message.mentions.len() {
                0 => String::new(),
                1 => " (1 mention)".to_owned(),
                n => format!(" ({n} mentions)"),
            };
            format!(
                "{} {} sent {what}{mentions} in {} chat {}",
                m.sender.kind.as_str(),
                m.sender.id,
                m.chat.kind,
                m.chat.id
            )
        }),
        AppChatCreate::EVENT_CODE => typed(event, |c: AppChatCreate| {
            format!("{} opened chat {} with the app", who(&c.creator), c.chat_id)
        }),
        GroupChatDelete::EVENT_CODE => typed(event, |g: GroupChatDelete| {
            format!("group {} was dissolved by {}", g.chat_id, who(&g.operator))
        }),
        GroupChatMemberUserCreate::EVENT_CODE => typed(event, |g: GroupChatMemberUserCreate| {
            format!(
                "{} joined group {} (added by {})",
                people(&g.users),
                g.chat_id,
                who(&g.operator)
            )
        }),
        GroupChatMemberUserDelete::EVENT_CODE => typed(event, |g: GroupChatMemberUserDelete| {
            format!(
                "{} left group {} (removed by {})",
                people(&g.users),
                g.chat_id,
                who(&g.operator)
            )
        }),
        GroupChatMemberRobotCreate::EVENT_CODE => typed(event, |g: GroupChatMemberRobotCreate| {
            format!(
                "the app was added to group {} by {}",
                g.chat_id,
                who(&g.operator)
            )
        }),
        GroupChatMemberRobotDelete::EVENT_CODE => typed(event, |g: GroupChatMemberRobotDelete| {
            format!(
                "the app was removed from group {} by {}",
                g.chat_id,
                who(&g.operator)
            )
        }),
        _ => Ok("no typed model for this event code: its data is passed on as is".to_owned()),
    };
    result.unwrap_or_else(|err| format!("data does not match the {code} model: {err}"))
}

fn typed<T: TypedEvent>(
    event: &Event,
    summary: impl FnOnce(T) -> String,
) -> Result<String, serde_json::Error> {
    event.parse::<T>().map(summary)
}

fn who(identity: &Identity) -> String {
    format!("{} {}", identity.kind.as_str(), identity.id)
}

fn people(users: &[Identity]) -> String {
    match users {
        [] => "nobody".to_owned(),
        [one] => who(one),
        many => {
            let ids: Vec<&str> = many.iter().map(|u| u.id.as_str()).collect();
            format!("{} users ({})", many.len(), ids.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(topic: &str, op: &str, data: &str) -> Event {
        Event::new(topic, op, 1_704_067_200, "b38c06ba3330d2a3", data)
    }

    #[test]
    fn the_record_has_the_documented_fields() {
        let e = event("kso.app_chat", "create", r#"{"chat_id":"c1"}"#);
        let line = EventRecord::new(&e).to_line();
        assert!(line.ends_with('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["time"], "2024-01-01T00:00:00Z");
        assert_eq!(v["event_code"], "kso.app_chat.create");
        assert_eq!(v["topic"], "kso.app_chat");
        assert_eq!(v["operation"], "create");
        assert_eq!(v["nonce"], "b38c06ba3330d2a3");
        assert_eq!(v["data"]["chat_id"], "c1");
    }

    #[test]
    fn data_that_is_not_json_stays_a_string() {
        let e = event("kso.x", "y", "not json");
        let v: Value = serde_json::from_str(&EventRecord::new(&e).to_line()).unwrap();
        assert_eq!(v["data"], "not json");
    }

    /// The record's `data` of an event with this data text.
    fn record_data(data: &str) -> Option<String> {
        let e = event("kso.x", "y", data);
        EventRecord::new(&e).data.map(Cow::into_owned)
    }

    #[test]
    fn json_data_is_the_senders_text_in_one_line() {
        // Key order, number spelling, escapes and duplicate keys as sent; no `Value` round
        // trip (which sorted the keys, spelled 1.0e2 as 100.0 and refused 1E8888).
        let data = r#"{"z":1,"a":[1.0e2,1E8888],"s":"x\u00e9 \"y\"","a":null}"#;
        let e = event("kso.x", "y", data);
        let line = EventRecord::new(&e).to_line();
        assert!(line.ends_with(&format!(",\"data\":{data}}}\n")), "{line}");
        assert!(matches!(EventRecord::new(&e).data, Some(Cow::Borrowed(_))));
        // A line break between tokens becomes a space, so the record stays one line; the rest
        // of the spacing is kept as sent.
        let pretty = "{\n  \"b\" : [ 1, 2 ],\r\n\t\"a\": \"x y\\\" z\"\n}\n";
        assert_eq!(
            record_data(pretty).as_deref(),
            Some("{   \"b\" : [ 1, 2 ],  \t\"a\": \"x y\\\" z\" } ")
        );
        let e = event("kso.x", "y", pretty);
        let line = EventRecord::new(&e).to_line();
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["data"], serde_json::json!({"b": [1, 2], "a": "x y\" z"}));
        // A scalar is JSON too, and so is text of any script.
        assert_eq!(record_data(" 42 ").as_deref(), Some(" 42 "));
        let cjk = "{ \"é\" :\n\"中 文\" }";
        assert_eq!(record_data(cjk).as_deref(), Some("{ \"é\" : \"中 文\" }"));
        // Trailing garbage is not JSON: printed as a string.
        assert_eq!(record_data("{} x"), None);
        // A delivered event's data is JSON already: the same text, without parsing it again.
        let e = event("kso.x", "y", pretty);
        assert_eq!(
            EventRecord::delivered(&e).to_line(),
            EventRecord::new(&e).to_line()
        );
        let e = event("kso.x", "y", "");
        let line = EventRecord::delivered(&e).to_line();
        assert!(line.ends_with(",\"data\":\"\"}\n"), "{line}");
        assert_eq!(record_data(""), None);
    }

    #[test]
    fn summaries_read_the_typed_models() {
        let e = event(
            "kso.app_chat.message",
            "create",
            r#"{"company_id":"c","chat":{"id":"chat1","type":"p2p"},"sender":{"type":"user","id":"u1"},
                "send_time":1,"message":{"id":"m","type":"text","content":{"text":"hi"}}}"#,
        );
        assert_eq!(describe(&e), r#"user u1 sent "hi" in p2p chat chat1"#);
        let e = event("kso.app_chat", "create", r#"{"chat_id":"c1"}"#);
        assert!(describe(&e).starts_with("data does not match the kso.app_chat.create model"));
        let e = event("kso.unknown", "thing", "{}");
        assert!(describe(&e).starts_with("no typed model"));
    }
}
