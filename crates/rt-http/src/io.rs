//! [`ConnIo`]: a connection's socket with the header, idle, write and shutdown-grace
//! deadlines enforced where hyper reads and writes.
//!
//! hyper's own header-read timer also runs between kept-alive requests, which would make the
//! idle timeout the header timeout; so hyper's timer is off and the deadlines live here. They
//! are checked whenever hyper polls the socket and it is not ready, against the connection's
//! [`Phase`]: a deadline that passes ends the read with end-of-file (after a canned 408 or 503
//! when part of a request head had arrived), or the write with an error.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::metrics::bump;
use crate::state::{ConnState, Phase, Shared};

/// Why a read deadline passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadLimit {
    Header,
    Idle,
    Grace,
    /// The listener closed while the connection was kept alive between requests.
    Closed,
}

/// The socket of one connection, as hyper sees it.
pub(crate) struct ConnIo {
    inner: TcpStream,
    conn: Arc<ConnState>,
    shared: Arc<Shared>,
    read_sleep: Option<Pin<Box<Sleep>>>,
    write_sleep: Option<Pin<Box<Sleep>>>,
    write_pending_since: Option<Instant>,
    /// A read deadline passed: every further read is end-of-file.
    expired: bool,
}

impl ConnIo {
    pub(crate) fn new(inner: TcpStream, conn: Arc<ConnState>, shared: Arc<Shared>) -> Self {
        Self {
            inner,
            conn,
            shared,
            read_sleep: None,
            write_sleep: None,
            write_pending_since: None,
            expired: false,
        }
    }

    fn read_deadline(&self) -> Option<(Instant, ReadLimit, Phase)> {
        let options = &self.shared.options;
        let (phase, since) = self.conn.phase();
        let (mut deadline, mut limit) = match phase {
            Phase::Fresh | Phase::Head => (since + options.header_read_timeout, ReadLimit::Header),
            // Every request on it was answered, and the drain's linger gave its client time
            // to learn of the drain: nothing is owed to it.
            Phase::Idle if self.shared.listener_closed.is_cancelled() => {
                return Some((Instant::now(), ReadLimit::Closed, phase));
            }
            Phase::Idle => (since + options.idle_timeout, ReadLimit::Idle),
            Phase::Busy => return None,
        };
        if let Some(grace) = self.shared.drain_bound(since) {
            if grace < deadline {
                (deadline, limit) = (grace, ReadLimit::Grace);
            }
        }
        Some((deadline, limit, phase))
    }

    /// The socket had nothing to read: enforce the read deadline.
    fn poll_read_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((deadline, limit, phase)) = self.read_deadline() else {
            self.read_sleep = None;
            return Poll::Pending;
        };
        // `Closed` is due at once (its deadline is "now" at every poll: a timer would never
        // catch up with it).
        if limit != ReadLimit::Closed && arm(&mut self.read_sleep, deadline).poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.read_sleep = None;
        self.expired = true;
        let metrics = &self.shared.metrics;
        match limit {
            ReadLimit::Header => bump(&metrics.timeout_header),
            ReadLimit::Idle => bump(&metrics.timeout_idle),
            ReadLimit::Grace => bump(&metrics.timeout_grace),
            ReadLimit::Closed => {}
        }
        if phase == Phase::Head {
            // Part of a request arrived: answer it before closing, best effort (the socket has
            // nothing else to write while a head is being read).
            let (canned, status) = if limit == ReadLimit::Grace {
                bump(&metrics.requests_refused);
                (self.shared.canned_503.as_bytes(), 503)
            } else {
                (CANNED_408.as_bytes(), 408)
            };
            metrics.response(status);
            let _ = Pin::new(&mut self.inner).poll_write(cx, canned);
            tracing::debug!(
                status,
                ?limit,
                "closing a connection with a partial request"
            );
        } else {
            if phase == Phase::Fresh || limit == ReadLimit::Grace {
                bump(&metrics.connections_closed_unanswered);
            }
            tracing::debug!(?limit, ?phase, "closing a connection with no request");
        }
        // End-of-file: hyper closes the connection.
        Poll::Ready(Ok(()))
    }

    fn poll_write_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let since = *self.write_pending_since.get_or_insert_with(Instant::now);
        let mut deadline = since + self.shared.options.write_timeout;
        let mut limit_is_grace = false;
        if let Some(bound) = self.shared.drain_bound(since) {
            if bound < deadline {
                deadline = bound;
                limit_is_grace = true;
            }
        }
        if arm(&mut self.write_sleep, deadline).poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.write_sleep = None;
        let metrics = &self.shared.metrics;
        bump(if limit_is_grace {
            &metrics.timeout_grace
        } else {
            &metrics.timeout_write
        });
        tracing::debug!("closing a connection whose client does not read its answer");
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read nothing of the answer within the write timeout",
        )))
    }

    fn wrote(&mut self, result: &io::Result<usize>, buf: &[u8]) {
        self.write_pending_since = None;
        self.write_sleep = None;
        // hyper's own answers (400, 413, 414, 431) are written before any request reaches
        // the service: count them by their status line.
        if let Ok(n) = result {
            if *n > 0 && matches!(self.conn.phase().0, Phase::Fresh | Phase::Head) {
                if let Some(status) = status_of(buf) {
                    self.shared.metrics.response(status);
                }
            }
        }
    }
}

/// The status code of a response that starts with a status line.
fn status_of(buf: &[u8]) -> Option<u16> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ".as_slice())?;
    let digits = rest.get(..3)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Arms (or re-arms) a lazily allocated sleep for `deadline`.
fn arm(slot: &mut Option<Pin<Box<Sleep>>>, deadline: Instant) -> Pin<&mut Sleep> {
    let sleep = slot.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
    if sleep.deadline() != deadline {
        sleep.as_mut().reset(deadline);
    }
    sleep.as_mut()
}

/// The answer to a partial request head at its header timeout.
const CANNED_408: &str = "HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n\
                          content-length: 0\r\n\r\n";

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.conn.on_bytes();
                }
                this.read_sleep = None;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_read_deadline(cx),
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.wrote(&result, buf);
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_write_deadline(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                let first = bufs.first().map(|b| &b[..]).unwrap_or_default();
                this.wrote(&result, first);
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_write_deadline(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::status_of;

    #[test]
    fn status_lines() {
        assert_eq!(
            status_of(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            Some(431)
        );
        assert_eq!(status_of(b"HTTP/1.1 4"), None);
        assert_eq!(status_of(b"hello"), None);
    }
}
