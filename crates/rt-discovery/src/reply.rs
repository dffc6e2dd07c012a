//! [`Reply`]: an instance's answer to a routed request, read whole or line by line.

use axum::body::Bytes;
use axum::http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::error::DiscoveryError;
use crate::instance::InstanceId;

/// The answer of the instance that admitted a routed request: any status (a handler's `400`
/// or `500` included; only refusals are retried, and they never reach a `Reply`).
#[derive(Debug)]
pub struct Reply {
    endpoint: String,
    instance: InstanceId,
    address: String,
    retries: u32,
    status: u16,
    headers: HeaderMap,
    body: Incoming,
    /// Bytes of a line not ended yet ([`next_line`](Self::next_line)).
    pending: Vec<u8>,
    ended: bool,
    deadline: Instant,
    timeout: std::time::Duration,
}

impl Reply {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        endpoint: String,
        instance: InstanceId,
        address: String,
        retries: u32,
        response: hyper::Response<Incoming>,
        deadline: Instant,
        timeout: std::time::Duration,
    ) -> Self {
        let (parts, body) = response.into_parts();
        Self {
            endpoint,
            instance,
            address,
            retries,
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            pending: Vec::new(),
            ended: false,
            deadline,
            timeout,
        }
    }

    /// The instance that admitted the request.
    pub fn instance(&self) -> InstanceId {
        self.instance
    }

    /// The instance's address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// How many other instances refused the request before this one admitted it.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The reply's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The whole body, bounded by the router's request timeout (counted from the request).
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::Upstream`] when the connection broke; [`DiscoveryError::Timeout`]
    /// past the deadline.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: dropping the future loses the body.
    pub async fn bytes(self) -> Result<Bytes, DiscoveryError> {
        let deadline = self.deadline;
        let (endpoint, instance, address, timeout) =
            (self.endpoint, self.instance, self.address, self.timeout);
        match tokio::time::timeout_at(deadline, self.body.collect()).await {
            Ok(Ok(collected)) => {
                let rest = collected.to_bytes();
                if self.pending.is_empty() {
                    Ok(rest)
                } else {
                    let mut all = self.pending;
                    all.extend_from_slice(&rest);
                    Ok(Bytes::from(all))
                }
            }
            Ok(Err(source)) => Err(DiscoveryError::Upstream {
                endpoint,
                instance: instance.0,
                address,
                source: Box::new(source),
            }),
            Err(_) => Err(DiscoveryError::Timeout {
                endpoint,
                instance: instance.0,
                address,
                after: timeout,
            }),
        }
    }

    /// The whole body read as JSON.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Self::bytes), and [`DiscoveryError::ReplyJson`] when it is not `T`.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: dropping the future loses the body.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, DiscoveryError> {
        let (endpoint, instance) = (self.endpoint.clone(), self.instance);
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|source| DiscoveryError::ReplyJson {
            endpoint,
            instance: instance.0,
            source,
        })
    }

    /// The next line of a streamed reply (without its `\n`), as soon as it has arrived;
    /// `None` at the end. Not bounded by the request timeout (a stream may last): bound it
    /// with `tokio::time::timeout`.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::Upstream`] when the connection broke.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: bytes already received stay buffered for the next call.
    pub async fn next_line(&mut self) -> Result<Option<Bytes>, DiscoveryError> {
        loop {
            if let Some(at) = self.pending.iter().position(|b| *b == b'\n') {
                let rest = self.pending.split_off(at + 1);
                let mut line = std::mem::replace(&mut self.pending, rest);
                line.pop();
                return Ok(Some(Bytes::from(line)));
            }
            if self.ended {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(Bytes::from(std::mem::take(&mut self.pending))));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending.extend_from_slice(&data);
                    }
                }
                Some(Err(source)) => {
                    return Err(DiscoveryError::Upstream {
                        endpoint: self.endpoint.clone(),
                        instance: self.instance.0,
                        address: self.address.clone(),
                        source: Box::new(source),
                    })
                }
                None => self.ended = true,
            }
        }
    }
}
