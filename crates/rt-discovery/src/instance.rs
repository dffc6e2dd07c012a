//! [`Instance`], [`InstanceId`], [`Transport`]: one registered endpoint of one process, and its
//! JSON value in the reference runtime's shape.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::endpoint_id::EndpointId;
use crate::error::DiscoveryError;

/// The identity of one process in discovery: under etcd its lease id, so a process that
/// re-registers after losing its lease gets a new one. Written in hex in keys (the key is the
/// authority: ids exceed 2^53 and JSON readers outside Rust may round the value's copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(pub u64);

impl fmt::Display for InstanceId {
    /// Lower-case hex, as in keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// How to reach an instance, serialised as the reference's `TransportType` (snake case:
/// `{"http": "http://10.0.0.5:8888/v1/rpc/generate"}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Transport {
    /// An HTTP URL.
    Http(String),
    /// The reference's TCP request plane: `host:port/endpoint` (read for compatibility).
    Tcp(String),
    /// The reference's NATS subject (read for compatibility).
    NatsTcp(String),
}

impl Transport {
    /// The address: a URL, `host:port/endpoint`, or a subject.
    pub fn address(&self) -> &str {
        match self {
            Transport::Http(a) | Transport::Tcp(a) | Transport::NatsTcp(a) => a,
        }
    }
}

/// One registered endpoint of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Instance {
    /// Which endpoint.
    pub endpoint: EndpointId,
    /// Which process (the key's last segment).
    pub id: InstanceId,
    /// How to reach it.
    pub transport: Transport,
    /// Optional application data stored with the instance (`"metadata"` in the value).
    pub metadata: Option<Value>,
}

/// The value's wire shape: the reference's `DiscoveryInstance` (`#[serde(tag = "type")]`).
#[derive(Serialize, Deserialize)]
#[serde(tag = "type")]
enum Wire {
    Endpoint(WireInstance),
}

#[derive(Serialize, Deserialize)]
struct WireInstance {
    component: String,
    endpoint: String,
    namespace: String,
    instance_id: u64,
    transport: Transport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
}

impl Instance {
    /// An instance without metadata.
    pub fn new(endpoint: EndpointId, id: InstanceId, transport: Transport) -> Self {
        Self {
            endpoint,
            id,
            transport,
            metadata: None,
        }
    }

    /// The JSON value stored under the instance's key:
    /// `{"type":"Endpoint","component":..,"endpoint":..,"namespace":..,"instance_id":..,
    /// "transport":{"http":..}}` plus `"metadata"` when set.
    pub fn to_value(&self) -> Vec<u8> {
        let wire = Wire::Endpoint(WireInstance {
            component: self.endpoint.component().to_owned(),
            endpoint: self.endpoint.endpoint().to_owned(),
            namespace: self.endpoint.namespace().to_owned(),
            instance_id: self.id.0,
            transport: self.transport.clone(),
            metadata: self.metadata.clone(),
        });
        // Serialising plain strings, integers and a `Value` cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Reads a value written by [`to_value`](Self::to_value) or by the reference runtime.
    /// Fields the reference's variants add (`host`, `port`, ...) are ignored.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::InvalidValue`] when `value` is not such JSON;
    /// [`DiscoveryError::InvalidName`] when a name in it is not valid.
    pub fn from_value(key: &str, value: &[u8]) -> Result<Self, DiscoveryError> {
        let Wire::Endpoint(w) =
            serde_json::from_slice(value).map_err(|source| DiscoveryError::InvalidValue {
                key: key.to_owned(),
                source,
            })?;
        Ok(Self {
            endpoint: EndpointId::new(w.namespace, w.component, w.endpoint)?,
            id: InstanceId(w.instance_id),
            transport: w.transport,
            metadata: w.metadata,
        })
    }
}
