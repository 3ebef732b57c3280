//! `openevent emulate --api-listen ADDR`: the platform's REST API beside the event server, for
//! testing an app that answers events (tokens, message create, reply), told as it happens.

use std::net::SocketAddr;

use open_event_core::Credentials;
use open_event_emulator::api::{
    ApiEmulator, ApiEmulatorHandle, ApiEmulatorOptions, ApiServerConfig, MessageCall,
};

use crate::failure::Failure;
use crate::narrator::{Actor, Narrator, Tone};

/// The emulated API and how much of its report was told already.
pub(crate) struct ApiSide {
    handle: ApiEmulatorHandle,
    tokens: u32,
    messages: usize,
    refusals: usize,
}

impl ApiSide {
    /// Starts the API of the app with `credentials` on `addr`, on `runtime`.
    pub(crate) fn start(
        runtime: &tokio::runtime::Runtime,
        addr: SocketAddr,
        credentials: &Credentials,
    ) -> Result<Self, Failure> {
        let handle = runtime
            .block_on(ApiEmulator::start(
                ApiEmulatorOptions::new(ApiServerConfig::new(credentials.clone())).bind(addr),
            ))
            .map_err(|err| Failure::other(format!("REST API: {err}")))?;
        Ok(Self {
            handle,
            tokens: 0,
            messages: 0,
            refusals: 0,
        })
    }

    /// The base URL for `--api-base` / `ApiConfig::api_base`.
    pub(crate) fn base_url(&self) -> String {
        self.handle.base_url()
    }

    /// Tells the tokens, messages and refusals since the last call.
    pub(crate) fn tell(&mut self, narrator: &Narrator) {
        let report = self.handle.report();
        if report.tokens_issued > self.tokens {
            self.tokens = report.tokens_issued;
            narrator.line(
                Actor::Server,
                Tone::Good,
                "token",
                &format!("access token #{} issued", report.tokens_issued),
            );
        }
        for message in report.messages.iter().skip(self.messages) {
            let what = match &message.call {
                MessageCall::Reply {
                    chat_id,
                    message_id,
                } => format!("reply to {message_id} in chat {chat_id}"),
                MessageCall::Create => format!(
                    "message to {}",
                    message
                        .receiver
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
                _ => "message".to_owned(),
            };
            let text = message
                .text
                .as_deref()
                .map(|t| format!(": {t:?}"))
                .unwrap_or_else(|| format!(" ({})", message.kind));
            narrator.line(
                Actor::Server,
                Tone::Good,
                "api",
                &format!("{what} accepted as {}{text}", message.message_id),
            );
        }
        self.messages = report.messages.len();
        for refusal in report.refusals.iter().skip(self.refusals) {
            narrator.line(
                Actor::Server,
                Tone::Bad,
                "api",
                &format!(
                    "refused {} with HTTP {} (code {}: {})",
                    refusal.path, refusal.status, refusal.code, refusal.msg
                ),
            );
        }
        self.refusals = report.refusals.len();
    }

    /// One summary line.
    pub(crate) fn summary(&self) -> String {
        let report = self.handle.report();
        format!(
            "REST API: {} access tokens issued, {} messages accepted, {} requests refused",
            report.tokens_issued,
            report.messages.len(),
            report.refusals.len()
        )
    }

    /// Stops listening.
    pub(crate) async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}
