//! One event as printed: the NDJSON object, the readable block, and a one-line summary from the
//! typed models.

use open_event_core::Event;
use open_event_core::model::{
    AppChatCreate, AppChatMessageCreate, GroupChatDelete, GroupChatMemberRobotCreate,
    GroupChatMemberRobotDelete, GroupChatMemberUserCreate, GroupChatMemberUserDelete, Identity,
    TypedEvent,
};
use serde::Serialize;
use serde_json::Value;

use crate::style::{Palette, rfc3339};

/// The JSON object of one event (`--json`, `--output`, `--exec` stdin, `decode --json`).
#[derive(Debug, Serialize)]
pub(crate) struct EventRecord<'a> {
    /// The event's `time` in RFC 3339 (UTC).
    pub(crate) time: String,
    pub(crate) event_code: &'a str,
    pub(crate) topic: &'a str,
    pub(crate) operation: &'a str,
    pub(crate) nonce: &'a str,
    /// The data as JSON when it parses, else the text as a string.
    pub(crate) data: Value,
}

impl<'a> EventRecord<'a> {
    pub(crate) fn new(event: &'a Event) -> Self {
        Self {
            time: rfc3339(event.time),
            event_code: event.event_code(),
            topic: &event.topic,
            operation: &event.operation,
            nonce: &event.nonce,
            data: data_value(&event.data),
        }
    }

    /// One line of JSON, newline included.
    pub(crate) fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_else(|err| {
            // Serializing plain strings and a `Value` cannot fail; keep the stream valid anyway.
            serde_json::json!({ "error": err.to_string() }).to_string()
        });
        line.push('\n');
        line
    }
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
