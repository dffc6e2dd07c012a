//! A minimal blocking HTTP/1.1 client on [`std::net::TcpStream`]: one request per
//! connection (`Connection: close`), bounded by one timeout. Enough for the driver and the
//! end-to-end tests; not a general client (no TLS, no redirects, no chunked bodies).
//!
//! One request per connection keeps the accounting exact: a connection either got an answer
//! or it did not, and there is no keep-alive race in which a request is written onto a
//! connection that the server is closing as idle.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpListener;
//! use std::time::Duration;
//!
//! // A one-shot server for the example.
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = std::thread::spawn(move || {
//!     let (mut conn, _) = listener.accept().unwrap();
//!     let mut buf = [0u8; 1024];
//!     let _ = conn.read(&mut buf).unwrap();
//!     conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap();
//! });
//! let response = rt_demo::client::get(addr, "/health", Duration::from_secs(5)).unwrap();
//! assert_eq!(response.status, 200);
//! assert_eq!(response.body, b"{}");
//! server.join().unwrap();
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::DemoError;

/// A complete answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, as sent.
    pub body: Vec<u8>,
}

impl Response {
    /// The body parsed as JSON into `T`.
    ///
    /// # Errors
    ///
    /// [`DemoError::MalformedResponse`] when it is not that JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, DemoError> {
        serde_json::from_slice(&self.body).map_err(|e| DemoError::MalformedResponse {
            detail: format!(
                "status {} body {:?} is not the expected JSON: {e}",
                self.status,
                String::from_utf8_lossy(&self.body)
            ),
        })
    }
}

/// `GET path`.
///
/// # Errors
///
/// As [`request`].
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Response, DemoError> {
    request(addr, "GET", path, None, timeout)
}

/// `POST path` with a JSON body.
///
/// # Errors
///
/// As [`request`].
pub fn post_json(
    addr: SocketAddr,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Result<Response, DemoError> {
    request(addr, "POST", path, Some(body.as_bytes()), timeout)
}

/// Sends one request on a new connection and reads the whole answer; `timeout` bounds the
/// connect, the write and the read together. Blocks the calling thread.
///
/// # Errors
///
/// - [`DemoError::Connect`]: the connection was not made (`ConnectionRefused`: nothing
///   listens);
/// - [`DemoError::NoResponse`]: closed or reset before any byte of an answer (a reset while
///   connecting included: the listener closed with the connection in its accept queue);
/// - [`DemoError::Timeout`]: no complete answer within `timeout`;
/// - [`DemoError::Io`] / [`DemoError::MalformedResponse`]: broken after the answer began.
///
/// [`DemoError::is_refusal`] tells the first two from the rest.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Response, DemoError> {
    request_after(addr, method, path, body, Duration::ZERO, timeout)
}

/// As [`request`], but a slow client: it connects, then waits `send_delay` before it writes
/// the request, so that the server holds an accepted connection with no request on it yet.
/// The delay counts against `timeout`, which still bounds the whole exchange.
///
/// # Errors
///
/// As [`request`]; a connection the server closes during the delay is
/// [`DemoError::NoResponse`].
pub fn request_after(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    send_delay: Duration,
    timeout: Duration,
) -> Result<Response, DemoError> {
    exchange(addr, method, path, body, &[], send_delay, timeout)
}

/// As [`request`], with `headers` added to the request (for example
/// `("Authorization", "Bearer ...")`).
///
/// # Errors
///
/// As [`request`].
pub fn request_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Response, DemoError> {
    exchange(addr, method, path, body, headers, Duration::ZERO, timeout)
}

/// One request on a new connection: [`request_after`] with `headers`.
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
    send_delay: Duration,
    timeout: Duration,
) -> Result<Response, DemoError> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|source| connect_error(addr, timeout, source))?;
    let _ = stream.set_nodelay(true);

    let body = body.unwrap_or_default();
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        out.push_str("Content-Type: application/json\r\n");
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    if !send_delay.is_zero() {
        std::thread::sleep(send_delay.min(deadline.saturating_duration_since(Instant::now())));
    }
    set_timeouts(&stream, deadline, addr, timeout)?;
    if let Err(source) = stream.write_all(&bytes) {
        // Nothing of an answer has arrived yet: the peer dropped the connection unanswered
        // (or the write timed out).
        return Err(no_response_or_timeout(addr, timeout, source));
    }

    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    let mut head: Option<Head> = None;
    loop {
        if let Some(h) = &head {
            if let Some(len) = h.content_length {
                if buf.len() >= h.body_start + len {
                    break;
                }
            }
        }
        set_timeouts(&stream, deadline, addr, timeout)?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) if buf.is_empty() => {
                return Err(no_response_or_timeout(addr, timeout, source))
            }
            Err(source) if is_timeout(&source) => {
                return Err(DemoError::Timeout {
                    addr,
                    after: timeout,
                })
            }
            Err(source) => {
                return Err(DemoError::Io {
                    what: format!("reading the answer from {addr}"),
                    source,
                })
            }
        }
        if head.is_none() {
            head = parse_head(&buf)?;
        }
    }
    if buf.is_empty() {
        return Err(DemoError::NoResponse { addr, source: None });
    }
    let head = match head {
        Some(h) => h,
        None => parse_head(&buf)?.ok_or_else(|| DemoError::MalformedResponse {
            detail: format!(
                "the connection closed inside the header: {:?}",
                String::from_utf8_lossy(&buf)
            ),
        })?,
    };
    let mut body = buf.split_off(head.body_start.min(buf.len()));
    if let Some(len) = head.content_length {
        if body.len() < len {
            return Err(DemoError::MalformedResponse {
                detail: format!("body cut short: {} of {len} bytes", body.len()),
            });
        }
        body.truncate(len);
    }
    Ok(Response {
        status: head.status,
        body,
    })
}

fn set_timeouts(
    stream: &TcpStream,
    deadline: Instant,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(), DemoError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(DemoError::Timeout {
            addr,
            after: timeout,
        });
    }
    let set = stream
        .set_read_timeout(Some(left))
        .and_then(|()| stream.set_write_timeout(Some(left)));
    set.map_err(|source| DemoError::Io {
        what: "setting the socket timeout".to_owned(),
        source,
    })
}

/// A failed connect: a reset is a connection that the server's kernel took into the accept
/// queue and dropped when the listener closed, before the server accepted it, so it is
/// [`DemoError::NoResponse`] (a refusal), like a reset after connecting.
fn connect_error(addr: SocketAddr, timeout: Duration, source: io::Error) -> DemoError {
    match source.kind() {
        io::ErrorKind::ConnectionReset => DemoError::NoResponse {
            addr,
            source: Some(source),
        },
        _ if is_timeout(&source) => DemoError::Timeout {
            addr,
            after: timeout,
        },
        _ => DemoError::Connect { addr, source },
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn no_response_or_timeout(addr: SocketAddr, timeout: Duration, source: io::Error) -> DemoError {
    if is_timeout(&source) {
        DemoError::Timeout {
            addr,
            after: timeout,
        }
    } else {
        DemoError::NoResponse {
            addr,
            source: Some(source),
        }
    }
}

struct Head {
    status: u16,
    body_start: usize,
    content_length: Option<usize>,
}

/// `Ok(None)` while the header is incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, DemoError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let malformed = |detail: String| DemoError::MalformedResponse { detail };
    let text = std::str::from_utf8(&buf[..end])
        .map_err(|_| malformed("the header is not UTF-8".to_owned()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| malformed(format!("bad status line {status_line:?}")))?;
    let mut content_length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                content_length = Some(
                    value
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| malformed(format!("bad content-length {value:?}")))?,
                );
            } else if name.trim().eq_ignore_ascii_case("transfer-encoding") {
                return Err(malformed(
                    "chunked answers are not supported by this client".to_owned(),
                ));
            }
        }
    }
    Ok(Some(Head {
        status,
        body_start: end + 4,
        content_length,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_parsed() {
        let h = parse_head(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 7\r\n\r\nabc")
            .unwrap()
            .unwrap();
        assert_eq!(h.status, 503);
        assert_eq!(h.content_length, Some(7));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn send_delay_holds_the_request_back_after_connecting() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let mut buf = [0u8; 1024];
            let n = conn.read(&mut buf).unwrap();
            let first_byte_at = Instant::now();
            assert!(buf[..n].starts_with(b"POST /work HTTP/1.1\r\n"));
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            first_byte_at
        });
        let delay = Duration::from_millis(150);
        let started = Instant::now();
        let r = request_after(
            addr,
            "POST",
            "/work",
            Some(b"{}"),
            delay,
            Duration::from_secs(30),
        );
        assert_eq!(r.unwrap().status, 200);
        // The connection is made after `started`, and nothing is written until `delay` after
        // that: a lower bound that no scheduling can break.
        let first_byte_at = server.join().unwrap();
        assert!(first_byte_at.duration_since(started) >= delay);
    }

    #[test]
    fn refused_connection_is_a_refusal() {
        // Bind, learn the port, close: nothing listens there now.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = get(addr, "/", Duration::from_secs(5)).unwrap_err();
        assert!(err.is_refusal(), "{err}");
    }

    #[test]
    fn connect_reset_is_a_refusal_before_accept() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 9));
        let t = Duration::from_secs(1);
        let reset = connect_error(addr, t, io::ErrorKind::ConnectionReset.into());
        assert!(matches!(reset, DemoError::NoResponse { .. }), "{reset}");
        assert!(reset.is_refusal());
        let refused = connect_error(addr, t, io::ErrorKind::ConnectionRefused.into());
        assert!(matches!(refused, DemoError::Connect { .. }) && refused.is_refusal());
        let unreachable = connect_error(addr, t, io::ErrorKind::HostUnreachable.into());
        assert!(!unreachable.is_refusal(), "{unreachable}");
        let slow = connect_error(addr, t, io::ErrorKind::TimedOut.into());
        assert!(matches!(slow, DemoError::Timeout { .. }), "{slow}");
    }

    #[test]
    fn closed_without_answer_is_no_response() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            drop(conn);
        });
        let err = get(addr, "/", Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, DemoError::NoResponse { .. }), "{err}");
        server.join().unwrap();
    }
}
