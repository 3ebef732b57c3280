//! `openevent decode`: verify and decrypt one event frame (or webhook body).

use std::io::{IsTerminal, Read};

use open_event_core::codec::FrameError;
use open_event_core::crypto::EventCipher;
use open_event_core::{AppSecret, Credentials};
use serde_json::Value;

use crate::args::DecodeArgs;
use crate::credentials::{self, Prompt};
use crate::failure::{Exit, Failure};
use crate::record::{EventRecord, data_value, describe};
use crate::style::{Palette, Stream, rfc3339};

/// The made-up app of `decode --sample`.
const SAMPLE_APP_ID: &str = "AK20240101SAMPLE";
const SAMPLE_APP_SECRET: &str = "sk_sample_not_a_real_secret";

/// What to check when the input is not a frame.
const CHECK_INPUT: &str = "check the input: it must be one event frame exactly as received (the \
    WebSocket text frame, or the body of the webhook POST); `openevent decode --sample` prints \
    one to compare with";

pub(crate) fn run(args: &DecodeArgs, no_color: bool) -> Result<(), Failure> {
    if args.sample {
        return sample();
    }
    let text = match &args.file {
        Some(path) => std::fs::read_to_string(path).map_err(|err| {
            Failure::other(format!(
                "cannot read {} ({err}); check the path given with --file",
                path.display()
            ))
        })?,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!(
                    "openevent: reading one event frame from stdin: paste it, then press Ctrl+D \
                     (or pipe it in, or pass --file)"
                );
            }
            let mut text = String::new();
            stdin.lock().read_to_string(&mut text).map_err(|err| {
                Failure::other(format!(
                    "cannot read the frame from stdin ({err}); pass it with --file instead"
                ))
            })?;
            text
        }
    };
    let text = text.trim();
    if text.is_empty() {
        let source = match &args.file {
            Some(path) => format!("{} is empty", path.display()),
            None => "stdin was empty; pipe one event frame (JSON) into `openevent decode`, or \
                     pass --file"
                .to_owned(),
        };
        return Err(Failure::other(format!(
            "no frame given: {source}; {CHECK_INPUT}"
        )));
    }
    // The webhook's URL check is not an event; say what it is instead of "missing topic".
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text)
        && map.len() == 1
        && map.contains_key("challenge")
    {
        println!(
            "a webhook URL verification challenge, not an event: answer the POST with the same \
             JSON body within 1 s"
        );
        return Ok(());
    }
    let credentials = credentials::resolve(&args.credentials, Prompt::Never)?;
    let cipher = EventCipher::new(&credentials);
    let event = cipher
        .open_text(text)
        .map_err(|err| Failure::new(Exit::Credentials, invalid_frame(&err)))?;
    if args.json {
        print!("{}", EventRecord::new(&event).to_line());
        return Ok(());
    }
    let p = Palette::detect(Stream::Stdout, no_color);
    let label = |name: &str| p.dim(&format!("{name:<10}"));
    println!("{}{}", label("event"), p.bold(&p.cyan(event.event_code())));
    println!("{}{}", label("meaning"), describe(&event));
    println!("{}{}", label("topic"), event.topic);
    println!("{}{}", label("operation"), event.operation);
    println!("{}{} ({})", label("time"), rfc3339(event.time), event.time);
    println!("{}{}", label("nonce"), event.nonce);
    println!("{}", label("data"));
    println!("{}", p.json(&data_value(&event.data), "  "));
    Ok(())
}

/// The reason a frame is invalid, with the next step for a frame pasted by hand (the core's
/// messages are written for a live connection and point at the endpoint).
fn invalid_frame(err: &FrameError) -> String {
    match err {
        FrameError::NotJson(_) | FrameError::NotAnObject | FrameError::Binary => {
            let text = err.to_string();
            let reason = text.split("; check").next().unwrap_or(&text);
            format!("invalid event frame: {reason}; {CHECK_INPUT}")
        }
        FrameError::MissingField(_)
        | FrameError::InvalidField { .. }
        | FrameError::DuplicateField(_)
        | FrameError::UnknownType(_) => format!("invalid event frame: {err}; {CHECK_INPUT}"),
        _ => format!("invalid event frame: {err}"),
    }
}

/// `decode --sample`: a valid frame of a made-up app on stdout, its credentials on stderr.
fn sample() -> Result<(), Failure> {
    let credentials = Credentials::new(SAMPLE_APP_ID, AppSecret::new(SAMPLE_APP_SECRET));
    let data = serde_json::json!({
        "company_id": "c_81920345",
        "chat": {"id": "chat_p2p_5f0c2e", "type": "p2p"},
        "sender": {"type": "user", "id": "u_alice"},
        "send_time": 1_704_067_200_000_i64,
        "message": {"id": "msg_0001", "type": "text", "content": {"text": "hello, bot"}},
    });
    let frame = EventCipher::new(&credentials)
        .seal(
            "kso.app_chat.message",
            "create",
            1_704_067_200,
            "b38c06ba3330d2a3",
            &data.to_string(),
        )
        .map_err(|err| Failure::other(format!("cannot seal the sample frame: {err}")))?;
    println!("{}", frame.to_json());
    eprintln!(
        "openevent: a sample frame of a made-up app; decode it with\n  \
         openevent decode --sample | openevent decode --app-id {SAMPLE_APP_ID} --app-secret \
         {SAMPLE_APP_SECRET}"
    );
    Ok(())
}
