//! The typed models of docs/protocol.md §10: the decrypted payloads of the test vectors, tolerance of
//! unknown and missing fields, and the event codes.

use std::collections::HashSet;

use open_event_core::Event;
use open_event_core::model::{
    AppChatCreate, AppChatMessageCreate, GroupChatDelete, GroupChatMemberRobotCreate,
    GroupChatMemberRobotDelete, GroupChatMemberUserCreate, GroupChatMemberUserDelete, Identity,
    IdentityType, TYPED_EVENT_CODES, TypedEvent,
};
use serde_json::{Value, json};

const EVENTS: &str = include_str!("data/events.json");

/// The decrypted `data` and event code of the valid vector called `name`.
fn vector(name: &str) -> (String, String) {
    let events: Value = serde_json::from_str(EVENTS).expect("events.json is JSON");
    let valid = events["valid"].as_array().expect("a list of valid vectors");
    let vector = valid
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no valid vector {name}"));
    let expected = &vector["expected"];
    (
        expected["event_code"].as_str().unwrap().to_owned(),
        expected["data"].as_str().unwrap().to_owned(),
    )
}

/// Parses a vector's payload the way a handler would: through an `Event` with its code.
fn parse_vector<T: TypedEvent>(name: &str) -> T {
    let (code, data) = vector(name);
    assert_eq!(code, T::EVENT_CODE, "vector {name} is a {code} event");
    let (topic, operation) = code.rsplit_once('.').unwrap();
    let event = Event::new(topic, operation, 1704067200, "b38c06ba3330d2a3", data);
    event
        .parse()
        .unwrap_or_else(|err| panic!("vector {name}: {err}"))
}

fn identity(kind: IdentityType, id: &str) -> Identity {
    Identity::new(kind, id)
}

#[test]
fn chat_message_create_vector() {
    let payload: AppChatMessageCreate = parse_vector("chat-message-create");
    assert_eq!(payload.company_id, "c1");
    assert_eq!(payload.chat.id, "chat_1");
    assert_eq!(payload.chat.kind, "p2p");
    assert_eq!(payload.sender.kind, IdentityType::User);
    assert_eq!(payload.sender.id, "u1");
    assert_eq!(payload.sender.extended_attribute, None);
    assert_eq!(payload.send_time, 1704067200);
    assert_eq!(payload.message.id, "m1");
    assert_eq!(payload.message.kind, "text");
    assert_eq!(payload.message.content.text.as_deref(), Some("你好, world"));
    assert_eq!(payload.message.content.image, None);
    assert_eq!(payload.message.content.file, None);
    assert!(payload.message.mentions.is_empty());
    assert_eq!(payload.message.quote_msg_id, None);
}

#[test]
fn chat_create_vector() {
    let payload: AppChatCreate = parse_vector("chat-create");
    assert_eq!(payload.chat_id, "chat_1");
    assert_eq!(payload.creator, identity(IdentityType::User, "u1"));
    assert_eq!(payload.company_id, "c1");
}

#[test]
fn group_member_user_create_vector() {
    let payload: GroupChatMemberUserCreate = parse_vector("group-member-user-create");
    assert_eq!(payload.chat_id, "g1");
    assert_eq!(payload.company_id, "c1");
    assert_eq!(payload.operator, identity(IdentityType::User, "u9"));
    assert_eq!(
        payload.users,
        [
            identity(IdentityType::User, "u1"),
            identity(IdentityType::User, "u2")
        ]
    );
}

#[test]
fn vector_payloads_round_trip() {
    // Serializing writes the same shape back (no `null`s for missing optional fields).
    let (_, data) = vector("chat-message-create");
    let payload: AppChatMessageCreate = serde_json::from_str(&data).unwrap();
    let original: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(serde_json::to_value(&payload).unwrap(), original);

    let (_, data) = vector("group-member-user-create");
    let payload: GroupChatMemberUserCreate = serde_json::from_str(&data).unwrap();
    let original: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(serde_json::to_value(&payload).unwrap(), original);
}

#[test]
fn message_with_every_optional_field() {
    let payload: AppChatMessageCreate = serde_json::from_value(json!({
        "company_id": "c1",
        "chat": {"id": "g1", "type": "group"},
        "sender": {"type": "user", "id": "u1", "extended_attribute": {"dept": ["d1"], "n": 1}},
        "send_time": 1704067200,
        "message": {
            "id": "m2",
            "type": "rich_text",
            "content": {
                "text": "@bot see file",
                "image": {"file_id": "img1"},
                "file": {"file_id": "f1", "name": "报告.pdf"}
            },
            "mentions": [
                {"type": "user", "id": "bot1", "offset": 0, "length": 4},
                {"type": "all", "offset": 5, "length": 3}
            ],
            "quote_msg_id": "m1"
        }
    }))
    .unwrap();

    let message = &payload.message;
    assert_eq!(message.kind, "rich_text");
    assert_eq!(message.content.image.as_ref().unwrap().file_id, "img1");
    let file = message.content.file.as_ref().unwrap();
    assert_eq!(
        (file.file_id.as_str(), file.name.as_str()),
        ("f1", "报告.pdf")
    );
    assert_eq!(message.mentions.len(), 2);
    assert_eq!(message.mentions[0].kind, "user");
    assert_eq!(message.mentions[0].id.as_deref(), Some("bot1"));
    assert_eq!(
        (message.mentions[0].offset, message.mentions[0].length),
        (0, 4)
    );
    assert_eq!(message.mentions[1].id, None);
    assert_eq!(message.quote_msg_id.as_deref(), Some("m1"));
    assert_eq!(
        payload.sender.extended_attribute,
        Some(json!({"dept": ["d1"], "n": 1}))
    );
}

#[test]
fn unknown_fields_are_ignored_everywhere() {
    let payload: AppChatMessageCreate = serde_json::from_value(json!({
        "company_id": "c1",
        "new_top_level": {"anything": [1, 2]},
        "chat": {"id": "chat_1", "type": "p2p", "name": "x"},
        "sender": {"type": "user", "id": "u1", "avatar": "a.png"},
        "send_time": 1704067200,
        "message": {
            "id": "m1",
            "type": "text",
            "content": {"text": "hi", "rich": {"blocks": []}},
            "mentions": [{"type": "user", "id": "u2", "offset": 0, "length": 2, "name": "U2"}],
            "edited": true
        }
    }))
    .unwrap();
    assert_eq!(payload.message.content.text.as_deref(), Some("hi"));
    assert_eq!(payload.message.mentions.len(), 1);

    let payload: GroupChatMemberUserDelete = serde_json::from_value(json!({
        "chat_id": "g1",
        "company_id": "c1",
        "operator": {"type": "user", "id": "u9", "name": "Nine"},
        "users": [{"type": "user", "id": "u1", "extra": null}],
        "reason": "kicked"
    }))
    .unwrap();
    assert_eq!(payload.users, [identity(IdentityType::User, "u1")]);
}

#[test]
fn missing_optional_fields_parse() {
    // No extended_attribute, an empty content, no mentions, no quote_msg_id.
    let payload: AppChatMessageCreate = serde_json::from_value(json!({
        "company_id": "c1",
        "chat": {"id": "chat_1", "type": "p2p"},
        "sender": {"type": "app", "id": "a1"},
        "send_time": 1704067200,
        "message": {"id": "m1", "type": "image", "content": {}}
    }))
    .unwrap();
    assert_eq!(payload.sender.kind, IdentityType::App);
    assert_eq!(payload.message.content.text, None);
    assert!(payload.message.mentions.is_empty());

    // Explicit nulls are read like missing fields.
    let payload: AppChatMessageCreate = serde_json::from_value(json!({
        "company_id": "c1",
        "chat": {"id": "chat_1", "type": "p2p"},
        "sender": {"type": "user", "id": "u1", "extended_attribute": null},
        "send_time": 1704067200,
        "message": {
            "id": "m1",
            "type": "text",
            "content": {"text": null, "image": null, "file": null},
            "mentions": null,
            "quote_msg_id": null
        }
    }))
    .unwrap();
    assert_eq!(payload.sender.extended_attribute, None);
    assert!(payload.message.mentions.is_empty());

    // A missing or null user list is an empty one.
    let payload: GroupChatMemberUserCreate = serde_json::from_value(json!({
        "chat_id": "g1", "company_id": "c1", "operator": {"type": "user", "id": "u9"}
    }))
    .unwrap();
    assert!(payload.users.is_empty());
    let payload: GroupChatMemberUserCreate = serde_json::from_value(json!({
        "chat_id": "g1", "company_id": "c1", "operator": {"type": "user", "id": "u9"},
        "users": null
    }))
    .unwrap();
    assert!(payload.users.is_empty());
}

#[test]
fn missing_required_fields_fail() {
    let no_chat = json!({
        "company_id": "c1",
        "sender": {"type": "user", "id": "u1"},
        "send_time": 1704067200,
        "message": {"id": "m1", "type": "text", "content": {"text": "hi"}}
    });
    let err = serde_json::from_value::<AppChatMessageCreate>(no_chat).unwrap_err();
    assert!(err.to_string().contains("chat"), "{err}");

    let no_creator = json!({"chat_id": "chat_1", "company_id": "c1"});
    assert!(serde_json::from_value::<AppChatCreate>(no_creator).is_err());
}

#[test]
fn unknown_identity_type_parses_and_round_trips() {
    let payload: GroupChatDelete = serde_json::from_value(json!({
        "chat_id": "g1",
        "company_id": "c1",
        "operator": {"type": "department_admin", "id": "d1"}
    }))
    .unwrap();
    assert_eq!(
        payload.operator.kind,
        IdentityType::Other("department_admin".to_owned())
    );
    assert_eq!(payload.operator.kind.as_str(), "department_admin");
    assert_eq!(
        serde_json::to_value(&payload.operator).unwrap(),
        json!({"type": "department_admin", "id": "d1"})
    );

    // Also through a borrowed-string deserializer (serde_json::from_str borrows when it can).
    let kind: IdentityType = serde_json::from_str(r#""bot""#).unwrap();
    assert_eq!(kind, IdentityType::Other("bot".to_owned()));
}

#[test]
fn known_identity_types() {
    for (wire, kind) in [
        ("user", IdentityType::User),
        ("app", IdentityType::App),
        ("service_principal", IdentityType::ServicePrincipal),
    ] {
        let parsed: IdentityType = serde_json::from_value(json!(wire)).unwrap();
        assert_eq!(parsed, kind);
        assert_eq!(kind.as_str(), wire);
        assert_eq!(kind.to_string(), wire);
        assert_eq!(IdentityType::from(wire), kind);
        assert_eq!(serde_json::to_value(&kind).unwrap(), json!(wire));
    }
    assert!(serde_json::from_value::<IdentityType>(json!(1)).is_err());
}

#[test]
fn robot_membership_payloads() {
    let data = json!({
        "chat_id": "g1", "company_id": "c1", "operator": {"type": "service_principal", "id": "s1"}
    });
    let joined: GroupChatMemberRobotCreate = serde_json::from_value(data.clone()).unwrap();
    let left: GroupChatMemberRobotDelete = serde_json::from_value(data).unwrap();
    assert_eq!(joined.chat_id, left.chat_id);
    assert_eq!(
        joined.operator,
        identity(IdentityType::ServicePrincipal, "s1")
    );
    assert_eq!(left.company_id, "c1");
}

#[test]
fn typed_event_codes() {
    assert_eq!(
        TYPED_EVENT_CODES,
        [
            "kso.app_chat.message.create",
            "kso.app_chat.create",
            "kso.xz.app.group_chat.delete",
            "kso.xz.app.group_chat.member.user.create",
            "kso.xz.app.group_chat.member.user.delete",
            "kso.xz.app.group_chat.member.robot.create",
            "kso.xz.app.group_chat.member.robot.delete",
        ]
    );
    assert_eq!(
        [
            AppChatMessageCreate::EVENT_CODE,
            AppChatCreate::EVENT_CODE,
            GroupChatDelete::EVENT_CODE,
            GroupChatMemberUserCreate::EVENT_CODE,
            GroupChatMemberUserDelete::EVENT_CODE,
            GroupChatMemberRobotCreate::EVENT_CODE,
            GroupChatMemberRobotDelete::EVENT_CODE,
        ],
        TYPED_EVENT_CODES
    );
    let unique: HashSet<&str> = TYPED_EVENT_CODES.into_iter().collect();
    assert_eq!(unique.len(), TYPED_EVENT_CODES.len());
}
