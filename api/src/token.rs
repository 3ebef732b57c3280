//! The access token: its request, its answer, and the cache that says when to fetch a new one.
//!
//! `POST {api_base}/oauth2/token` with the form
//! `grant_type=client_credentials&client_id=APPID&client_secret=APPKEY` answers
//! `{"access_token":…, "expires_in":7200, "token_type":"bearer"}`, or `{"code":…, "msg":…}`.
//! The token request is not KSO-1-signed: the form carries the credentials themselves.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::response::{self, Scrub};
use crate::{ApiConfig, ApiError};

/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/oauth2/token";

/// How long a call waits for another call's token fetch before looking again.
const WAIT_STEP: Duration = Duration::from_millis(20);

/// An access token. It never appears in `Debug` output and has no `Display`; read it with
/// [`AccessToken::expose`].
///
/// ```
/// use open_event_api::AccessToken;
///
/// let token = AccessToken::new("tok-1234");
/// assert_eq!(format!("{token:?}"), "AccessToken(<redacted>)");
/// assert_eq!(token.expose(), "tok-1234");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself. Do not log what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// The token endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Token {
    /// The token.
    pub access_token: AccessToken,
    /// How long it lives from when it was issued.
    pub expires_in: Duration,
    /// The token type as sent, `bearer`.
    pub token_type: String,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    expires_in: u64,
    #[serde(default)]
    token_type: String,
}

impl Token {
    /// Renders the token request for `config`'s app: a form POST to
    /// `{api_base}/oauth2/token`.
    ///
    /// ```
    /// use open_event_api::{ApiConfig, Token};
    ///
    /// let config = ApiConfig::builder("AK123456", "sk098765").build()?;
    /// let request = Token::request(&config);
    /// assert_eq!(request.uri(), "https://openapi.wps.cn/oauth2/token");
    /// assert_eq!(request.headers()["content-type"], "application/x-www-form-urlencoded");
    /// assert_eq!(
    ///     request.body().as_slice(),
    ///     b"grant_type=client_credentials&client_id=AK123456&client_secret=sk098765"
    /// );
    /// # Ok::<(), open_event_api::ApiError>(())
    /// ```
    pub fn request(config: &ApiConfig) -> http::Request<Vec<u8>> {
        let credentials = config.credentials();
        let mut body = String::from("grant_type=client_credentials&client_id=");
        form_encode_into(&mut body, credentials.app_id());
        body.push_str("&client_secret=");
        form_encode_into(&mut body, credentials.app_secret().expose());
        http::Request::builder()
            .method(http::Method::POST)
            .uri(format!("{}{TOKEN_PATH}", config.api_base()))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body.into_bytes())
            .expect("the base URL was validated and the headers are constant")
    }

    /// Parses the token endpoint's answer.
    ///
    /// # Errors
    /// [`ApiError::Credentials`] for a 4xx with the platform's `{code, msg}`, [`ApiError::Platform`]
    /// for other statuses with it, [`ApiError::Http`] for an error status without it,
    /// [`ApiError::InvalidResponse`] for a success without a token.
    ///
    /// ```
    /// use std::time::Duration;
    /// use open_event_api::{ApiError, Token};
    ///
    /// let ok = http::Response::new(&br#"{"access_token":"t1","expires_in":7200,"token_type":"bearer"}"#[..]);
    /// assert_eq!(Token::parse(ok)?.expires_in, Duration::from_secs(7200));
    ///
    /// let refused = http::Response::builder()
    ///     .status(400)
    ///     .body(&br#"{"code":40001,"msg":"invalid client_secret"}"#[..])
    ///     .unwrap();
    /// let err = Token::parse(refused).unwrap_err();
    /// assert!(matches!(err, ApiError::Credentials { code: 40001, .. }));
    /// # Ok::<(), ApiError>(())
    /// ```
    pub fn parse(response: http::Response<&[u8]>) -> Result<Self, ApiError> {
        Self::parse_scrubbed(response, &Scrub::default())
    }

    pub(crate) fn parse_scrubbed(
        response: http::Response<&[u8]>,
        scrub: &Scrub<'_>,
    ) -> Result<Self, ApiError> {
        let call = format!("POST {TOKEN_PATH}");
        let status = response.status().as_u16();
        let body = *response.body();
        if !response.status().is_success() {
            return Err(match response::platform_error(body, scrub) {
                Some((code, msg)) if (400..500).contains(&status) && status != 429 => {
                    ApiError::Credentials { status, code, msg }
                }
                _ => response::error_status(call, status, body, scrub),
            });
        }
        if let Some((code, msg)) = response::platform_error(body, scrub) {
            return Err(ApiError::Credentials { status, code, msg });
        }
        let parsed: TokenBody =
            serde_json::from_slice(body).map_err(|e| ApiError::InvalidResponse {
                call,
                status,
                problem: format!("no access_token and expires_in: {e}"),
            })?;
        Ok(Self {
            access_token: AccessToken(parsed.access_token),
            expires_in: Duration::from_secs(parsed.expires_in),
            token_type: parsed.token_type,
        })
    }
}

/// Appends `value` form-urlencoded (`application/x-www-form-urlencoded`).
fn form_encode_into(out: &mut String, value: &str) {
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(byte >> 4)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(byte & 0x0f)]));
            }
        }
    }
}

/// What a call should do about its access token now (see [`TokenCache::decide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenDecision<'a> {
    /// Use this token; `generation` identifies it for [`TokenCache::on_unauthorized`].
    Use {
        /// The token.
        token: &'a AccessToken,
        /// Which fetch it came from.
        generation: u64,
    },
    /// Fetch a new token (and call [`TokenCache::fetch_started`]).
    Fetch,
    /// Another call is fetching one: look again at this instant.
    Wait(Instant),
}

/// What to do after an API call was answered 401 (see [`TokenCache::on_unauthorized`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterUnauthorized {
    /// Fetch a new token and send the call again.
    Refresh,
    /// The call already got a fresh token and was still refused: fail it.
    Fail,
}

/// The app's access token and when to replace it: a pure state machine, time passed in.
///
/// A token is used until `expires_in - margin` after it was requested, where the margin is
/// [`ApiConfig::refresh_margin`] but at most half the lifetime; then the next call fetches a
/// new one while calls that still hold an unexpired token go on using it. A call answered 401
/// drops the token it used and fetches a new one, once; a second 401 fails the call.
///
/// ```
/// use std::time::{Duration, Instant};
/// use open_event_api::{AccessToken, AfterUnauthorized, Token, TokenCache, TokenDecision};
///
/// let mut cache = TokenCache::new(Duration::from_secs(300));
/// let t0 = Instant::now();
/// assert_eq!(cache.decide(t0), TokenDecision::Fetch);
/// cache.fetch_started(t0, t0 + Duration::from_secs(10));
/// let token: Token = Token::parse(http::Response::new(
///     &br#"{"access_token":"t1","expires_in":7200,"token_type":"bearer"}"#[..],
/// ))?;
/// let generation = cache.store(t0, token);
///
/// // Reused until 5 minutes before expiry, then fetched again.
/// assert!(matches!(cache.decide(t0 + Duration::from_secs(6899)), TokenDecision::Use { .. }));
/// assert_eq!(cache.decide(t0 + Duration::from_secs(6900)), TokenDecision::Fetch);
///
/// // A 401: refresh once, then fail.
/// assert_eq!(cache.on_unauthorized(generation, false), AfterUnauthorized::Refresh);
/// assert_eq!(cache.decide(t0), TokenDecision::Fetch);
/// assert_eq!(cache.on_unauthorized(generation, true), AfterUnauthorized::Fail);
/// # Ok::<(), open_event_api::ApiError>(())
/// ```
pub struct TokenCache {
    margin: Duration,
    current: Option<Cached>,
    fetching_until: Option<Instant>,
    generation: u64,
}

struct Cached {
    token: AccessToken,
    refresh_at: Instant,
    expires_at: Instant,
    generation: u64,
}

impl TokenCache {
    /// An empty cache that replaces tokens `margin` before they expire.
    pub fn new(margin: Duration) -> Self {
        Self {
            margin,
            current: None,
            fetching_until: None,
            generation: 0,
        }
    }

    /// What a call should do at `now`: use the cached token, fetch one, or wait for the fetch
    /// another call started (until its deadline at most).
    pub fn decide(&self, now: Instant) -> TokenDecision<'_> {
        if let Some(cached) = &self.current {
            let fetching = self.fetching_until.is_some_and(|until| now < until);
            if now < cached.refresh_at || (fetching && now < cached.expires_at) {
                return TokenDecision::Use {
                    token: &cached.token,
                    generation: cached.generation,
                };
            }
        }
        match self.fetching_until {
            Some(until) if now < until => TokenDecision::Wait(until.min(now + WAIT_STEP)),
            _ => TokenDecision::Fetch,
        }
    }

    /// A call started fetching a token at `now`; other calls wait for it until `deadline`
    /// (then one of them fetches itself).
    pub fn fetch_started(&mut self, _now: Instant, deadline: Instant) {
        self.fetching_until = Some(deadline);
    }

    /// The fetch failed: the next call fetches again.
    pub fn fetch_failed(&mut self) {
        self.fetching_until = None;
    }

    /// Stores a token requested at `requested_at` (its lifetime counts from then, to be on the
    /// safe side) and returns its generation.
    pub fn store(&mut self, requested_at: Instant, token: Token) -> u64 {
        let lifetime = token.expires_in;
        let margin = self.margin.min(lifetime / 2);
        self.generation += 1;
        self.current = Some(Cached {
            token: token.access_token,
            refresh_at: requested_at + (lifetime - margin),
            expires_at: requested_at + lifetime,
            generation: self.generation,
        });
        self.fetching_until = None;
        self.generation
    }

    /// A call that used the token of `generation` was answered 401. The token is dropped
    /// (unless a newer one replaced it already); the answer says whether the call should
    /// fetch a new token and try again (`already_refreshed` false) or fail.
    pub fn on_unauthorized(
        &mut self,
        generation: u64,
        already_refreshed: bool,
    ) -> AfterUnauthorized {
        if self
            .current
            .as_ref()
            .is_some_and(|cached| cached.generation == generation)
        {
            self.current = None;
        }
        if already_refreshed {
            AfterUnauthorized::Fail
        } else {
            AfterUnauthorized::Refresh
        }
    }

    /// When the cached token will be replaced, if there is one.
    pub fn refresh_at(&self) -> Option<Instant> {
        self.current.as_ref().map(|cached| cached.refresh_at)
    }

    /// Drops the cached token (e.g. after the app secret was rotated).
    pub fn clear(&mut self) {
        self.current = None;
    }

    /// The cached token, if any (to scrub it from error texts).
    pub(crate) fn current_token(&self) -> Option<&AccessToken> {
        self.current.as_ref().map(|cached| &cached.token)
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("margin", &self.margin)
            .field("has_token", &self.current.is_some())
            .field("refresh_at", &self.refresh_at())
            .field("fetching_until", &self.fetching_until)
            .field("generation", &self.generation)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_in: u64) -> Token {
        Token {
            access_token: AccessToken::new("secret-token-value"),
            expires_in: Duration::from_secs(expires_in),
            token_type: "bearer".into(),
        }
    }

    #[test]
    fn short_lived_tokens_use_half_their_lifetime_as_margin() {
        let mut cache = TokenCache::new(Duration::from_secs(300));
        let t0 = Instant::now();
        cache.store(t0, token(60));
        assert!(matches!(
            cache.decide(t0 + Duration::from_secs(29)),
            TokenDecision::Use { .. }
        ));
        assert_eq!(
            cache.decide(t0 + Duration::from_secs(30)),
            TokenDecision::Fetch
        );
    }

    #[test]
    fn while_one_call_fetches_others_use_the_old_token_or_wait() {
        let mut cache = TokenCache::new(Duration::from_secs(300));
        let t0 = Instant::now();
        cache.store(t0, token(7200));
        let due = t0 + Duration::from_secs(6900);
        assert_eq!(cache.decide(due), TokenDecision::Fetch);
        cache.fetch_started(due, due + Duration::from_secs(10));
        // Still unexpired: others keep using it.
        assert!(matches!(cache.decide(due), TokenDecision::Use { .. }));
        // Expired: others wait in short steps, never past the fetch's deadline.
        let expired = t0 + Duration::from_secs(7200);
        cache.fetch_started(expired, expired + Duration::from_millis(5));
        assert_eq!(
            cache.decide(expired),
            TokenDecision::Wait(expired + Duration::from_millis(5))
        );
        // After the deadline another call fetches.
        assert_eq!(
            cache.decide(expired + Duration::from_millis(5)),
            TokenDecision::Fetch
        );
        cache.fetch_failed();
        assert_eq!(cache.decide(expired), TokenDecision::Fetch);
    }

    #[test]
    fn a_401_does_not_drop_a_newer_token() {
        let mut cache = TokenCache::new(Duration::from_secs(300));
        let t0 = Instant::now();
        let old = cache.store(t0, token(7200));
        let new = cache.store(t0, token(7200));
        assert_ne!(old, new);
        assert_eq!(
            cache.on_unauthorized(old, false),
            AfterUnauthorized::Refresh
        );
        assert!(matches!(
            cache.decide(t0),
            TokenDecision::Use { generation, .. } if generation == new
        ));
    }

    #[test]
    fn debug_hides_the_token() {
        let mut cache = TokenCache::new(Duration::from_secs(300));
        cache.store(Instant::now(), token(7200));
        let text = format!("{cache:?} {:?}", token(1));
        assert!(!text.contains("secret-token-value"), "{text}");
    }

    #[test]
    fn form_encoding() {
        let mut out = String::new();
        form_encode_into(&mut out, "a b&c=d/é");
        assert_eq!(out, "a+b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn token_answers() {
        let parse = |status: u16, body: &'static str| {
            Token::parse(
                http::Response::builder()
                    .status(status)
                    .body(body.as_bytes())
                    .unwrap(),
            )
        };
        assert!(matches!(
            parse(200, r#"{"expires_in":7200}"#),
            Err(ApiError::InvalidResponse { status: 200, .. })
        ));
        assert!(matches!(
            parse(200, r#"{"code":40001,"msg":"bad"}"#),
            Err(ApiError::Credentials { code: 40001, .. })
        ));
        assert!(matches!(
            parse(503, r#"{"code":50001,"msg":"busy"}"#),
            Err(ApiError::Platform {
                status: 503,
                code: 50001,
                ..
            })
        ));
        assert!(matches!(
            parse(502, "<html>bad gateway</html>"),
            Err(ApiError::Http { status: 502, .. })
        ));
    }
}
