//! Hints in SDK messages name the SDK's settings (`ca_file`, `native_roots(true)`); printed by
//! the CLI they must name its flags instead. One table maps them, applied to every failure
//! and printed notice.

use std::borrow::Cow;

/// SDK wording → CLI wording, longest first so a name is never rewritten inside a longer one.
const FLAGS: &[(&str, &str)] = &[
    (
        "use native roots (native_roots(true))",
        "use the system's trust store (--native-roots)",
    ),
    (
        "use the bundled WebPKI roots (native_roots(false))",
        "leave out --native-roots to use the bundled WebPKI roots",
    ),
    ("native_roots(true)", "--native-roots"),
    ("native_roots(false)", "no --native-roots"),
    ("danger_accept_invalid_certs", "--insecure"),
    ("the path given to ca_file", "the path given to --ca-file"),
    ("with ca_file", "with --ca-file"),
    ("ca_file", "--ca-file"),
];

/// `text` with every SDK setting name replaced by the CLI flag that sets it.
pub(crate) fn as_flags(text: &str) -> Cow<'_, str> {
    if !FLAGS.iter().any(|(sdk, _)| text.contains(sdk)) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_owned();
    for (sdk, cli) in FLAGS {
        if out.contains(sdk) {
            out = out.replace(sdk, cli);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use open_event_transport::rustls::{CertificateError, Error};
    use open_event_transport::{TransportError, tls_error_text};

    use super::*;

    #[test]
    fn an_untrusted_certificate_names_the_cli_flags() {
        let sdk = tls_error_text(&Error::InvalidCertificate(CertificateError::UnknownIssuer));
        assert!(
            sdk.contains("native_roots(true)"),
            "the SDK wording changed: {sdk}"
        );
        let cli = as_flags(&sdk);
        assert!(
            cli.contains("--ca-file") && cli.contains("--native-roots"),
            "{cli}"
        );
        assert!(
            !cli.contains("ca_file") && !cli.contains("native_roots("),
            "{cli}"
        );
    }

    #[test]
    fn ca_file_and_trust_store_errors_name_the_cli_flags() {
        let missing = TransportError::CaFile {
            path: "/nonexistent/ca.pem".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let cli = as_flags(&missing.to_string()).into_owned();
        assert!(cli.contains("the path given to --ca-file"), "{cli}");
        let native = TransportError::NativeRoots {
            detail: "none".into(),
        };
        let cli = as_flags(&native.to_string()).into_owned();
        assert!(cli.contains("leave out --native-roots"), "{cli}");
        assert!(!cli.contains("native_roots("), "{cli}");
    }

    #[test]
    fn other_text_is_left_alone() {
        let text = "the server sent nothing for 90s";
        assert!(matches!(as_flags(text), Cow::Borrowed(t) if t == text));
    }
}
