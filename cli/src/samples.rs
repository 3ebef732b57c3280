//! Realistic sample events: every typed event of docs/protocol.md §10 and one the SDK has no model
//! for. Used by `demo` and by `emulate` when it generates events.

use open_event_emulator::EventSpec;
use serde_json::{Value, json};

/// An event spec from an event code and its data.
fn spec(event_code: &str, data: &Value) -> EventSpec {
    let (topic, operation) = event_code
        .rsplit_once('.')
        .unwrap_or((event_code, "create"));
    EventSpec::new(topic, operation, data.to_string())
}

const COMPANY: &str = "c_81920345";
const BOT_CHAT: &str = "chat_p2p_5f0c2e";
const GROUP: &str = "chat_grp_9a71d4";

fn user(id: &str) -> Value {
    json!({"type": "user", "id": id})
}

/// `kso.app_chat.create`: Alice opens a chat with the bot.
pub(crate) fn chat_created() -> EventSpec {
    spec(
        "kso.app_chat.create",
        &json!({"chat_id": BOT_CHAT, "creator": user("u_alice"), "company_id": COMPANY}),
    )
}

/// `kso.app_chat.message.create`: a text message to the bot.
pub(crate) fn text_message(id: &str, text: &str) -> EventSpec {
    spec(
        "kso.app_chat.message.create",
        &json!({
            "company_id": COMPANY,
            "chat": {"id": BOT_CHAT, "type": "p2p"},
            "sender": {"type": "user", "id": "u_alice"},
            "send_time": 1_767_225_600_000_i64,
            "message": {"id": id, "type": "text", "content": {"text": text}}
        }),
    )
}

/// `kso.app_chat.message.create`: a group message mentioning the bot.
pub(crate) fn group_mention() -> EventSpec {
    spec(
        "kso.app_chat.message.create",
        &json!({
            "company_id": COMPANY,
            "chat": {"id": GROUP, "type": "group"},
            "sender": {"type": "user", "id": "u_bob", "extended_attribute": {"name": "Bob"}},
            "send_time": 1_767_225_660_000_i64,
            "message": {
                "id": "msg_0003",
                "type": "text",
                "content": {"text": "@bot what is on today's agenda?"},
                "mentions": [{"type": "app", "id": "app_bot", "offset": 0, "length": 4}]
            }
        }),
    )
}

/// `kso.xz.app.group_chat.member.robot.create`: the bot joins a group.
pub(crate) fn robot_joined() -> EventSpec {
    spec(
        "kso.xz.app.group_chat.member.robot.create",
        &json!({"chat_id": GROUP, "company_id": COMPANY, "operator": user("u_alice")}),
    )
}

/// `kso.xz.app.group_chat.member.user.create`: two users join the group.
pub(crate) fn users_joined() -> EventSpec {
    spec(
        "kso.xz.app.group_chat.member.user.create",
        &json!({
            "chat_id": GROUP, "company_id": COMPANY, "operator": user("u_alice"),
            "users": [user("u_bob"), user("u_carol")]
        }),
    )
}

/// `kso.xz.app.group_chat.member.user.delete`: a user leaves the group.
pub(crate) fn user_left() -> EventSpec {
    spec(
        "kso.xz.app.group_chat.member.user.delete",
        &json!({
            "chat_id": GROUP, "company_id": COMPANY, "operator": user("u_carol"),
            "users": [user("u_carol")]
        }),
    )
}

/// `kso.xz.app.group_chat.member.robot.delete`: the bot is removed from the group.
pub(crate) fn robot_removed() -> EventSpec {
    spec(
        "kso.xz.app.group_chat.member.robot.delete",
        &json!({"chat_id": GROUP, "company_id": COMPANY, "operator": user("u_alice")}),
    )
}

/// `kso.xz.app.group_chat.delete`: the group is dissolved.
pub(crate) fn group_deleted() -> EventSpec {
    spec(
        "kso.xz.app.group_chat.delete",
        &json!({"chat_id": GROUP, "company_id": COMPANY, "operator": user("u_alice")}),
    )
}

/// An event code the SDK has no typed model for.
pub(crate) fn unknown_event() -> EventSpec {
    spec(
        "kso.calendar.event.create",
        &json!({
            "calendar_id": "cal_7d21",
            "event_id": "evt_3310",
            "summary": "Sprint review",
            "start_time": 1_767_254_400,
            "organizer": user("u_alice")
        }),
    )
}

/// An endless rotation of samples for generated traffic (`n` counts from 0).
pub(crate) fn rotation(n: u64) -> EventSpec {
    match n % 9 {
        0 => chat_created(),
        1 => text_message(&format!("msg_g{n:05}"), &format!("message number {n}")),
        2 => robot_joined(),
        3 => users_joined(),
        4 => group_mention(),
        5 => unknown_event(),
        6 => user_left(),
        7 => robot_removed(),
        _ => group_deleted(),
    }
}

#[cfg(test)]
mod tests {
    use open_event_core::Event;
    use open_event_core::model::TYPED_EVENT_CODES;

    use super::*;
    use crate::record::describe;

    #[test]
    fn the_rotation_covers_every_typed_event_and_each_parses() {
        let specs: Vec<EventSpec> = (0..9).map(rotation).collect();
        for code in TYPED_EVENT_CODES {
            assert!(
                specs.iter().any(|s| s.event_code() == code),
                "{code} missing"
            );
        }
        assert!(
            specs
                .iter()
                .any(|s| !TYPED_EVENT_CODES.contains(&s.event_code().as_str()))
        );
        for s in specs {
            let event = Event::new(&*s.topic, &*s.operation, 0, "0123456789abcdef", &*s.data);
            let summary = describe(&event);
            assert!(!summary.starts_with("data does not match"), "{summary}");
        }
    }
}
