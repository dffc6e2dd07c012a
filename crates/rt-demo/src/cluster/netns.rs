//! [`Network`]: `demo-cluster --netns`: every worker slot in a network namespace of its own,
//! joined to this host by a veth pair on a bridge, so that the workers are separate hosts at
//! the network level (an address, a loopback and a port space each) while etcd, the router
//! and the clients stay in this namespace. Needs root (`CAP_NET_ADMIN`) and iproute2's `ip`.
//!
//! Everything it creates is named after this process's pid (`rtc{pid}b` the bridge,
//! `rtc{pid}-w{slot}` the namespaces, `rtc{pid}h{slot}`/`rtc{pid}n{slot}` the veth ends) on
//! the subnet `10.231.{20 + pid % 200}.0/24`, and deleted when the [`Network`] is dropped.
//! Traffic stays on the bridge: nothing is routed or forwarded off this host.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::DemoError;

/// The most worker slots one network holds (addresses `.10` to `.209`).
pub const MAX_SLOTS: usize = 200;

/// The bridge and the namespaces of one cluster run; deleted on drop.
#[derive(Debug)]
pub struct Network {
    tag: String,
    octet: u8,
    namespaces: Vec<Option<String>>,
    bridge: bool,
}

/// Runs `ip args...`; an error names the command and what `ip` said.
fn ip(args: &[&str]) -> Result<(), DemoError> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| DemoError::Spawn {
            program: "ip (iproute2; --netns needs it: apt-get install -y iproute2)".to_owned(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(DemoError::Usage(format!(
        "--netns: `ip {}` failed ({}): {}; --netns needs root (CAP_NET_ADMIN) and iproute2",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

impl Network {
    /// Creates the bridge with this host's address on it.
    ///
    /// # Errors
    ///
    /// [`DemoError::Spawn`] without `ip`; [`DemoError::Usage`] when `ip` refuses (not root).
    pub fn create() -> Result<Self, DemoError> {
        let pid = std::process::id();
        let mut network = Self {
            tag: format!("rtc{}", pid % 10_000_000),
            octet: u8::try_from(20 + pid % 200).unwrap_or(20),
            namespaces: Vec::new(),
            bridge: false,
        };
        let bridge = network.bridge_name();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        network.bridge = true;
        let host = format!("{}/24", network.host_ip());
        ip(&["addr", "add", &host, "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        Ok(network)
    }

    fn bridge_name(&self) -> String {
        format!("{}b", self.tag)
    }

    /// This host's address on the bridge (etcd and the router listen there).
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.octet, 1)
    }

    /// The address of worker slot `slot`.
    pub fn slot_ip(&self, slot: usize) -> Ipv4Addr {
        let last = u8::try_from(10 + slot.min(MAX_SLOTS - 1)).unwrap_or(10);
        Ipv4Addr::new(10, 231, self.octet, last)
    }

    /// The namespace of `slot`, created (with its veth pair on the bridge and its loopback up)
    /// the first time; a restarted worker of the slot gets the same namespace and address.
    ///
    /// # Errors
    ///
    /// [`DemoError::Usage`] beyond [`MAX_SLOTS`] or when `ip` refuses.
    pub fn namespace(&mut self, slot: usize) -> Result<String, DemoError> {
        if slot >= MAX_SLOTS {
            return Err(DemoError::Usage(format!(
                "--netns holds at most {MAX_SLOTS} workers"
            )));
        }
        if let Some(Some(name)) = self.namespaces.get(slot) {
            return Ok(name.clone());
        }
        if self.namespaces.len() <= slot {
            self.namespaces.resize(slot + 1, None);
        }
        let name = format!("{}-w{slot}", self.tag);
        ip(&["netns", "add", &name])?;
        self.namespaces[slot] = Some(name.clone());
        let (host_end, ns_end) = (
            format!("{}h{slot}", self.tag),
            format!("{}n{slot}", self.tag),
        );
        let address = format!("{}/24", self.slot_ip(slot));
        let bridge = self.bridge_name();
        ip(&[
            "link", "add", &host_end, "type", "veth", "peer", "name", &ns_end,
        ])?;
        let wired = ip(&["link", "set", &ns_end, "netns", &name])
            .and_then(|()| ip(&["link", "set", &host_end, "master", &bridge]))
            .and_then(|()| ip(&["link", "set", &host_end, "up"]))
            .and_then(|()| ip(&["-n", &name, "addr", "add", &address, "dev", &ns_end]))
            .and_then(|()| ip(&["-n", &name, "link", "set", &ns_end, "up"]))
            .and_then(|()| ip(&["-n", &name, "link", "set", "lo", "up"]));
        if let Err(error) = wired {
            // The pair may still be in this namespace, where deleting the other does not
            // reach it.
            let _ = ip(&["link", "del", &host_end]);
            return Err(error);
        }
        Ok(name)
    }

    /// `program` to be run in the namespace of `slot` (`ip netns exec`, which becomes the
    /// program: its pid is the program's).
    ///
    /// # Errors
    ///
    /// As [`namespace`](Self::namespace).
    pub fn command(&mut self, slot: usize, program: &Path) -> Result<Command, DemoError> {
        let name = self.namespace(slot)?;
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &name]).arg(program);
        Ok(command)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth end, and with it the pair.
        for name in self.namespaces.iter().flatten() {
            if let Err(error) = ip(&["netns", "del", name]) {
                eprintln!("demo-cluster: {error}");
            }
        }
        if self.bridge {
            if let Err(error) = ip(&["link", "del", &self.bridge_name()]) {
                eprintln!("demo-cluster: {error}");
            }
        }
    }
}
