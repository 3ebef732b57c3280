//! App credentials, with a secret that never prints.

use std::fmt;

/// An app's secret (the key of KSO-1 signatures and of event encryption).
///
/// It never appears in `Debug` output, and it has no `Display`: the only way to read it is
/// [`AppSecret::expose`], which makes every use easy to find in a review.
///
/// ```
/// use open_event_core::AppSecret;
///
/// let secret = AppSecret::new("sk098765");
/// assert_eq!(format!("{secret:?}"), "AppSecret(<redacted>)");
/// assert_eq!(secret.expose(), "sk098765");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AppSecret(String);

impl AppSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Do not log what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string (never valid).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppSecret(<redacted>)")
    }
}

impl From<String> for AppSecret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for AppSecret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// An app id and its secret, as issued by the WPS open platform.
///
/// ```
/// use open_event_core::Credentials;
///
/// let creds = Credentials::new("AK123456", "sk098765");
/// assert_eq!(creds.app_id(), "AK123456");
/// assert!(!format!("{creds:?}").contains("sk098765"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    app_id: String,
    app_secret: AppSecret,
}

impl Credentials {
    /// Pairs an app id with its secret. Nothing is validated here; [`crate::config::ConfigBuilder::build`]
    /// checks both.
    pub fn new(app_id: impl Into<String>, app_secret: impl Into<AppSecret>) -> Self {
        Self {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
        }
    }

    /// The app id (public; it is sent in every handshake).
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The app secret.
    pub fn app_secret(&self) -> &AppSecret {
        &self.app_secret
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("app_id", &self.app_id)
            .field("app_secret", &self.app_secret)
            .finish()
    }
}
