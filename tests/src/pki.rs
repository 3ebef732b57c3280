//! The one test CA of every TLS scenario: a fresh CA (rcgen) written to a PEM file for
//! `ca_file`, and a rustls server config for `127.0.0.1` / `localhost` signed by it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A test CA (written to a PEM file for `ca_file`) and a rustls server config for
/// `127.0.0.1` / `localhost` whose certificate it signed. The file is removed on drop.
pub struct TestPki {
    /// The CA certificate's PEM file.
    pub ca_file: PathBuf,
    /// The emulator's TLS config.
    pub server: Arc<rustls::ServerConfig>,
}

impl TestPki {
    /// A fresh CA and a server certificate signed by it; `label` names the PEM file.
    pub fn new(label: &str) -> Self {
        static FILES: AtomicU64 = AtomicU64::new(0);
        let serial = FILES.fetch_add(1, Ordering::Relaxed);
        // Distinct names: a CA that only shares the name of the real issuer is a different
        // failure (a bad signature) from an unknown issuer.
        let (ca_pem, issuer) = test_ca(&format!("open-event-tests {label} CA {serial}"));
        let leaf_key = rcgen::KeyPair::generate().expect("a leaf key");
        let leaf =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("leaf params")
                .signed_by(&leaf_key, &issuer)
                .expect("the leaf certificate");
        let ca_file = std::env::temp_dir().join(format!(
            "open-event-tests-{label}-{}-{serial}.pem",
            std::process::id(),
        ));
        std::fs::write(&ca_file, ca_pem).expect("the CA file is written");
        let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der())
            .expect("the leaf key as DER");
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .expect("the server TLS config");
        Self {
            ca_file,
            server: Arc::new(server),
        }
    }

    /// The CA file's path.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

/// A self-signed CA named `name`: its PEM and the issuer to sign leaves with.
fn test_ca(name: &str) -> (String, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let key = rcgen::KeyPair::generate().expect("a CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("the CA certificate");
    (cert.pem(), rcgen::Issuer::new(params, key))
}
