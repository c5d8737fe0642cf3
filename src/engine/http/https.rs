//! The console on HTTPS: a listener for `axum::serve` whose connections
//! have finished their TLS handshake. Handshakes run in tasks of their own
//! (a slow or stalled client never holds up the next), at most
//! [`MAX_HANDSHAKES`] at once (see [`tls::Gate`]), each within
//! [`tls::HANDSHAKE`].

use crate::engine::tls;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{rustls, server::TlsStream, TlsAcceptor};

const MAX_HANDSHAKES: usize = 128;

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
    let gate = tls::Gate::new(MAX_HANDSHAKES);
    loop {
        let (stream, addr) = match tcp.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "console: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let pass = match gate.enter(addr.ip(), false) {
            Ok(p) => p,
            Err(why) => {
                tracing::debug!(%addr, "console: too many TLS handshakes {}, closed", why.as_str());
                continue;
            }
        };
        let (acceptor, ready) = (acceptor.clone(), ready.clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + tls::HANDSHAKE;
            let shook = tls::handshake(&acceptor, stream, deadline, addr).await;
            drop(pass);
            if let Some(s) = shook {
                let _ = ready.send((s, addr)).await;
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
