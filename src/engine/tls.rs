//! TLS for SIP (RFC 3261 §26.2) and the HTTPS console: the engine's
//! certificate from `[tls]`, rustls with the ring provider.

use crate::config::TlsConfig;
use std::io;
use std::sync::Arc;
use tokio_rustls::rustls::{
    self,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn bad(key: &str, path: &std::path::Path, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{key}: {}: {why}", path.display()),
    )
}

fn certificates(key: &str, path: &std::path::Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(key, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(key, path, e))?;
    if certs.is_empty() {
        return Err(bad(key, path, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// The server side, for `tls:` listeners (`alpn` empty) and the console
/// (`http/1.1`). Errors name the `[tls]` key and file at fault.
pub fn server_config(t: &TlsConfig, alpn: &[&[u8]]) -> io::Result<Arc<rustls::ServerConfig>> {
    let certs = certificates("tls.certificate", &t.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&t.key).map_err(|e| bad("tls.key", &t.key, e))?;
    let mut c = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("tls.key", &t.key, e))?;
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(c))
}

/// The client side, for connections the engine opens itself: peers are
/// checked against `[tls] ca` (none configured: the engine opens none).
pub fn client_config(t: &TlsConfig) -> io::Result<Option<Arc<rustls::ClientConfig>>> {
    let Some(ca) = &t.ca else {
        return Ok(None);
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in certificates("tls.ca", ca)? {
        roots.add(c).map_err(|e| bad("tls.ca", ca, e))?;
    }
    let c = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(Arc::new(c)))
}
