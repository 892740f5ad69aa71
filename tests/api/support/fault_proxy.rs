//! A TCP proxy on 127.0.0.1:0 in front of one dependency (Redis, PostgreSQL) that
//! injects network faults while a test runs: added latency, paused or blackholed
//! traffic, and reset connections. A node under test is pointed at [`FaultProxy::addr`]
//! instead of the dependency; the test then breaks and heals the path at will.
//!
//! Faults, as an operator would meet them:
//! - `delay(d)`: every chunk reaches the other side `d` after the proxy read it, in each
//!   direction (a slow link, not a slow one-way pipe: throughput is not limited).
//! - `pause()` / `resume()`: bytes stop moving and the proxy stops reading, so senders
//!   feel back-pressure; connections stay open and everything held flows on `resume`.
//! - `blackhole()`: a partition that drops no connection and answers nothing: the proxy
//!   keeps reading (a sender's writes succeed) but holds every byte, and new connections
//!   are accepted without reaching the dependency. No reset. `heal()` delivers what was
//!   held, late, as TCP retransmission would: the case where a request its caller gave
//!   up on still reaches the dependency.
//! - `cut()`: every current connection is reset (RST); new ones are accepted as usual.
//! - `heal()`: no delay, no pause, no blackhole.
//!
//! `only_connections_that_sent(needle)` narrows delay, pause and blackhole to the
//! connections open at that moment whose client has sent `needle` (among its first
//! 64 KiB): one connection of a node, its pub/sub subscriber say, lost (a half-open TCP
//! connection, a NAT that forgot it) while its others and any new one still answer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Chunks a direction holds while paused or blackholed (up to 16 KiB each): past this the
/// proxy stops reading, as a full socket buffer would.
const HELD_CHUNKS: usize = 1024;
const CHUNK: usize = 16 * 1024;
/// What a connection's client sent that a scope is matched against, at most.
const TRANSCRIPT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Flowing,
    Paused,
    Blackhole,
}

#[derive(Clone)]
struct Faults {
    mode: Mode,
    delay: Duration,
    /// Bumped by `cut()`: a connection opened under an older value is reset.
    cuts: u64,
    /// Delay, pause and blackhole hold only the connections in this scope.
    only: Option<Scope>,
}

#[derive(Clone)]
struct Scope {
    needle: Arc<[u8]>,
    /// Connections are numbered as accepted; those from this one on are not in scope.
    opened_before: u64,
}

/// A connection's number and the first bytes its client sent, to match a scope against.
struct Transcript {
    number: u64,
    sent: Mutex<Vec<u8>>,
}

impl Transcript {
    fn new(number: u64) -> Self {
        Self {
            number,
            sent: Mutex::default(),
        }
    }

    fn record(&self, bytes: &[u8]) {
        let mut sent = self.sent.lock().expect("transcript");
        let room = TRANSCRIPT.saturating_sub(sent.len());
        sent.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Whether `faults` hold this connection.
    fn held_by(&self, faults: &Faults) -> bool {
        let Some(scope) = &faults.only else {
            return true;
        };
        let sent = self.sent.lock().expect("transcript");
        self.number < scope.opened_before
            && sent
                .windows(scope.needle.len())
                .any(|w| w == &scope.needle[..])
    }
}

pub struct FaultProxy {
    addr: SocketAddr,
    faults: watch::Sender<Faults>,
    /// Connections accepted so far.
    accepted: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy in front of `upstream`, passing everything through until told otherwise.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let (faults, _) = watch::channel(Faults {
            mode: Mode::Flowing,
            delay: Duration::ZERO,
            cuts: 0,
            only: None,
        });
        let accepted = Arc::new(AtomicU64::new(0));
        let accept = tokio::spawn(accept_loop(
            listener,
            upstream,
            faults.subscribe(),
            accepted.clone(),
        ));
        FaultProxy {
            addr,
            faults,
            accepted,
            accept,
        }
    }

    /// Where clients connect instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn delay(&self, delay: Duration) {
        self.faults.send_modify(|f| f.delay = delay);
    }

    pub fn pause(&self) {
        self.faults.send_modify(|f| f.mode = Mode::Paused);
    }

    pub fn resume(&self) {
        self.faults.send_modify(|f| f.mode = Mode::Flowing);
    }

    pub fn blackhole(&self) {
        self.faults.send_modify(|f| f.mode = Mode::Blackhole);
    }

    /// From now on, delay, pause and blackhole hold only the connections open now whose
    /// client has sent `needle`; `cut` still resets all.
    pub fn only_connections_that_sent(&self, needle: &[u8]) {
        let scope = Scope {
            needle: needle.into(),
            opened_before: self.accepted.load(Ordering::SeqCst),
        };
        self.faults.send_modify(|f| f.only = Some(scope));
    }

    pub fn cut(&self) {
        self.faults.send_modify(|f| f.cuts += 1);
    }

    pub fn heal(&self) {
        self.faults.send_modify(|f| {
            f.mode = Mode::Flowing;
            f.delay = Duration::ZERO;
        });
    }
}

impl Drop for FaultProxy {
    /// Aborting the accept loop drops its set of connections, which resets them all.
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    faults: watch::Receiver<Faults>,
    accepted: Arc<AtomicU64>,
) {
    let mut connections = JoinSet::new();
    while let Ok((client, _)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        let sent = Transcript::new(accepted.fetch_add(1, Ordering::SeqCst));
        connections.spawn(serve(client, upstream, faults.clone(), sent));
    }
}

/// One proxied connection, until either side closes it or a `cut()` resets it.
async fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    mut faults: watch::Receiver<Faults>,
    sent: Transcript,
) {
    let born = faults.borrow().cuts;
    let mut cut = faults.clone();
    let cut = async move {
        let _ = cut.wait_for(|f| f.cuts != born).await;
    };
    tokio::select! {
        _ = cut => {}
        _ = relay(client, upstream, &mut faults, &sent) => {}
    }
    // Both sockets have zero linger: dropping them here sends RST, not FIN.
}

async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    faults: &mut watch::Receiver<Faults>,
    sent: &Transcript,
) {
    // A blackholed connection is accepted and held; the upstream never hears of it. A
    // scope holds no new connection.
    if faults
        .wait_for(|f| f.mode != Mode::Blackhole || f.only.is_some())
        .await
        .is_err()
    {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    for stream in [&client, &server] {
        let _ = stream.set_zero_linger();
        let _ = stream.set_nodelay(true);
    }
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(client_read, server_write, faults.clone(), sent, true),
        pump(server_read, client_write, faults.clone(), sent, false),
    );
}

/// One direction: a reader stamps each chunk with when it was read, a writer passes it on
/// once traffic flows and the delay since that stamp has passed. The client's direction
/// records what it sent in `sent`.
async fn pump(
    from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    faults: watch::Receiver<Faults>,
    sent: &Transcript,
    from_client: bool,
) {
    let (held, mut release) = mpsc::channel::<(Instant, Vec<u8>)>(HELD_CHUNKS);
    let reader = read_chunks(from, held, faults.clone(), sent, from_client);
    let mut faults = faults;
    let writer = async move {
        while let Some((read_at, bytes)) = release.recv().await {
            let delay = match faults
                .wait_for(|f| f.mode == Mode::Flowing || !sent.held_by(f))
                .await
            {
                Ok(now) if sent.held_by(&now) => now.delay,
                Ok(_) => Duration::ZERO,
                Err(_) => return,
            };
            tokio::time::sleep_until(read_at + delay).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

async fn read_chunks(
    mut from: OwnedReadHalf,
    held: mpsc::Sender<(Instant, Vec<u8>)>,
    mut faults: watch::Receiver<Faults>,
    sent: &Transcript,
    from_client: bool,
) {
    let mut buf = vec![0; CHUNK];
    loop {
        // Paused: stop reading, so the sender's buffers fill as on a stalled link.
        if faults
            .wait_for(|f| f.mode != Mode::Paused || !sent.held_by(f))
            .await
            .is_err()
        {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if from_client {
            sent.record(&buf[..n]);
        }
        if held
            .send((Instant::now(), buf[..n].to_vec()))
            .await
            .is_err()
        {
            return;
        }
    }
}
