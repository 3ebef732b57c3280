//! The client's settings: [`ApiConfig`] and [`RetryPolicy`].

use std::time::Duration;

use open_event_core::{AppSecret, Credentials};

use crate::ApiError;

/// The platform's API base URL.
pub const DEFAULT_API_BASE: &str = "https://openapi.wps.cn";

/// How failed requests are retried: HTTP 429 and 5xx answers, timeouts and connection errors.
///
/// The delay before retry `n` (1-based) is `min(base_delay * 2^(n-1), max_delay)`, varied by
/// ±20 % with a seeded generator; a `Retry-After` header replaces it (up to
/// `max_retry_after`). Other answers (400, 403, 404, a second 401) are never retried.
///
/// A 5xx or a timeout may come after the platform acted on the request, so a retried message
/// can arrive twice; set `max_attempts` to 1 where a duplicate is worse than a lost message.
///
/// ```
/// use std::time::Duration;
/// use open_event_api::RetryPolicy;
///
/// let policy = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
/// assert_eq!(policy.nominal_delay(1), Duration::from_millis(250));
/// assert_eq!(policy.nominal_delay(3), Duration::from_secs(1));
/// assert_eq!(policy.nominal_delay(30), Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many retryable failures (of the call and of its token requests together) end the
    /// call: with the default 4, a request failing each time is sent 4 times. 1 turns retries
    /// off. The token refresh after a 401 is not a retry and does not count.
    pub max_attempts: u32,
    /// The first retry's nominal delay. Default 250 ms.
    pub base_delay: Duration,
    /// The longest nominal delay. Default 10 s.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one fails the call with
    /// [`ApiError::RetryAfterTooLong`]. Default 60 s.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry `retry` (1-based), before jitter.
    pub fn nominal_delay(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }
}

/// Everything the API client needs: the app's credentials, the API base URL, timeouts, the token
/// refresh margin and the retry policy. Build it with [`ApiConfig::builder`].
///
/// ```
/// use std::time::Duration;
/// use open_event_api::ApiConfig;
///
/// let config = ApiConfig::builder("AK123456", "sk098765")
///     .api_base("http://127.0.0.1:8080")
///     .request_timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(config.api_base(), "http://127.0.0.1:8080");
/// assert!(!format!("{config:?}").contains("sk098765"));
/// # Ok::<(), open_event_api::ApiError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ApiConfig {
    credentials: Credentials,
    api_base: String,
    request_timeout: Duration,
    connect_timeout: Duration,
    refresh_margin: Duration,
    retry: RetryPolicy,
}

impl ApiConfig {
    /// Starts a configuration for the app `app_id` with secret `app_secret`; every other
    /// setting has its default.
    pub fn builder(
        app_id: impl Into<String>,
        app_secret: impl Into<AppSecret>,
    ) -> ApiConfigBuilder {
        ApiConfigBuilder {
            credentials: Credentials::new(app_id, app_secret),
            api_base: DEFAULT_API_BASE.to_owned(),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            refresh_margin: Duration::from_secs(300),
            retry: RetryPolicy::default(),
        }
    }

    /// The app's credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The API base URL (scheme and host, maybe a path prefix), without a trailing `/`.
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    /// How long one request may take, from connecting to the last byte of the answer.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// How long connecting (TCP and TLS) may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long before its expiry an access token is replaced (at most half its lifetime).
    pub fn refresh_margin(&self) -> Duration {
        self.refresh_margin
    }

    /// The retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }
}

/// Builder of [`ApiConfig`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ApiConfigBuilder {
    credentials: Credentials,
    api_base: String,
    request_timeout: Duration,
    connect_timeout: Duration,
    refresh_margin: Duration,
    retry: RetryPolicy,
}

impl ApiConfigBuilder {
    /// The API base URL: `http://` or `https://`, a host, maybe a port and a path prefix, no
    /// query. Default [`DEFAULT_API_BASE`].
    pub fn api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = url.into();
        self
    }

    /// How long one request may take in all. Default 10 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long connecting may take. Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long before expiry a token is replaced. Default 5 minutes (tokens live 2 hours); for
    /// tokens that live shorter than twice the margin, half their lifetime.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The retry policy. Default [`RetryPolicy::default`].
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// [`ApiError::Config`] naming the setting: an empty app id or secret, a base URL that is
    /// not `http(s)://host[:port][/prefix]`, a zero timeout, a retry policy without attempts.
    pub fn build(self) -> Result<ApiConfig, ApiError> {
        let config = |setting, problem: &str| ApiError::Config {
            setting,
            problem: problem.to_owned(),
        };
        if self.credentials.app_id().is_empty() {
            return Err(config(
                "app_id",
                "it is empty: pass the app id of the developer console",
            ));
        }
        if self.credentials.app_secret().is_empty() {
            return Err(config(
                "app_secret",
                "it is empty: pass the app secret of the developer console",
            ));
        }
        let api_base = validate_base(&self.api_base)?;
        if self.request_timeout.is_zero() {
            return Err(config("request_timeout", "it is zero: use a few seconds"));
        }
        if self.connect_timeout.is_zero() {
            return Err(config("connect_timeout", "it is zero: use a few seconds"));
        }
        if self.retry.max_attempts == 0 {
            return Err(config(
                "retry.max_attempts",
                "it is zero: use 1 for no retries, or more",
            ));
        }
        Ok(ApiConfig {
            credentials: self.credentials,
            api_base,
            request_timeout: self.request_timeout,
            connect_timeout: self.connect_timeout,
            refresh_margin: self.refresh_margin,
            retry: self.retry,
        })
    }
}

/// Checks a base URL and returns it without a trailing `/`.
fn validate_base(url: &str) -> Result<String, ApiError> {
    let bad = |problem: String| ApiError::Config {
        setting: "api_base",
        problem,
    };
    let uri: http::Uri = url.parse().map_err(|e| {
        bad(format!(
            "{url:?} is not a URL ({e}): use e.g. {DEFAULT_API_BASE}"
        ))
    })?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(bad(format!(
                "{url:?} does not start with http:// or https://: use e.g. {DEFAULT_API_BASE}"
            )));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad(format!(
            "{url:?} has no host: use e.g. {DEFAULT_API_BASE}"
        )));
    }
    if uri.query().is_some() {
        return Err(bad(format!(
            "{url:?} has a query: give only the scheme, host and path prefix"
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_name_themselves() {
        let cases = [
            (ApiConfig::builder("", "s"), "app_id"),
            (ApiConfig::builder("a", ""), "app_secret"),
            (
                ApiConfig::builder("a", "s").api_base("openapi.wps.cn"),
                "api_base",
            ),
            (ApiConfig::builder("a", "s").api_base("ftp://h"), "api_base"),
            (
                ApiConfig::builder("a", "s").api_base("http://h/?x=1"),
                "api_base",
            ),
            (
                ApiConfig::builder("a", "s").api_base("not a url"),
                "api_base",
            ),
            (
                ApiConfig::builder("a", "s").request_timeout(Duration::ZERO),
                "request_timeout",
            ),
            (
                ApiConfig::builder("a", "s").retry(RetryPolicy {
                    max_attempts: 0,
                    ..RetryPolicy::default()
                }),
                "retry.max_attempts",
            ),
        ];
        for (builder, setting) in cases {
            match builder.build() {
                Err(ApiError::Config { setting: got, .. }) => assert_eq!(got, setting),
                other => panic!("{setting}: {other:?}"),
            }
        }
    }

    #[test]
    fn base_keeps_prefix_and_drops_trailing_slash() {
        let config = ApiConfig::builder("a", "s")
            .api_base("https://h:8443/prefix/")
            .build()
            .unwrap();
        assert_eq!(config.api_base(), "https://h:8443/prefix");
    }
}
