//! The driver's command line: [`Options`].

use std::path::PathBuf;
use std::time::Duration;

use crate::protocol::WorkRequest;
use crate::DemoError;

/// The driver's settings (its command line).
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The service's executable.
    pub service: PathBuf,
    /// Concurrent clients.
    pub clients: usize,
    /// How long to load the service before the SIGTERM.
    pub duration: Duration,
    /// The range `cpu_ms` is drawn from (inclusive).
    pub cpu_ms: (u64, u64),
    /// The range `wait_ms` is drawn from (inclusive).
    pub wait_ms: (u64, u64),
    /// How long each client waits between connecting and sending its request (a slow
    /// client: the service has accepted the connection and has no request yet). Zero by
    /// default: the request is written as soon as the connection is made.
    pub send_delay: Duration,
}

/// The most `--send-delay-ms` accepts.
const MAX_SEND_DELAY_MS: u64 = 10_000;

impl Default for Options {
    fn default() -> Self {
        let service = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("demo-service")))
            .unwrap_or_else(|| PathBuf::from("demo-service"));
        Options {
            service,
            clients: 32,
            duration: Duration::from_secs(3),
            cpu_ms: (1, 4),
            wait_ms: (100, 800),
            send_delay: Duration::ZERO,
        }
    }
}

const USAGE: &str = "usage: demo-driver [--service PATH] [--clients N] [--duration SECS] \
[--cpu-ms A-B] [--wait-ms A-B] [--send-delay-ms N]\n\nStarts demo-service on loopback, loads \
it, sends SIGTERM mid-flight and prints what the shutdown did. DYN_* variables are passed on \
to the service.\n\n  --send-delay-ms N   each client waits N ms (0 to 10000) between connecting \
and sending its request";

impl Options {
    /// Parses the command line (without the program name).
    ///
    /// ```
    /// use std::time::Duration;
    /// use rt_demo::driver::Options;
    ///
    /// let args: Vec<String> = ["--clients", "8", "--wait-ms", "10-20", "--duration", "1.5"]
    ///     .iter().map(|s| s.to_string()).collect();
    /// let o = Options::parse(&args).unwrap();
    /// assert_eq!((o.clients, o.wait_ms, o.duration), (8, (10, 20), Duration::from_millis(1500)));
    /// assert_eq!(o.send_delay, Duration::ZERO);
    /// let o = Options::parse(&["--send-delay-ms".to_string(), "2".to_string()]).unwrap();
    /// assert_eq!(o.send_delay, Duration::from_millis(2));
    /// assert!(Options::parse(&["--clients".to_string(), "0".to_string()]).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`DemoError::Usage`] naming the bad argument.
    pub fn parse(args: &[String]) -> Result<Self, DemoError> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "--help" || flag == "-h" {
                return Err(DemoError::Usage(USAGE.to_owned()));
            }
            let value = it
                .next()
                .ok_or_else(|| DemoError::Usage(format!("{flag} needs a value\n{USAGE}")))?;
            let bad = |what: &str| DemoError::Usage(format!("{flag} {value}: {what}\n{USAGE}"));
            match flag.as_str() {
                "--service" => o.service = PathBuf::from(value),
                "--clients" => {
                    o.clients = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| bad("a number of clients from 1 to 1000"))?;
                }
                "--duration" => {
                    o.duration = value
                        .parse::<f64>()
                        .ok()
                        .filter(|s| (0.1..=600.0).contains(s))
                        .map(Duration::from_secs_f64)
                        .ok_or_else(|| bad("seconds, from 0.1 to 600"))?;
                }
                "--cpu-ms" => o.cpu_ms = range(value).ok_or_else(|| bad("a range A-B of ms"))?,
                "--wait-ms" => {
                    o.wait_ms = range(value).ok_or_else(|| bad("a range A-B of ms"))?;
                }
                "--send-delay-ms" => {
                    o.send_delay = value
                        .parse::<u64>()
                        .ok()
                        .filter(|ms| *ms <= MAX_SEND_DELAY_MS)
                        .map(Duration::from_millis)
                        .ok_or_else(|| bad("a whole number of ms, from 0 to 10000"))?;
                }
                _ => return Err(DemoError::Usage(format!("unknown flag {flag}\n{USAGE}"))),
            }
        }
        let probe = WorkRequest {
            cpu_ms: o.cpu_ms.1,
            wait_ms: o.wait_ms.1,
        };
        probe.validate().map_err(DemoError::Usage)?;
        Ok(o)
    }

    /// What each request does, for the log line and the table's header: `cpu 1-4 ms, wait
    /// 100-800 ms`, plus `, sent 2 ms after connecting` when there is a send delay.
    pub(super) fn request_mix(&self) -> String {
        let mut mix = format!(
            "cpu {}-{} ms, wait {}-{} ms",
            self.cpu_ms.0, self.cpu_ms.1, self.wait_ms.0, self.wait_ms.1
        );
        if !self.send_delay.is_zero() {
            mix.push_str(&format!(
                ", sent {} ms after connecting",
                self.send_delay.as_millis()
            ));
        }
        mix
    }
}

fn range(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, DemoError> {
        Options::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn send_delay_is_whole_ms_up_to_ten_seconds() {
        assert_eq!(parse(&[]).unwrap().send_delay, Duration::ZERO);
        let o = parse(&["--send-delay-ms", "10000"]).unwrap();
        assert_eq!(o.send_delay, Duration::from_secs(10));
        for bad in ["10001", "-1", "1.5", "x"] {
            let err = parse(&["--send-delay-ms", bad]).unwrap_err().to_string();
            assert!(err.contains(&format!("--send-delay-ms {bad}")), "{err}");
        }
        assert!(parse(&["--send-delay-ms"]).is_err());
    }

    #[test]
    fn request_mix_names_the_send_delay_only_when_there_is_one() {
        let o = parse(&["--cpu-ms", "1-4", "--wait-ms", "100-800"]).unwrap();
        assert_eq!(o.request_mix(), "cpu 1-4 ms, wait 100-800 ms");
        let o = parse(&["--send-delay-ms", "2", "--wait-ms", "5"]).unwrap();
        assert_eq!(
            o.request_mix(),
            "cpu 1-4 ms, wait 5-5 ms, sent 2 ms after connecting"
        );
    }
}
