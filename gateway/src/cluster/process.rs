//! One gateway of a cluster as its own `pesgw serve` process.
//!
//! The child runs in its own process group, so a Ctrl-C at the terminal reaches only the
//! process that started it, which then stops its children with SIGTERM (the signal a service
//! manager sends) and waits for them. Its stdout and stderr go to `gateway.log` in its directory.
//! Its standard input is a pipe this side holds: if the owner dies without stopping it (even
//! by SIGKILL), the child reads the end of its input and stops itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{io, ClusterError, Site};

/// How long a stopped child may take to finish its requests and flush before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running (or exited) gateway process.
#[derive(Debug)]
pub struct Process {
    /// Region of the gateway.
    pub region: String,
    /// Its HTTP API, `http://addr`.
    pub url: String,
    /// Its config file.
    pub config_path: PathBuf,
    /// Where its output goes.
    pub log_path: PathBuf,
    child: Child,
    exited: Option<ExitStatus>,
}

impl Process {
    /// Starts `exe serve --config <site>/gateway.toml` with its output in `<site>/gateway.log`
    /// (appended). `envs` are set for the child only.
    pub fn spawn(exe: &Path, site: &Site, envs: &[(&str, &str)]) -> Result<Process, ClusterError> {
        use std::os::unix::process::CommandExt as _;
        let log_path = site.dir.join("gateway.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(&log_path))?;
        let err = log.try_clone().map_err(io(&log_path))?;
        let mut cmd = Command::new(exe);
        cmd.arg("serve")
            .arg("--config")
            .arg(&site.config_path)
            .arg("--stop-on-stdin-eof")
            .current_dir(&site.dir)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(err)
            .process_group(0);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().map_err(|e| ClusterError::Process {
            region: site.region.clone(),
            message: format!("cannot run {}: {e}", exe.display()),
        })?;
        Ok(Process {
            region: site.region.clone(),
            url: site.url(),
            config_path: site.config_path.clone(),
            log_path,
            child,
            exited: None,
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status once the child has exited (checks without waiting).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Waits until `GET /readyz` answers (any status: the gateway is serving and says how it
    /// is) or until `timeout`; fails early when the child exits, with the end of its log.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), ClusterError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| self.failed(format!("HTTP client: {e}")))?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(self.failed(format!("exited ({status}) before it was ready")));
            }
            if client.get(format!("{}/readyz", self.url)).send().is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.failed(format!("not ready after {} s", timeout.as_secs())));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM (a graceful stop) without waiting.
    pub fn terminate(&mut self) {
        if self.exit_status().is_none() {
            if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
    }

    /// Waits up to `grace` for the child to exit, then kills it.
    pub fn wait_or_kill(&mut self, grace: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(s) = self.exit_status() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.exited = self.child.wait().ok();
        self.exited
    }

    /// Stops the child: SIGTERM, then SIGKILL after [`STOP_GRACE`].
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.terminate();
        self.wait_or_kill(STOP_GRACE)
    }

    /// The last `lines` lines of the child's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn failed(&self, what: String) -> ClusterError {
        let tail = self.log_tail(15);
        ClusterError::Process {
            region: self.region.clone(),
            message: if tail.is_empty() {
                what
            } else {
                format!("{what}; end of {}:\n{tail}", self.log_path.display())
            },
        }
    }
}

impl Drop for Process {
    /// A cluster never leaves gateways behind, even when its owner fails half-way.
    fn drop(&mut self) {
        if self.exit_status().is_none() {
            self.terminate();
            self.wait_or_kill(STOP_GRACE);
        }
    }
}
