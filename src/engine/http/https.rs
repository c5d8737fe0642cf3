//! The console on HTTPS: a listener for `axum::serve` whose connections
//! have finished their TLS handshake. Handshakes run in tasks of their own
//! (a slow or stalled client never holds up the next), at most
//! [`MAX_HANDSHAKES`] at once, each within [`HANDSHAKE`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::{rustls, server::TlsStream, TlsAcceptor};

const MAX_HANDSHAKES: usize = 128;
const HANDSHAKE: Duration = Duration::from_secs(10);

pub(super) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp` (needs a tokio runtime).
    pub(super) fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(MAX_HANDSHAKES);
        tokio::spawn(accept(tcp, TlsAcceptor::from(config), tx));
        Ok(TlsListener { ready, local })
    }
}

async fn accept(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let pending = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let per_source = crate::engine::tls::Handshakes::default();
    loop {
        let (stream, addr) = match tcp.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "console: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(place) = per_source.start(addr.ip()) else {
            tracing::debug!(%addr, "console: too many TLS handshakes from one address, closed");
            continue;
        };
        let Ok(permit) = pending.clone().try_acquire_owned() else {
            tracing::debug!(%addr, "console: too many TLS handshakes at once, closed");
            continue;
        };
        let (acceptor, ready) = (acceptor.clone(), ready.clone());
        tokio::spawn(async move {
            let _place = place;
            match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                Ok(Ok(s)) => {
                    drop(permit);
                    let _ = ready.send((s, addr)).await;
                }
                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "console: TLS handshake failed"),
                Err(_) => tracing::debug!(%addr, "console: TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
