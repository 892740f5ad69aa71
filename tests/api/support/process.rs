//! The gateway binary as a child process, for what is per process: the tracing
//! subscriber (log format, trace export) and signals.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::app::SECRET;

pub struct Gateway {
    child: Child,
    pub addr: String,
    /// Every stdout line so far.
    pub lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// Starts the binary on SQLite with `env` added; `find_addr` reads the listening
    /// address from a stdout line.
    pub fn spawn(
        env: &[(&str, String)],
        find_addr: impl Fn(&str) -> Option<String> + Send + 'static,
    ) -> Gateway {
        // For the test's own HTTP client.
        switchyard::tls::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        command
            .env("SWITCHYARD_BIND", "127.0.0.1:0")
            .env(
                "SWITCHYARD_DATABASE_URL",
                format!("sqlite://{}/g.db", dir.path().display()),
            )
            .env("SWITCHYARD_JWT_SECRET", SECRET)
            .env("SWITCHYARD_DRAIN_RECONNECT_SPREAD_MS", "200")
            .env("NO_COLOR", "1")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .stdout(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("gateway process starts");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let seen = lines.clone();
        // Keeps reading so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = find_addr(&line) {
                    let _ = tx.send(addr);
                }
                seen.lock().expect("lines").push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("listening address logged");
        Gateway {
            child,
            addr,
            lines,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: gone at once, nothing cleaned up.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("wait")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "clean exit: {status:?}");
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "exits");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address of the gateway's `listening on http://…` line.
pub fn listening_addr(line: &str) -> Option<String> {
    line.split("listening on http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
}

/// An HS256 token for `sub` with `roles`, valid for ten minutes.
pub fn token(sub: &str, roles: &[&str]) -> String {
    let claims = json!({
        "sub": sub,
        "roles": roles,
        "exp": jsonwebtoken::get_current_timestamp() + 600,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("token")
}
