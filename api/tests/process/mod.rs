//! `jobintel serve` as a process of its own — the real binary, for what only a process shows:
//! its memory, signals, `kill -9`, a browser in front of it. Each test file that needs it says
//! `mod process;`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `jobintel serve`, killed (and its working directory removed) when dropped.
pub struct Process {
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    dir: PathBuf,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code of the server runs.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Any child process (a `serve` a test started its own way), killed and reaped when dropped,
/// a failing test's unwinding included: a leaked server keeps its port and database.
pub struct KillOnDrop(pub Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How to start one: `$JOBINTEL_BIN` (e.g. a release build) or the test build, an empty
/// environment but for what is set here, a fresh SQLite file unless [`Serve::database`].
pub struct Serve {
    label: &'static str,
    database: Option<String>,
    env: Vec<(String, String)>,
}

impl Serve {
    /// `label` names the temporary working directory (`jobintel-<label>-…`).
    pub fn new(label: &'static str) -> Self {
        Serve {
            label,
            database: None,
            env: Vec::new(),
        }
    }

    pub fn database(mut self, url: &str) -> Self {
        self.database = Some(url.to_owned());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Spawn it and wait (up to 60 s) until `/health` answers 200.
    pub async fn start(self) -> Process {
        jobintel::install_crypto_provider();
        let dir = std::env::temp_dir().join(format!(
            "jobintel-{}-{}-{}",
            self.label,
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let database = self
            .database
            .unwrap_or_else(|| format!("sqlite://{}/jobintel.db?mode=rwc", dir.display()));
        let bin =
            std::env::var("JOBINTEL_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_jobintel").into());
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .env_clear()
            .env("DATABASE_URL", database)
            .env("JOBINTEL_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let process = Process {
            child: cmd.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/health", process.base)).await
                && r.status() == 200
            {
                return process;
            }
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
