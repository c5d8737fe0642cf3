//! TLS for SIP (RFC 3261 §26.2) and the HTTPS console: the engine's
//! certificate from `[tls]` (renewed files taken without a restart),
//! rustls with the ring provider.

use crate::config::TlsConfig;
use std::io;
use std::net::IpAddr;
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

/// The gate every TLS handshake of a listener passes: at most `total` at
/// once, and at most [`HANDSHAKES_PER_SOURCE`] from one address (unless it
/// is exempt: a trunk, proxy or `allow` address), so that a flood of
/// half-open handshakes costs bounded memory and one stalled or hostile
/// client cannot hold every place.
#[derive(Debug, Clone)]
pub struct Gate {
    per_source: Arc<dashmap::DashMap<IpAddr, u32>>,
    total: Arc<tokio::sync::Semaphore>,
}

/// Handshakes at once from one address, on each listener.
pub const HANDSHAKES_PER_SOURCE: u32 = 16;
/// How long a handshake may take.
pub const HANDSHAKE: Duration = Duration::from_secs(10);

/// Why the gate turned a connection away (as the log says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    FromOneAddress,
    AtOnce,
}

impl Refused {
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::FromOneAddress => "from one address",
            Refused::AtOnce => "at once",
        }
    }
}

impl Gate {
    pub fn new(total: usize) -> Gate {
        Gate {
            per_source: Arc::default(),
            total: Arc::new(tokio::sync::Semaphore::new(total)),
        }
    }

    /// A pass for a handshake from `ip`, held until the handshake ends.
    pub fn enter(&self, ip: IpAddr, exempt: bool) -> Result<Pass, Refused> {
        let place = if exempt {
            None
        } else {
            let mut n = self.per_source.entry(ip).or_insert(0);
            if *n >= HANDSHAKES_PER_SOURCE {
                return Err(Refused::FromOneAddress);
            }
            *n += 1;
            Some(Place(self.per_source.clone(), ip))
        };
        let permit = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::AtOnce)?;
        Ok(Pass {
            _place: place,
            _permit: permit,
        })
    }
}

/// A handshake's places; given back however the handshake ends.
#[derive(Debug)]
pub struct Pass {
    _place: Option<Place>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

#[derive(Debug)]
struct Place(Arc<dashmap::DashMap<IpAddr, u32>>, IpAddr);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.remove_if_mut(&self.1, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
    }
}

/// The server side of a handshake, by `deadline` and within [`HANDSHAKE`];
/// None (logged) when it fails or takes too long.
pub async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    deadline: tokio::time::Instant,
    addr: std::net::SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    let by = deadline.min(tokio::time::Instant::now() + HANDSHAKE);
    match tokio::time::timeout_at(by, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%addr, "TLS handshake timed out");
            None
        }
    }
}
