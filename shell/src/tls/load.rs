//! `security.transport.tls` into a rustls server configuration (ring provider): the
//! certificate chain and private key (PKCS#8, PKCS#1 or SEC1) from PEM files, and for
//! `client_auth` `optional` or `require` a verifier of client certificates against the
//! CA bundle. Nothing secret is logged or echoed: errors name the key, the file and what
//! is wrong with it.

use std::sync::Arc;

use futures_rustls::TlsAcceptor;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use signal_fish_core::config::{ClientAuthMode, ConfigError, ConfigErrors, TlsConfig};

const CERTIFICATE_KEY: &str = "security.transport.tls.certificate_path";
const PRIVATE_KEY_KEY: &str = "security.transport.tls.private_key_path";
const CLIENT_CA_KEY: &str = "security.transport.tls.client_ca_cert_path";
const CLIENT_AUTH_KEY: &str = "security.transport.tls.client_auth";

/// The acceptor for `tls` (which is enabled and passed the configuration's validation).
pub(super) fn acceptor(tls: &TlsConfig) -> Result<TlsAcceptor, ConfigErrors> {
    // ring, as the project chose (no C toolchain, no aws-lc); rustls deprecates its
    // default set only for lacking post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (Some(cert_path), Some(key_path)) =
        (tls.certificate_path.as_deref(), tls.private_key_path.as_deref())
    else {
        // The configuration's own validation names the missing keys.
        return Err(ConfigErrors(
            [(CERTIFICATE_KEY, &tls.certificate_path), (PRIVATE_KEY_KEY, &tls.private_key_path)]
                .into_iter()
                .filter(|(_, path)| path.is_none())
                .map(|(key, _)| ConfigError {
                    key: key.to_owned(),
                    value: "null".to_owned(),
                    expected: "the path of a PEM file when security.transport.tls.enabled is true".to_owned(),
                })
                .collect(),
        ));
    };
    let chain = certificates(CERTIFICATE_KEY, cert_path, "a PEM certificate chain");
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        problem(PRIVATE_KEY_KEY, key_path, &format!("a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"))
    });
    let verifier = match tls.client_auth {
        ClientAuthMode::None => None,
        mode => Some(client_verifier(tls, mode, provider.clone())),
    };
    // Report every unusable file at once, as the rest of the configuration does.
    let mut errors = Vec::new();
    let chain = chain.map_err(|e| errors.push(e)).ok();
    let key = key.map_err(|e| errors.push(e)).ok();
    let verifier = match verifier {
        Some(Err(e)) => {
            errors.push(e);
            None
        }
        Some(Ok(v)) => Some(v),
        None => None,
    };
    let (Some(chain), Some(key)) = (chain, key) else { return Err(ConfigErrors(errors)) };
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let builder =
        ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions().map_err(|e| {
            ConfigErrors(vec![problem(CERTIFICATE_KEY, cert_path, &format!("usable TLS settings: {e}"))])
        })?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        ConfigErrors(vec![problem(
            PRIVATE_KEY_KEY,
            key_path,
            &format!("the private key of the certificate in {cert_path:?} ({e})"),
        )])
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Every certificate in a PEM file; at least one.
fn certificates(key: &str, path: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let iter =
        CertificateDer::pem_file_iter(path).map_err(|e| problem(key, path, &format!("{what}: {e}")))?;
    let chain: Vec<_> =
        iter.collect::<Result<_, _>>().map_err(|e| problem(key, path, &format!("{what}: {e}")))?;
    if chain.is_empty() {
        return Err(problem(key, path, &format!("{what}: the file holds no CERTIFICATE block")));
    }
    Ok(chain)
}

/// The verifier of client certificates for `optional` or `require`.
fn client_verifier(
    tls: &TlsConfig,
    mode: ClientAuthMode,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, ConfigError> {
    let ca_path = tls.client_ca_cert_path.as_deref().unwrap_or_default();
    let mut roots = RootCertStore::empty();
    for certificate in certificates(CLIENT_CA_KEY, ca_path, "a PEM bundle of client CA certificates")? {
        roots
            .add(certificate)
            .map_err(|e| problem(CLIENT_CA_KEY, ca_path, &format!("CA certificates rustls accepts: {e}")))?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = if mode == ClientAuthMode::Optional { builder.allow_unauthenticated() } else { builder };
    builder.build().map_err(|e| {
        problem(CLIENT_AUTH_KEY, &format!("{mode:?}"), &format!("a usable client verifier: {e}"))
    })
}

/// An error for `key`, whose value is the file `path`.
fn problem(key: &str, path: &str, expected: &str) -> ConfigError {
    ConfigError { key: key.to_owned(), value: format!("{path:?}"), expected: expected.to_owned() }
}
