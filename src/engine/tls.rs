//! TLS for SIP (RFC 3261 §26.2) and the HTTPS console: the engine's
//! certificate from `[tls]` (renewed files taken without a restart),
//! rustls with the ring provider.

use crate::config::TlsConfig;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
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

/// The certificate and key of `[tls]`, checked against each other.
fn certified_key(t: &TlsConfig) -> io::Result<Arc<rustls::sign::CertifiedKey>> {
    let certs = certificates("tls.certificate", &t.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&t.key).map_err(|e| bad("tls.key", &t.key, e))?;
    rustls::sign::CertifiedKey::from_der(certs, key, &provider())
        .map(Arc::new)
        .map_err(|e| bad("tls.key", &t.key, e))
}

/// How often the certificate files are looked at for a renewal.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// Serves `[tls]`'s certificate and takes a renewed one (new files, or
/// files rewritten) without a restart: a renewal must not cost a call. A
/// thread of its own looks at the files once a second (a hung disk holds
/// no handshake up); a renewal that does not load (a half-copied file, a
/// key that does not match) is logged and the old certificate kept.
#[derive(Debug)]
struct Reloading {
    key: Arc<Mutex<Arc<rustls::sign::CertifiedKey>>>,
}

fn stamp(t: &TlsConfig) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(&t.certificate)?, m(&t.key)?))
}

impl Reloading {
    fn new(cfg: &TlsConfig) -> io::Result<Reloading> {
        let key = Arc::new(Mutex::new(certified_key(cfg)?));
        let weak = Arc::downgrade(&key);
        let cfg = cfg.clone();
        std::thread::Builder::new()
            .name("tls-reload".into())
            .spawn(move || {
                let mut seen = stamp(&cfg);
                loop {
                    std::thread::sleep(RELOAD_CHECK);
                    // The listener is gone: so is this thread.
                    let Some(key) = weak.upgrade() else { return };
                    let now = stamp(&cfg);
                    if now.is_none() || now == seen {
                        continue;
                    }
                    seen = now;
                    match certified_key(&cfg) {
                        Ok(k) => {
                            *key.lock().unwrap_or_else(PoisonError::into_inner) = k;
                            tracing::warn!(
                                certificate = %cfg.certificate.display(),
                                "TLS certificate reloaded (renewed files): new handshakes use it"
                            );
                        }
                        Err(e) => tracing::error!(
                            error = %e,
                            "TLS certificate files changed but do not load: the old certificate is kept"
                        ),
                    }
                }
            })?;
        Ok(Reloading { key })
    }
}

impl rustls::server::ResolvesServerCert for Reloading {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(
            self.key
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// The server side, for `tls:` listeners (`alpn` empty) and the console
/// (`http/1.1`). Errors name the `[tls]` key and file at fault.
pub fn server_config(t: &TlsConfig, alpn: &[&[u8]]) -> io::Result<Arc<rustls::ServerConfig>> {
    let mut c = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Reloading::new(t)?));
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

/// TLS handshakes under way per source address, so that one stalled or
/// hostile client cannot hold every handshake place of a listener.
#[derive(Debug, Default, Clone)]
pub struct Handshakes(Arc<dashmap::DashMap<std::net::IpAddr, u32>>);

/// Handshakes at once from one address, on each listener.
pub const HANDSHAKES_PER_SOURCE: u32 = 16;

impl Handshakes {
    /// A place for a handshake from `ip` (None: it has its share already).
    pub fn start(&self, ip: std::net::IpAddr) -> Option<Handshake> {
        let mut n = self.0.entry(ip).or_insert(0);
        if *n >= HANDSHAKES_PER_SOURCE {
            return None;
        }
        *n += 1;
        Some(Handshake(self.0.clone(), ip))
    }
}

/// A handshake's place; given back however the handshake ends.
#[derive(Debug)]
pub struct Handshake(
    Arc<dashmap::DashMap<std::net::IpAddr, u32>>,
    std::net::IpAddr,
);

impl Drop for Handshake {
    fn drop(&mut self) {
        self.0.remove_if_mut(&self.1, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
    }
}
