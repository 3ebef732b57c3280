//! Trust settings and the rustls client configuration built from them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::TransportError;

/// Which root certificates to trust.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Roots {
    /// The Mozilla root program, compiled in (`webpki-roots`): the same everywhere, needs no
    /// system files.
    #[default]
    WebPki,
    /// The operating system's trust store (`rustls-native-certs`): honours company CAs
    /// installed on the machine.
    Native,
}

/// How the client verifies the server's certificate.
///
/// ```
/// use open_event_transport::{Roots, TlsOptions};
///
/// let options = TlsOptions { roots: Roots::WebPki, ..TlsOptions::default() };
/// let config = options.client_config()?; // build once, share for every connect
/// assert!(config.alpn_protocols.is_empty());
/// # Ok::<(), open_event_transport::TransportError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// The root set. Default: [`Roots::WebPki`].
    pub roots: Roots,
    /// PEM files with more CA certificates to trust in addition to `roots` (e.g. a private
    /// deployment's CA or a test CA).
    pub extra_ca_files: Vec<PathBuf>,
    /// Accept any server certificate without verification. **Dangerous**: anyone on the path
    /// can then read and forge events. Only for local tests; a warning is logged every time a
    /// config is built with it.
    pub danger_accept_invalid_certs: bool,
}

impl TlsOptions {
    /// Builds the rustls client configuration with the `ring` provider (never a process-wide
    /// default provider), TLS 1.2 and 1.3, and no client certificate. Loading native roots and
    /// reading CA files happens here: build once and reuse the result.
    ///
    /// # Errors
    /// [`TransportError::CaFile`] / [`TransportError::CaFileContent`] for unreadable or
    /// unusable CA files, [`TransportError::NativeRoots`] when the system store has no usable
    /// certificate, [`TransportError::Tls`] when rustls rejects the configuration.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TransportError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(TransportError::Tls)?;
        let mut roots = RootCertStore::empty();
        match self.roots {
            Roots::WebPki => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Roots::Native => add_native_roots(&mut roots)?,
        }
        for path in &self.extra_ca_files {
            add_ca_file(&mut roots, path)?;
        }
        let config = if self.danger_accept_invalid_certs {
            tracing::warn!(
                target: "open_event",
                "TLS certificate verification is OFF (danger_accept_invalid_certs): anyone on \
                 the network path can read and forge events; use it for local tests only"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                    algorithms: provider.signature_verification_algorithms,
                }))
                .with_no_client_auth()
        } else {
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        Ok(Arc::new(config))
    }
}

fn add_native_roots(roots: &mut RootCertStore) -> Result<(), TransportError> {
    let loaded = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
    if added == 0 {
        let detail = if loaded.errors.is_empty() {
            "the store is empty".to_owned()
        } else {
            loaded
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Err(TransportError::NativeRoots { detail });
    }
    for err in &loaded.errors {
        tracing::debug!(target: "open_event", "skipped part of the system trust store: {err}");
    }
    Ok(())
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), TransportError> {
    let content = |problem: String| TransportError::CaFileContent {
        path: path.to_owned(),
        problem,
    };
    let pem = std::fs::read(path).map_err(|source| TransportError::CaFile {
        path: path.to_owned(),
        source,
    })?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| content(format!("is not valid PEM ({e})")))?;
        roots
            .add(cert)
            .map_err(|e| content(format!("holds a certificate rustls cannot trust ({e})")))?;
        count += 1;
    }
    if count == 0 {
        return Err(content("holds no certificate".to_owned()));
    }
    Ok(())
}

/// The verifier behind `danger_accept_invalid_certs`: any certificate chain is accepted, but
/// the handshake signatures are still checked with the provider's algorithms (so the peer must
/// hold the key of the certificate it shows).
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::atomic::{AtomicU32, Ordering};

    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::{ClientConnection, ServerConfig, ServerConnection};
    use rustls_pki_types::PrivateKeyDer;

    use super::*;
    use crate::describe_error;

    struct TestPki {
        ca_pem: String,
        leaf: CertificateDer<'static>,
        leaf_key: PrivateKeyDer<'static>,
    }

    /// A CA and a leaf for `localhost` and 127.0.0.1 signed by it.
    fn pki() -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        TestPki {
            ca_pem: ca.pem(),
            leaf: leaf.der().clone(),
            leaf_key: PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        }
    }

    /// A file in the temp directory, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(content: &[u8]) -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "open-event-transport-{}-{}.pem",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, content).unwrap();
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Runs a TLS handshake in memory; returns the client's error, if any.
    fn handshake(
        client: Arc<ClientConfig>,
        pki: &TestPki,
        name: &str,
    ) -> Result<(), rustls::Error> {
        let server_config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![pki.leaf.clone()], pki.leaf_key.clone_key())
                .unwrap();
        let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let mut client = ClientConnection::new(client, name).unwrap();
        for _ in 0..20 {
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(());
            }
            let mut buf = Vec::new();
            client.write_tls(&mut buf).unwrap();
            server.read_tls(&mut io::Cursor::new(buf)).unwrap();
            // The server's own failure shows up as an alert on the client side.
            let _ = server.process_new_packets();
            let mut buf = Vec::new();
            server.write_tls(&mut buf).unwrap();
            client.read_tls(&mut io::Cursor::new(buf)).unwrap();
            client.process_new_packets()?;
        }
        panic!("handshake did not finish");
    }

    #[test]
    fn extra_ca_file_is_trusted() {
        let pki = pki();
        let file = TempFile::new(pki.ca_pem.as_bytes());
        let options = TlsOptions {
            extra_ca_files: vec![file.0.clone()],
            ..TlsOptions::default()
        };
        let config = options.client_config().unwrap();
        handshake(Arc::clone(&config), &pki, "localhost").unwrap();
        handshake(config, &pki, "127.0.0.1").unwrap();
    }

    #[test]
    fn unknown_ca_fails_with_a_clear_message() {
        let pki = pki();
        let config = TlsOptions::default().client_config().unwrap();
        let err = handshake(config, &pki, "localhost").unwrap_err();
        let io = io::Error::new(io::ErrorKind::InvalidData, err);
        let text = describe_error(&io);
        assert!(text.starts_with("TLS certificate not trusted"), "{text}");
        assert!(text.contains("ca_file"), "{text}");
    }

    #[test]
    fn wrong_name_fails_with_a_clear_message() {
        let pki = pki();
        let file = TempFile::new(pki.ca_pem.as_bytes());
        let options = TlsOptions {
            extra_ca_files: vec![file.0.clone()],
            ..TlsOptions::default()
        };
        let err = handshake(options.client_config().unwrap(), &pki, "example.com").unwrap_err();
        let text = crate::tls_error_text(&err);
        assert!(text.contains("does not match the host"), "{text}");
    }

    #[test]
    fn danger_mode_accepts_an_unknown_ca() {
        let pki = pki();
        let options = TlsOptions {
            danger_accept_invalid_certs: true,
            ..TlsOptions::default()
        };
        handshake(options.client_config().unwrap(), &pki, "example.com").unwrap();
    }

    #[test]
    fn bad_ca_files_are_typed_errors() {
        let missing = std::env::temp_dir().join("open-event-transport-no-such-file.pem");
        let options = TlsOptions {
            extra_ca_files: vec![missing.clone()],
            ..TlsOptions::default()
        };
        let err = options.client_config().unwrap_err();
        assert!(matches!(err, TransportError::CaFile { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&missing.display().to_string()) && text.contains("ca_file"),
            "{text}"
        );

        let junk = TempFile::new(b"not a certificate\n");
        let options = TlsOptions {
            extra_ca_files: vec![junk.0.clone()],
            ..TlsOptions::default()
        };
        let err = options.client_config().unwrap_err();
        assert!(err.to_string().contains("holds no certificate"), "{err}");

        let broken =
            TempFile::new(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        let options = TlsOptions {
            extra_ca_files: vec![broken.0.clone()],
            ..TlsOptions::default()
        };
        let err = options.client_config().unwrap_err();
        assert!(matches!(err, TransportError::CaFileContent { .. }), "{err}");
    }
}
