//! [`Cluster`]: a `demo-router` and its `demo-service` workers on one etcd, with the steps
//! the demo and the end-to-end tests run on them (start, watch the router's list, drain and
//! resume through the status server).

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::netns::Network;
use crate::client;
use crate::gateway::GatewayStats;
use crate::process::ServiceProcess;
use crate::protocol::REGISTERED_PREFIX;
use crate::DemoError;

/// A worker process and its instance id.
pub struct Member {
    /// Its slot (0-based): a restarted worker takes the slot of the one it replaces.
    pub slot: usize,
    /// Its name in the table: `w{slot + 1}`, a `'` per restart, a `+` per resume.
    pub label: String,
    /// The process (stopped by its pid).
    pub process: ServiceProcess,
    /// Its instance id in discovery (hex), as the router lists it.
    pub id: String,
    /// Its request listener (`POST /work`, `GET /stats`).
    pub addr: SocketAddr,
    /// The status server (`POST /drain`, `POST /resume`, `/health`), on loopback.
    pub status: Option<SocketAddr>,
}

/// What the drain-and-resume step measured.
#[derive(Clone, Debug)]
pub struct DrainResume {
    /// The worker drained.
    pub label: String,
    /// From `POST /drain` until the router stopped choosing it.
    pub stop_choosing: Duration,
    /// From `POST /drain` until its answer (200: drained).
    pub drained: Duration,
    /// Requests the worker admitted after the router dropped it (must be 0); `None` when its
    /// `GET /stats` did not answer.
    pub admitted_while_out: Option<u64>,
    /// From `POST /resume` until the router listed its new instance id.
    pub back: Duration,
    /// The instance id after the resume.
    pub new_id: String,
}

/// A `demo-router` and the `demo-service` workers it routes to, on one etcd: the demo's and
/// the end-to-end tests' fleet. Every process is stopped by its pid ([`Cluster::stop`], or
/// the [`ServiceProcess`] drop).
pub struct Cluster {
    service: PathBuf,
    env: Vec<(String, String)>,
    /// The router's public address (`POST /work`, `GET /instances`, `GET /stats`).
    pub router: SocketAddr,
    router_process: ServiceProcess,
    generation: BTreeMap<usize, usize>,
    labels: BTreeMap<String, String>,
    /// `--netns`: each worker slot in a namespace of its own.
    network: Option<Network>,
    /// The admin token of the workers' status servers (and the directory of its file) when
    /// they are not on loopback (`--netns`).
    admin: Option<(tempfile::TempDir, String)>,
}

impl Cluster {
    /// Starts `router` (a `demo-router`) on the etcd at `etcd_url`, under a prefix of its own
    /// and a lease TTL of `lease_ttl_secs`; `service` (a `demo-service`) is what
    /// [`start_worker`](Self::start_worker) runs.
    ///
    /// # Errors
    ///
    /// [`DemoError`] when the router cannot start or prints no address within 30 s.
    pub fn start(
        service: &Path,
        router: &Path,
        etcd_url: &str,
        lease_ttl_secs: u64,
    ) -> Result<Self, DemoError> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let env = vec![
            ("DYN_DISCOVERY_BACKEND".to_owned(), "etcd".to_owned()),
            (
                "DYN_DISCOVERY_ETCD_ENDPOINTS".to_owned(),
                etcd_url.to_owned(),
            ),
            (
                "DYN_DISCOVERY_PREFIX".to_owned(),
                format!(
                    "cluster-{}-{}/",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                ),
            ),
            (
                "DYN_DISCOVERY_LEASE_TTL_SECS".to_owned(),
                lease_ttl_secs.to_string(),
            ),
            ("DYN_HTTP_HOST".to_owned(), "127.0.0.1".to_owned()),
            ("DYN_HTTP_PORT".to_owned(), "0".to_owned()),
            (
                "RUST_LOG".to_owned(),
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            ),
        ];
        let mut command = Command::new(router);
        // Only what the fleet says: no DYN_* from the environment running it.
        for (key, _) in std::env::vars() {
            if key.starts_with("DYN_") {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let router_process = ServiceProcess::spawn(command)?;
        let router = router_process
            .wait_for_addresses(Duration::from_secs(30))?
            .http;
        Ok(Self {
            service: service.to_path_buf(),
            env,
            router,
            router_process,
            generation: BTreeMap::new(),
            labels: BTreeMap::new(),
            network: None,
            admin: None,
        })
    }

    /// Runs every worker slot in a network namespace of its own on `network` (each worker a
    /// separate host at the network level; `etcd_url` given to [`start`](Self::start) must be
    /// reachable from there: etcd on [`Network::host_ip`]). Their status servers are then not
    /// on loopback, so they get an admin token (a file in a temporary directory, mode 0600),
    /// which the drain and resume calls send.
    ///
    /// # Errors
    ///
    /// [`DemoError::Spawn`] when the token file cannot be written.
    pub fn with_network(mut self, network: Network) -> Result<Self, DemoError> {
        let write_error = |source| DemoError::Spawn {
            program: "the admin token file for --netns".to_owned(),
            source,
        };
        let dir = tempfile::tempdir().map_err(write_error)?;
        let state = RandomState::new();
        let token = format!(
            "{:016x}{:016x}",
            state.hash_one(std::time::SystemTime::now()),
            state.hash_one(std::process::id())
        );
        let path = dir.path().join("admin-token");
        std::fs::write(&path, &token).map_err(write_error)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(write_error)?;
        self.network = Some(network);
        self.admin = Some((dir, token));
        Ok(self)
    }

    /// The `Authorization` header for the workers' admin paths, when they need one.
    fn admin_header(&self) -> Option<String> {
        self.admin
            .as_ref()
            .map(|(_, token)| format!("Bearer {token}"))
    }

    /// The label of instance `id` (`?` when unknown).
    pub fn label(&self, id: &str) -> &str {
        self.labels.get(id).map_or("?", String::as_str)
    }

    /// Stops the router (SIGTERM, at most 30 s) and `members` (SIGTERM each, at most 30 s
    /// each), by pid.
    pub fn stop(mut self, members: &mut [Member]) {
        let _ = self.router_process.signal(Signal::SIGTERM);
        let _ = self.router_process.wait_exit(Duration::from_secs(30));
        for m in members {
            let _ = m.process.signal(Signal::SIGTERM);
            let _ = m.process.wait_exit(Duration::from_secs(30));
        }
    }

    /// Starts a worker for `slot` (its label counts the restarts of the slot) with a status
    /// server on loopback, and waits until it registered and the router lists it.
    ///
    /// # Errors
    ///
    /// [`DemoError`] when it cannot start, does not register or is not listed within 30 s.
    pub fn start_worker(&mut self, slot: usize) -> Result<Member, DemoError> {
        let generation = self.generation.entry(slot).or_insert(0);
        *generation += 1;
        let label = format!("w{}{}", slot + 1, "'".repeat(*generation - 1));
        let mut command = match &mut self.network {
            Some(network) => network.command(slot, &self.service)?,
            None => Command::new(&self.service),
        };
        for (key, _) in std::env::vars() {
            if key.starts_with("DYN_") {
                command.env_remove(key);
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        // Both servers on a free port of the worker's address: loopback, where `POST /drain`
        // and `/resume` need no token, or its namespace's address with the admin token.
        let host = self
            .network
            .as_ref()
            .map_or_else(|| "127.0.0.1".to_owned(), |n| n.slot_ip(slot).to_string());
        command
            .env("DYN_HTTP_HOST", &host)
            .env("DYN_SYSTEM_HOST", &host)
            .env("DYN_SYSTEM_PORT", "0");
        if let Some((dir, _)) = &self.admin {
            command.env(
                "DYN_SYSTEM_ADMIN_TOKEN_FILE",
                dir.path().join("admin-token"),
            );
        }
        let process = ServiceProcess::spawn(command)?;
        let addresses = process.wait_for_addresses(Duration::from_secs(30))?;
        let addr = addresses.http;
        let line = process.wait_for_line(
            "the `registered instance` line",
            Duration::from_secs(30),
            |l| l.text.starts_with(REGISTERED_PREFIX),
        )?;
        let id = line
            .text
            .trim_start_matches(REGISTERED_PREFIX)
            .trim()
            .to_owned();
        self.labels.insert(id.clone(), label.clone());
        let member = Member {
            slot,
            label,
            process,
            id,
            addr,
            status: addresses.status,
        };
        self.wait_router_sees(&member.id, true, Duration::from_secs(30))?;
        Ok(member)
    }

    /// The instance ids the router's watch cache holds now (its `GET /instances`); empty when
    /// it does not answer.
    pub fn router_instances(&self) -> Vec<String> {
        client::get(self.router, "/instances", Duration::from_secs(2))
            .ok()
            .and_then(|r| r.json::<serde_json::Value>().ok())
            .and_then(|v| {
                v["instances"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// Polls the router's list (every 2 ms) until `id` is in it (`present`) or not; returns
    /// how long that took.
    ///
    /// # Errors
    ///
    /// [`DemoError::WaitTimeout`] after `bound`.
    pub fn wait_router_sees(
        &self,
        id: &str,
        present: bool,
        bound: Duration,
    ) -> Result<Duration, DemoError> {
        let started = Instant::now();
        while started.elapsed() < bound {
            if self.router_instances().iter().any(|i| i == id) == present {
                return Ok(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Err(DemoError::WaitTimeout {
            what: format!(
                "the router to {} instance {id}",
                if present { "list" } else { "drop" }
            ),
            after: bound,
        })
    }

    /// The router's counters (zero when it does not answer).
    pub fn stats(&self) -> GatewayStats {
        router_stats(self.router)
    }

    /// Drains `member` through its status server under load, checks that the router stops
    /// choosing it, that it stays alive with `/health` 503 `drained` and admits nothing more,
    /// then resumes it and waits until the router lists its new instance id (which `member`
    /// takes).
    ///
    /// # Errors
    ///
    /// [`DemoError`] when a call fails, `/health` is not 503 `drained`, the worker exits, or
    /// the router does not drop or list it again within 30 s.
    pub fn drain_and_resume(&mut self, member: &mut Member) -> Result<DrainResume, DemoError> {
        let status = member.status.ok_or_else(|| DemoError::MalformedResponse {
            detail: format!("{} printed no status server address", member.label),
        })?;
        let started = Instant::now();
        // `POST /drain` answers once drained (200) or after its own bound (202): wait for it
        // on another thread while this one watches the router.
        let authorization = self.admin_header();
        let drain = std::thread::spawn(move || {
            let answer = admin_call(status, "/drain", authorization.as_deref());
            (answer, started.elapsed())
        });
        let stop_choosing = self.wait_router_sees(&member.id, false, Duration::from_secs(30));
        let admitted_at_deletion = worker_admitted(status);
        let (answer, drained) = drain.join().map_err(|_| DemoError::MalformedResponse {
            detail: "the POST /drain thread panicked".to_owned(),
        })?;
        let stop_choosing = stop_choosing?;
        let answer = answer?;
        if answer.status != 200 {
            return Err(DemoError::MalformedResponse {
                detail: format!(
                    "POST /drain on {} answered {}: {}",
                    member.label,
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ),
            });
        }
        // Out of rotation for a while under load: alive, drained, nothing admitted.
        std::thread::sleep(Duration::from_millis(500));
        let health = client::get(status, "/health", Duration::from_secs(2))?;
        let health_text = String::from_utf8_lossy(&health.body).into_owned();
        if health.status != 503 || !health_text.contains("\"drained\"") {
            return Err(DemoError::MalformedResponse {
                detail: format!(
                    "{} drained: /health answered {} {health_text}, not 503 drained",
                    member.label, health.status
                ),
            });
        }
        if let Some(exit) = member.process.try_exit() {
            return Err(DemoError::MalformedResponse {
                detail: format!("{} exited ({}) while drained", member.label, exit.code()),
            });
        }
        let admitted_while_out = worker_admitted(status)
            .zip(admitted_at_deletion)
            .map(|(after, at)| after.saturating_sub(at));
        // Resume: the router must list a new instance id for it.
        let before: Vec<String> = self.router_instances();
        let resumed = Instant::now();
        let answer = admin_call(status, "/resume", self.admin_header().as_deref())?;
        if answer.status != 200 {
            return Err(DemoError::MalformedResponse {
                detail: format!(
                    "POST /resume on {} answered {}: {}",
                    member.label,
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ),
            });
        }
        let bound = Duration::from_secs(30);
        let new_id = loop {
            if let Some(id) = self
                .router_instances()
                .into_iter()
                .find(|i| !before.contains(i) && *i != member.id)
            {
                break id;
            }
            if resumed.elapsed() > bound {
                return Err(DemoError::WaitTimeout {
                    what: format!("the router to list {} again after its resume", member.label),
                    after: bound,
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let back = resumed.elapsed();
        let label = format!("{}+", member.label);
        self.labels.insert(new_id.clone(), label);
        member.id.clone_from(&new_id);
        Ok(DrainResume {
            label: member.label.clone(),
            stop_choosing,
            drained,
            admitted_while_out,
            back,
            new_id,
        })
    }
}

/// `POST path` on a worker's status server (`/drain` answers once drained, within 40 s),
/// with `authorization` when its admin paths need a token.
fn admin_call(
    status: SocketAddr,
    path: &str,
    authorization: Option<&str>,
) -> Result<client::Response, DemoError> {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| ("Authorization", value))
        .into_iter()
        .collect();
    client::request_with_headers(
        status,
        "POST",
        path,
        None,
        &headers,
        Duration::from_secs(40),
    )
}

/// The requests the worker whose status server is `status` has admitted so far: the sum of
/// `dyn_runtime_http_requests_admitted` of its request servers on its `/metrics` (not the
/// status server's own, `server="status"`, which counts these very calls); the status server
/// keeps answering while the worker is drained, when its request listener refuses everything.
fn worker_admitted(status: SocketAddr) -> Option<u64> {
    let metrics = client::get(status, "/metrics", Duration::from_secs(2))
        .ok()
        .filter(|r| r.status == 200)?;
    let text = String::from_utf8_lossy(&metrics.body);
    let samples: Vec<u64> = text
        .lines()
        .filter(|l| {
            l.starts_with("dyn_runtime_http_requests_admitted") && !l.contains("server=\"status\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .collect();
    (!samples.is_empty()).then(|| samples.iter().sum())
}

/// The counters of the router at `router` (zero when it does not answer).
pub fn router_stats(router: SocketAddr) -> GatewayStats {
    client::get(router, "/stats", Duration::from_secs(2))
        .ok()
        .and_then(|r| r.json().ok())
        .unwrap_or_default()
}
