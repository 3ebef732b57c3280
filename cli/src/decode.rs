//! `openevent decode`: verify and decrypt one event frame (or webhook body).

use std::io::Read;

use open_event_core::crypto::EventCipher;
use serde_json::Value;

use crate::args::DecodeArgs;
use crate::credentials::{self, Prompt};
use crate::failure::{Exit, Failure};
use crate::record::{EventRecord, data_value, describe};
use crate::style::{Palette, Stream, rfc3339};

pub(crate) fn run(args: &DecodeArgs, no_color: bool) -> Result<(), Failure> {
    let text = match &args.file {
        Some(path) => std::fs::read_to_string(path).map_err(|err| {
            Failure::other(format!(
                "cannot read {} ({err}); check the path given with --file",
                path.display()
            ))
        })?,
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|err| {
                Failure::other(format!(
                    "cannot read the frame from stdin ({err}); pass it with --file instead"
                ))
            })?;
            text
        }
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(Failure::new(
            Exit::Credentials,
            "no frame given: pipe one event frame (JSON) into `openevent decode`, or pass --file",
        ));
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
        .map_err(|err| Failure::new(Exit::Credentials, format!("invalid event frame: {err}")))?;
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
