//! Discovery across hosts: each process registers its endpoints under one lease, routers
//! watch them, and a process leaves discovery **in phase 1 of its shutdown**, before its
//! drain, so that routers stop choosing it while it finishes what it accepted.
//!
//! This crate sits above `rt-core` (which never depends on it): a service that does not use
//! discovery builds no etcd client.
//!
//! # Backends
//!
//! | `discovery_backend` | what | needs |
//! |---|---|---|
//! | `memory` (default) | [`MemoryBackend`]: an in-process store with etcd's semantics | nothing |
//! | `static` | [`StaticBackend`]: the fixed list of `discovery_static` | nothing |
//! | `etcd` | `EtcdBackend`: a real etcd, leases, prefix watches, resync | feature `etcd` (build: `protoc`) |
//!
//! # Keys and values
//!
//! As the reference runtime writes them ([`KeyLayout`], [`Instance::to_value`]):
//!
//! ```text
//! {prefix}v1/instances/{namespace}/{component}/{endpoint}/{instance_id:x}
//! {"type":"Endpoint","component":"backend","endpoint":"generate","namespace":"demo","instance_id":7587…,"transport":{"http":"http://10.0.0.5:8080/v1/rpc/generate"}}
//! ```
//!
//! # Example: a worker and a router in one process (memory backend)
//!
//! ```
//! use std::time::Duration;
//! use rt_core::config::RuntimeConfig;
//! use rt_core::Runtime;
//! use rt_discovery::{Discovery, EndpointId, LeaseState, Transport};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RuntimeConfig::builder().num_worker_threads(1).compute_threads(1).build()?;
//! let runtime = Runtime::from_config(config)?;
//! runtime.primary().block_on(async {
//!     let discovery = Discovery::from_config(&runtime).await?;
//!     let generate = EndpointId::new("demo", "backend", "generate")?;
//!
//!     // The router's side: the instance list, kept by a watch.
//!     let client = discovery.client(generate.clone());
//!
//!     // The worker's side: register once the endpoint accepts requests.
//!     let transport = Transport::Http("http://127.0.0.1:8080/v1/rpc/generate".into());
//!     let registration = discovery.register(generate, transport).await?;
//!     let instances = tokio::time::timeout(Duration::from_secs(5), client.wait_for_instances()).await??;
//!     assert_eq!(instances[0].id, registration.instance_id());
//!
//!     // SIGTERM (here: shutdown()): phase 1 deletes the key before the drain.
//!     let report = runtime.shutdown_and_wait(Some(Duration::from_secs(10))).await;
//!     assert!(report.is_clean(), "{report}");
//!     // Phase 3 closes the watch (on the secondary runtime): the last list is kept, closed.
//!     let mut watch = client.subscribe();
//!     tokio::time::timeout(Duration::from_secs(5), watch.wait_for(|i| i.is_closed())).await??;
//!     assert!(client.instances().list().is_empty());
//!     assert_eq!(discovery.state(), LeaseState::Closed);
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod backend;
mod backoff;
mod cache;
mod client;
mod discovery;
mod drain_hook;
mod endpoint_id;
mod error;
#[cfg(feature = "etcd")]
mod etcd;
mod fixed;
mod handler;
mod health;
mod instance;
mod keepalive;
mod key;
mod memory;
mod metrics;
mod plane;
mod registration;
mod reply;
mod router;
mod router_settings;
mod settings;
mod state;
mod supervise;
mod wire;

pub use backend::{Backend, BoxFuture, KvEvent, KvWatch, Lease};
pub use cache::Change;
pub use client::{InstanceClient, Instances};
pub use discovery::{Discovery, DEREGISTER_STEP, REVOKE_TEARDOWN};
pub use drain_hook::DRAIN_HOOK;
pub use endpoint_id::EndpointId;
pub use error::DiscoveryError;
#[cfg(feature = "etcd")]
pub use etcd::EtcdBackend;
pub use fixed::StaticBackend;
pub use handler::{RpcError, RpcReply, RpcRequest};
pub use instance::{Instance, InstanceId, Transport};
pub use key::KeyLayout;
pub use memory::MemoryBackend;
pub use metrics::DiscoveryMetrics;
pub use plane::{
    routed_serve_options, RequestPlane, RequestPlaneServer, PLANE_DRAIN_LINGER, RPC_SERVER_NAME,
};
pub use registration::Registration;
pub use reply::Reply;
pub use router::{Router, RouterMetrics, RouterMode};
pub use router_settings::RouterSettings;
pub use settings::{
    BackendKind, DiscoverySettings, LeaseLossPolicy, DEFAULT_ETCD_ENDPOINT, ETCD_ENDPOINTS_VAR,
};
pub use state::LeaseState;
pub use wire::{ADMITTED_HEADER, ADMITTED_VALUE, JSON_LINES, REQUEST_ID_HEADER, RPC_PATH_PREFIX};

/// `docs/discovery.md`'s example, compiled and run as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/discovery.md")]
pub struct DiscoveryDocDoctests;
