//! Request ids: the id each request is served under, taken from the client when it is
//! usable, made here when it is not, returned in the answer and carried by every log line of
//! the request (through the request span).
//!
//! The id is, in this order:
//! 1. the request's `x-request-id`, when it is 1 to [`MAX_REQUEST_ID_LEN`] bytes of visible
//!    ASCII (`!` to `~`: no spaces, no control characters);
//! 2. else the trace id of a valid W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), 32
//!    lowercase hex digits;
//! 3. else a new UUID v4 (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`).
//!
//! An `x-request-id` that is not usable is replaced, never logged (only its length is, at
//! `debug`). The request reaches the handler with `x-request-id` set to the id in force, so a
//! handler (or a router forwarding to another host) reads it from the header.

use std::cell::RefCell;

use axum::http::header::HeaderName;
use axum::http::{HeaderMap, HeaderValue};
use rt_core::logging::REQUEST_SPAN_TARGET;

/// The header that carries the request id, in both directions.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest `x-request-id` taken from a client, in bytes; a longer one is replaced.
pub const MAX_REQUEST_ID_LEN: usize = 128;

const X_REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The id `headers` ask for, or a new one; `headers` then carry it as `x-request-id`.
pub(crate) fn take(headers: &mut HeaderMap) -> HeaderValue {
    let replaced = match headers.get(&X_REQUEST_ID) {
        Some(given) if usable(given.as_bytes()) => return given.clone(),
        Some(given) => Some(given.len()),
        None => None,
    };
    let id = headers
        .get(&TRACEPARENT)
        .and_then(|v| trace_id(v.as_bytes()))
        .unwrap_or_else(new_id);
    if let Some(len) = replaced {
        tracing::debug!(
            given_len = len,
            request_id = id.to_str().unwrap_or_default(),
            "the request's x-request-id is not 1 to {MAX_REQUEST_ID_LEN} visible ASCII \
             characters: replaced"
        );
    }
    headers.insert(X_REQUEST_ID, id.clone());
    id
}

/// The span a request is served in, with its id; a disabled span without one.
pub(crate) fn span(id: Option<&HeaderValue>) -> tracing::Span {
    match id {
        Some(id) => tracing::info_span!(
            target: REQUEST_SPAN_TARGET,
            "request",
            request_id = id.to_str().unwrap_or_default()
        ),
        None => tracing::Span::none(),
    }
}

/// Puts the id on an answer.
pub(crate) fn answer(headers: &mut HeaderMap, id: HeaderValue) {
    headers.insert(X_REQUEST_ID, id);
}

/// 1 to [`MAX_REQUEST_ID_LEN`] bytes from `!` to `~`.
fn usable(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && id.iter().all(|b| b.is_ascii_graphic())
}

/// The trace id of a W3C `traceparent` (version-format `00`, or a later version's first four
/// fields), when the header is valid and the ids are not all zeros.
fn trace_id(header: &[u8]) -> Option<HeaderValue> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let mut fields = text.split('-');
    let (version, trace, parent, flags) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    // Version 00 has exactly four fields; later versions may add more, never ff.
    let more = fields.next().is_some();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let zeros = |s: &str| s.bytes().all(|b| b == b'0');
    let valid = hex(version, 2)
        && version != "ff"
        && !(version == "00" && more)
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && !zeros(trace)
        && !zeros(parent);
    if valid {
        HeaderValue::from_str(trace).ok()
    } else {
        None
    }
}

thread_local! {
    /// The random bits of new ids: a fast generator per thread, seeded once from the operating
    /// system (`Uuid::new_v4` reads `getrandom`), so that a request costs no system call.
    static RANDOM: RefCell<fastrand::Rng> = RefCell::new(fastrand::Rng::with_seed({
        let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
        high ^ low
    }));
}

/// A new UUID v4, hyphenated, lowercase.
fn new_id() -> HeaderValue {
    let mut bytes = [0u8; 16];
    RANDOM.with(|random| random.borrow_mut().fill(&mut bytes));
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut buffer = uuid::Uuid::encode_buffer();
    let text = id.hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                map.append(HeaderName::from_static(name), value);
            }
        }
        map
    }

    fn is_uuid_v4(id: &str) -> bool {
        uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 4) && id.len() == 36
    }

    #[test]
    fn a_usable_id_is_kept() {
        let mut map = headers(&[("x-request-id", b"abc-123_XYZ.~")]);
        assert_eq!(take(&mut map), "abc-123_XYZ.~");
        let longest = "a".repeat(MAX_REQUEST_ID_LEN);
        let mut map = headers(&[("x-request-id", longest.as_bytes())]);
        assert_eq!(take(&mut map), longest.as_str());
    }

    #[test]
    fn unusable_ids_are_replaced_and_the_header_rewritten() {
        let too_long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        for bad in [
            too_long.as_bytes(),
            b"has space",
            b"tab\there",
            b"caf\xc3\xa9",
            b"",
        ] {
            let mut map = headers(&[("x-request-id", bad)]);
            let id = take(&mut map);
            let text = id.to_str().unwrap_or_default();
            assert!(is_uuid_v4(text), "{bad:?} -> {text}");
            assert_eq!(map.get_all("x-request-id").iter().count(), 1);
            assert_eq!(map.get("x-request-id"), Some(&id));
        }
    }

    #[test]
    fn traceparent_gives_its_trace_id() {
        let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut map = headers(&[("traceparent", tp)]);
        assert_eq!(take(&mut map), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            map.get("x-request-id").map(HeaderValue::as_bytes),
            Some(&b"4bf92f3577b34da6a3ce929d0e0e4736"[..])
        );
        // A usable x-request-id wins over traceparent.
        let mut map = headers(&[("x-request-id", b"mine"), ("traceparent", tp)]);
        assert_eq!(take(&mut map), "mine");
        // A later version with an extra field is read; version ff, upper case, zeros are not.
        let later = b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what";
        assert_eq!(
            trace_id(later).as_ref().map(HeaderValue::as_bytes),
            Some(&b"4bf92f3577b34da6a3ce929d0e0e4736"[..])
        );
        for bad in [
            &b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"[..],
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            b"garbage",
        ] {
            assert_eq!(trace_id(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn without_an_id_a_new_uuid_is_made() {
        let mut map = HeaderMap::new();
        let a = take(&mut map);
        let b = take(&mut HeaderMap::new());
        assert!(is_uuid_v4(a.to_str().unwrap_or_default()), "{a:?}");
        assert_ne!(a, b);
        assert_eq!(map.get("x-request-id"), Some(&a));
    }

    #[test]
    fn new_ids_differ_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..500).map(|_| new_id()).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for thread in threads {
            for id in thread.join().unwrap_or_default() {
                assert!(is_uuid_v4(id.to_str().unwrap_or_default()), "{id:?}");
                assert!(all.insert(id));
            }
        }
        assert_eq!(all.len(), 2_000);
    }
}
