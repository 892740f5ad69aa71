//! Redis servers a test starts and stops itself, on free ports: a single server, a Redis
//! Cluster of three masters, and a server watched by a Sentinel.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn redis_server(args: &[&str]) -> Child {
    Command::new("redis-server")
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server runs")
}

fn stop(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = free_port();
        let mut redis = Self { port, child: None };
        redis.resume();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn resume(&mut self) {
        let port = self.port.to_string();
        self.child = Some(redis_server(&[
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]));
        wait_for_port(self.port);
    }

    pub fn stop(&mut self) {
        stop(&mut self.child);
    }

    /// Runs one command with `redis-cli`, as an operator would.
    pub fn command(&self, args: &[&str]) {
        let ran = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(ran.success(), "redis-cli {args:?} failed");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Three masters, no replicas, every slot assigned.
pub struct PrivateCluster {
    ports: Vec<u16>,
    children: Vec<Option<Child>>,
    _dir: tempfile::TempDir,
}

impl PrivateCluster {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let children = ports
            .iter()
            .map(|port| Some(cluster_member(*port, dir.path())))
            .collect();
        ports.iter().for_each(|port| wait_for_port(*port));
        let members: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&members)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(created.success(), "redis-cli --cluster create failed");
        let cluster = Self {
            ports,
            children,
            _dir: dir,
        };
        cluster.wait_until_ok();
        cluster
    }

    /// fred's cluster URL: one member in the authority, the others as `node`s.
    pub fn url(&self) -> String {
        let others: Vec<String> = self.ports[1..]
            .iter()
            .map(|p| format!("node=127.0.0.1:{p}"))
            .collect();
        format!(
            "redis-cluster://127.0.0.1:{}?{}",
            self.ports[0],
            others.join("&")
        )
    }

    fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = self.ports.iter().all(|port| {
                Command::new("redis-cli")
                    .args(["-p", &port.to_string(), "cluster", "info"])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Redis Cluster never became ok"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn cluster_member(port: u16, dir: &Path) -> Child {
    let port_arg = port.to_string();
    let config = dir.join(format!("nodes-{port}.conf"));
    let config = config.to_string_lossy();
    let dir = dir.to_string_lossy();
    redis_server(&[
        "--port",
        &port_arg,
        "--bind",
        "127.0.0.1",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        &config,
        "--dir",
        &dir,
        "--save",
        "",
        "--appendonly",
        "no",
    ])
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.children.iter_mut().for_each(stop);
    }
}

/// A Redis server and one Sentinel watching it as `switchyard-main`.
pub struct PrivateSentinel {
    _server: PrivateRedis,
    sentinel_port: u16,
    sentinel: Option<Child>,
    _dir: tempfile::TempDir,
}

pub const SENTINEL_SERVICE: &str = "switchyard-main";

impl PrivateSentinel {
    pub fn start() -> Self {
        let server = PrivateRedis::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let sentinel_port = free_port();
        let config = dir.path().join("sentinel.conf");
        std::fs::write(
            &config,
            format!(
                "port {sentinel_port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds {SENTINEL_SERVICE} 5000\n",
                dir.path().display(),
                server.port
            ),
        )
        .expect("sentinel config");
        let sentinel = redis_server(&[&config.to_string_lossy(), "--sentinel"]);
        wait_for_port(sentinel_port);
        Self {
            _server: server,
            sentinel_port,
            sentinel: Some(sentinel),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!(
            "redis-sentinel://127.0.0.1:{}/0?sentinelServiceName={SENTINEL_SERVICE}",
            self.sentinel_port
        )
    }
}

impl Drop for PrivateSentinel {
    fn drop(&mut self) {
        stop(&mut self.sentinel);
    }
}
