//! A cap on the connections a listener keeps open (`api_connections_max`,
//! `sync_connections_max`). A slot is taken before a connection is accepted
//! and given back when the connection closes, so past the cap new clients
//! wait in the kernel's backlog instead of each costing a task, buffers
//! and file descriptors here.
//!
//! Both listeners' connections pass through here, so this is also where the
//! refusals hyper writes by itself, before any service sees the request (a
//! URI over 64 KiB: 414; headers over its buffer: 431; a request line or
//! header that does not parse: 400), get the `{error, message}` body every
//! other refusal has: hyper sends them as a bare head with no body.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::serve::Listener;
use fundsync_protocol::{ErrorBody, ErrorCode};
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
        (
            CappedIo {
                io,
                _slot: slot,
                refusal: None,
            },
            addr,
        )
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
    /// A bare refusal of hyper's rewritten with a body ([`json_refusal`]),
    /// and how much of it has been written.
    refusal: Option<(Vec<u8>, usize)>,
}

impl<T: AsyncWrite + Unpin> CappedIo<T> {
    /// Writes what is left of a rewritten refusal.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.refusal {
            if *written >= bytes.len() {
                self.refusal = None;
                break;
            }
            let n = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` as written, sending its rewritten form instead.
    fn rewrite(
        &mut self,
        cx: &mut Context<'_>,
        json: Vec<u8>,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        self.refusal = Some((json, 0));
        match self.drain(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // The rest goes out at the flush hyper makes next.
            _ => Poll::Ready(Ok(len)),
        }
    }
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
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        if let Some(json) = json_refusal(buf) {
            return this.rewrite(cx, json, buf.len());
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next()) {
            if let Some(json) = json_refusal(only) {
                return this.rewrite(cx, json, only.len());
            }
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Longest head hyper writes for a refusal of its own.
const REFUSAL_HEAD_BYTES_MAX: usize = 512;

/// If `buf` is a refusal hyper wrote by itself (a whole response head with
/// an error status, `content-length: 0` and no content type, with nothing
/// after it), the same answer with the `{error, message}` body; the
/// services' own refusals always carry a body and a content type (see
/// `http::json_errors`), so they never match.
fn json_refusal(buf: &[u8]) -> Option<Vec<u8>> {
    if buf.len() > REFUSAL_HEAD_BYTES_MAX || !buf.starts_with(b"HTTP/1.") {
        return None;
    }
    let head = std::str::from_utf8(buf).ok()?.strip_suffix("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.get(9..12)?.parse().ok()?;
    if !(400..600).contains(&status) {
        return None;
    }
    let headers: Vec<&str> = lines.collect();
    let named = |h: &str, name: &str| {
        h.split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
    };
    let empty = headers.iter().any(|h| {
        named(h, "content-length") && h.split_once(':').is_some_and(|(_, v)| v.trim() == "0")
    });
    if !empty || headers.iter().any(|h| named(h, "content-type")) {
        return None;
    }
    let message = match status {
        400 => "the request could not be read: a malformed request line or header",
        414 => "the request's path and query are too long",
        431 => "the request's headers are too large",
        _ => "the request was refused before it was read",
    };
    let body = serde_json::to_vec(&ErrorBody {
        error: ErrorCode::of_status(status),
        message: message.to_owned(),
    })
    .ok()?;
    let mut out = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for h in headers.iter().filter(|h| !named(h, "content-length")) {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    Some(out)
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

    /// Reads until the peer closes.
    async fn answer(mut c: DuplexStream) -> String {
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    /// hyper's own refusals (a URI over 64 KiB, a request line that does
    /// not parse) arrive with the `{error, message}` body; the services'
    /// answers are untouched.
    #[tokio::test]
    async fn hypers_bare_refusals_get_the_error_body() {
        let (tx, rx) = mpsc::unbounded_channel();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let server = tokio::spawn(async move {
            let _ = axum::serve(Capped::new(Pipes(rx), 8), app).await;
        });
        let connect = || {
            let (client, server_end) = tokio::io::duplex(256 * 1024);
            tx.send(server_end).expect("listener open");
            client
        };
        let mut c = connect();
        let long = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
        c.write_all(long.as_bytes()).await.expect("write");
        let got = answer(c).await;
        assert!(got.starts_with("HTTP/1.1 414 "), "{got}");
        assert!(got.contains("content-type: application/json"), "{got}");
        let body = got.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert_eq!(v["error"], "uri_too_long", "{got}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));

        let mut c = connect();
        c.write_all(b"NOT HTTP AT ALL\r\n\r\n")
            .await
            .expect("write");
        let got = answer(c).await;
        assert!(got.starts_with("HTTP/1.1 400 "), "{got}");
        assert!(got.contains("\"error\":\"bad_request\""), "{got}");

        let (_c, ok) = get(connect()).await;
        assert!(
            ok.starts_with("HTTP/1.1 200 ") && ok.ends_with("ok"),
            "{ok}"
        );
        server.abort();
    }

    #[test]
    fn only_bare_error_heads_are_rewritten() {
        let bare = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(json_refusal(bare).expect("rewritten")).expect("utf8");
        assert!(out.starts_with("HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json"));
        assert!(
            out.contains("\r\ndate: x\r\n\r\n{\"error\":\"uri_too_long\""),
            "{out}"
        );
        for kept in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 2\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nmore",
            b"{\"error\":\"x\"}",
        ] {
            assert!(json_refusal(kept).is_none(), "{}", String::from_utf8_lossy(kept));
        }
    }
}
