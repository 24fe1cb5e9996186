//! A cap on the connections a listener keeps open (`api_connections_max`,
//! `sync_connections_max`). A slot is taken before a connection is accepted
//! and given back when the connection closes, so past the cap new clients
//! wait in the kernel's backlog instead of each costing a task, buffers
//! and file descriptors here.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A listener that holds at most `max` connections open at once.
#[derive(Debug)]
pub struct Capped<L> {
    inner: L,
    slots: Arc<Semaphore>,
}

impl<L> Capped<L> {
    /// `max` of 0 is taken as 1: a listener that never accepts is a mistake.
    pub fn new(inner: L, max: usize) -> Capped<L> {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Capped {
            inner,
            slots: Arc::new(Semaphore::new(max)),
        }
    }
}

impl<L: Listener> Listener for Capped<L> {
    type Io = CappedIo<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let slot = match self.slots.clone().acquire_owned().await {
            Ok(slot) => slot,
            // The semaphore is never closed.
            Err(_) => std::future::pending().await,
        };
        let (io, addr) = self.inner.accept().await;
        (CappedIo { io, _slot: slot }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The peer of an API connection, as handlers and the authentication layer
/// read it (`ConnectInfo<Peer>`): the socket's remote address. No proxy
/// header is trusted for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub std::net::SocketAddr);

impl<L> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Capped<L>>> for Peer
where
    L: Listener<Addr = std::net::SocketAddr>,
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, Capped<L>>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// A connection holding its slot until it is dropped.
#[derive(Debug)]
pub struct CappedIo<T> {
    io: T,
    _slot: OwnedSemaphorePermit,
}

impl<T: AsyncRead + Unpin> AsyncRead for CappedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CappedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::sync::mpsc;

    use super::*;

    /// Connections arrive as in-memory pipes, so the test runs on paused
    /// time without the wall clock or the network.
    struct Pipes(mpsc::UnboundedReceiver<DuplexStream>);

    impl Listener for Pipes {
        type Io = DuplexStream;
        type Addr = ();
        async fn accept(&mut self) -> (DuplexStream, ()) {
            match self.0.recv().await {
                Some(io) => (io, ()),
                None => std::future::pending().await,
            }
        }
        fn local_addr(&self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A client: sends one request and returns the answer's first bytes,
    /// keeping the connection open (HTTP/1.1 keep-alive).
    async fn get(mut c: DuplexStream) -> (DuplexStream, String) {
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 256];
        let n = c.read(&mut buf).await.expect("read");
        (c, String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// With a cap of two, a third client is not served while the first two
    /// stay connected, and is served as soon as one of them hangs up.
    #[tokio::test(start_paused = true)]
    async fn the_cap_holds_and_a_closed_connection_frees_its_slot() {
        let (tx, rx) = mpsc::unbounded_channel();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let server = tokio::spawn(async move {
            let _ = axum::serve(Capped::new(Pipes(rx), 2), app).await;
        });
        let connect = || {
            let (client, server_end) = tokio::io::duplex(4096);
            tx.send(server_end).expect("listener open");
            client
        };
        let (a, ra) = get(connect()).await;
        let (b, rb) = get(connect()).await;
        assert!(ra.ends_with("ok") && rb.ends_with("ok"), "{ra} / {rb}");
        let mut third = tokio::spawn(get(connect()));
        // Well within hyper's 30 s header-read timeout, which would close
        // the idle two and free their slots.
        assert!(
            tokio::time::timeout(Duration::from_secs(20), &mut third)
                .await
                .is_err(),
            "a third connection was served past the cap"
        );
        drop(a);
        let (_c, rc) = tokio::time::timeout(Duration::from_secs(20), third)
            .await
            .expect("served once a slot is free")
            .expect("task");
        assert!(rc.ends_with("ok"), "{rc}");
        drop(b);
        server.abort();
    }
}
