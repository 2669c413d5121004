//! TLS configuration from PEM files (rustls with the ring provider).

use super::RemoteError;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn file_err(path: &Path, why: impl std::fmt::Display) -> RemoteError {
    RemoteError::File {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// Reads every certificate of a PEM file (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, RemoteError> {
    let f = std::fs::File::open(path).map_err(|e| file_err(path, e))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut std::io::BufReader::new(f))
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(path, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_err(path, "no CERTIFICATE block in this PEM file"));
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, RemoteError> {
    let f = std::fs::File::open(path).map_err(|e| file_err(path, e))?;
    rustls_pemfile::private_key(&mut std::io::BufReader::new(f))
        .map_err(|e| file_err(path, format!("bad PEM: {e}")))?
        .ok_or_else(|| file_err(path, "no PRIVATE KEY block in this PEM file"))
}

fn roots(path: &Path) -> Result<RootCertStore, RemoteError> {
    let mut store = RootCertStore::empty();
    for c in load_certs(path)? {
        store
            .add(c)
            .map_err(|e| file_err(path, format!("unusable CA certificate: {e}")))?;
    }
    Ok(store)
}

/// A server's TLS configuration: its certificate chain and key; with
/// `client_ca`, client certificates signed by that CA are verified (and
/// required unless `allow_no_cert`, for token users).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
    allow_no_cert: bool,
) -> Result<Arc<ServerConfig>, RemoteError> {
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => {
            let b = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca)?),
                provider(),
            );
            let b = if allow_no_cert {
                b.allow_unauthenticated()
            } else {
                b
            };
            let v = b
                .build()
                .map_err(|e| file_err(ca, format!("client CA: {e}")))?;
            builder.with_client_cert_verifier(v)
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(
        builder.with_single_cert(load_certs(cert)?, load_key(key)?)?,
    ))
}

/// A client's TLS configuration: the CA that signed the server's certificate,
/// and optionally a client certificate and key.
pub fn client_config(
    ca: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Arc<ClientConfig>, RemoteError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca)?);
    Ok(Arc::new(match (cert, key) {
        (Some(c), Some(k)) => builder.with_client_auth_cert(load_certs(c)?, load_key(k)?)?,
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(RemoteError::Config(
                "--cert and --key go together (a client certificate needs its key)".into(),
            ))
        }
    }))
}

/// The name to verify a server's certificate against: an IP address or a DNS name.
pub fn server_name(host: &str) -> Result<ServerName<'static>, RemoteError> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(h.to_string())
        .map_err(|_| RemoteError::Config(format!("{host}: not a host name or address")))
}

/// SHA-256 of a certificate (DER), lowercase hex: how the users file names
/// certificate users (`cert-sha256:HEX`).
pub fn fingerprint(cert: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, cert);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
