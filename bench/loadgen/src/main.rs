//! `loadgen`: drives a Switchyard server (or a peer speaking the same subset) with raw
//! Engine.IO v4 WebSocket clients and prints one JSON result line (`RESULT {...}`).
//!
//! Modes: `idle` (memory per connection), `ping` (ack round trips at an offered rate),
//! `fanout` (HTTP publish to many subscribers at an offered rate, zero-loss accounting),
//! `chat` (`message:send` between pairs through `/ws`, stored then delivered).

mod client;
mod modes;
mod scan;
mod setup;
mod stats;
mod tally;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

use clap::{Parser, Subcommand};

use setup::Setup;

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The server's address (host:port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// HS256 secret the server verifies tokens with.
    #[arg(long, env = "BENCH_JWT_SECRET")]
    secret: String,
    #[arg(long, default_value = "/realtime")]
    namespace: String,
    /// Local addresses to connect from, round robin (each gives ~28k ports here).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1")]
    sources: Vec<IpAddr>,
    /// Connects in flight at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Tokio worker threads (default: tokio's, one per CPU this process may run on). 1 runs
    /// everything on the main thread, for a load generator pinned to one CPU.
    #[arg(long)]
    threads: Option<NonZeroUsize>,
    /// Each WebSocket client's read buffer in bytes. tungstenite's default, 128 KiB, is
    /// allocated per connection and zero-filled up to its free room on every read, which
    /// costs memory and CPU with thousands of clients receiving ~150-byte frames; a few KiB
    /// still take dozens of queued frames per read.
    #[arg(long, default_value_t = 8 * 1024)]
    read_buffer: usize,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Open connections and hold them; memory per connection with --server-pid.
    Idle {
        #[arg(long)]
        connections: usize,
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        hold: Duration,
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// `latency:ping` acks at an offered total rate.
    Ping {
        #[arg(long)]
        connections: usize,
        #[arg(long)]
        rate: f64,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
    },
    /// `message:send` between pairs of users through `/ws` at an offered total rate.
    Chat {
        #[arg(long)]
        pairs: usize,
        #[arg(long)]
        rate: f64,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
    },
    /// Clients that ride out a server restart (done by the caller within `--drop-within`)
    /// and come back with their channel position.
    Storm {
        #[arg(long)]
        clients: usize,
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        drop_within: Duration,
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        deadline: Duration,
        /// Created once every client holds a channel position (has seen a publication),
        /// so the caller knows when a restart tests recovery for all of them.
        #[arg(long)]
        ready_file: Option<std::path::PathBuf>,
    },
    /// Mixed traffic with churn; samples the server's memory and descriptors.
    Soak {
        #[arg(long)]
        connections: usize,
        #[arg(long, default_value_t = 20)]
        churn_per_second: usize,
        #[arg(long, default_value_t = 200.0)]
        pings_per_second: f64,
        #[arg(long, default_value_t = 20.0)]
        publications_per_second: f64,
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        warmup: Duration,
        #[arg(long)]
        server_pid: u32,
    },
    /// Publications to many subscribers at an offered rate.
    Fanout {
        #[arg(long)]
        subscribers: usize,
        #[arg(long)]
        rate: f64,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
    },
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    runtime(cli.threads)?.block_on(run(cli))
}

/// The tokio runtime for `--threads`: a current-thread one for 1, so that a load
/// generator pinned to one CPU does no cross-thread wake-ups.
fn runtime(threads: Option<NonZeroUsize>) -> std::io::Result<tokio::runtime::Runtime> {
    let threads = threads.map(NonZeroUsize::get);
    let mut builder = match threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    if let Some(n) = threads.filter(|n| *n > 1) {
        builder.worker_threads(n);
    }
    builder.enable_all().build()
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let setup = Setup {
        addr: cli.addr,
        http: format!("http://{}", cli.addr),
        ns: cli.namespace,
        secret: cli.secret,
        sources: cli.sources,
        concurrency: cli.concurrency,
        read_buffer: cli.read_buffer,
    };
    let result = match cli.mode {
        Mode::Idle {
            connections,
            hold,
            server_pid,
        } => modes::idle::run(&setup, connections, hold, server_pid).await,
        Mode::Ping {
            connections,
            rate,
            duration,
        } => modes::ping::run(&setup, connections, rate, duration).await,
        Mode::Chat {
            pairs,
            rate,
            duration,
        } => modes::chat::run(&setup, pairs, rate, duration).await,
        Mode::Storm {
            clients,
            drop_within,
            deadline,
            ready_file,
        } => {
            let storm = modes::storm::Storm {
                clients,
                wait_for_drop: drop_within,
                deadline,
                ready_file,
            };
            modes::storm::run(&setup, storm).await
        }
        Mode::Soak {
            connections,
            churn_per_second,
            pings_per_second,
            publications_per_second,
            duration,
            warmup,
            server_pid,
        } => {
            let soak = modes::soak::Soak {
                connections,
                churn_per_second,
                pings_per_second,
                publications_per_second,
                duration,
                warmup,
                server_pid,
            };
            modes::soak::run(&setup, soak).await
        }
        Mode::Fanout {
            subscribers,
            rate,
            duration,
        } => modes::fanout::run(&setup, subscribers, rate, duration).await,
    };
    println!("RESULT {result}");
    Ok(())
}
