//! The request plane's wire conventions, shared by the worker side ([`RequestPlane`]) and the
//! router ([`Router`]).
//!
//! [`RequestPlane`]: crate::RequestPlane
//! [`Router`]: crate::Router

/// The path under which a worker serves its endpoints: `POST /v1/rpc/{endpoint}` (the
/// reference runtime's HTTP request plane root).
pub const RPC_PATH_PREFIX: &str = "/v1/rpc/";

/// The header the request plane puts on **every** answer of an endpoint's handler (success or
/// error): `x-dyn-rpc: admitted`. A `503` without it was written by the HTTP edge before
/// admission (the drain's `{"error":"shutting_down"}` refusal): the request never reached a
/// handler, so the router may send it to another instance. The request plane's handlers never
/// answer 503 themselves.
pub const ADMITTED_HEADER: &str = "x-dyn-rpc";

/// The value of [`ADMITTED_HEADER`].
pub const ADMITTED_VALUE: &str = "admitted";

/// The request id header, forwarded by the router when the caller gives one.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The content type of a streamed reply: one JSON value per line, sent chunked.
pub const JSON_LINES: &str = "application/jsonl";

/// The path of `endpoint` on the request plane: `/v1/rpc/{endpoint}`.
pub(crate) fn rpc_path(endpoint: &str) -> String {
    format!("{RPC_PATH_PREFIX}{endpoint}")
}
