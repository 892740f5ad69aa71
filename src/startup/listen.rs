//! The gateway's listening socket, with an accept queue sized for reconnect storms.
//!
//! When a node restarts, every client it had comes back within a second or two. tokio's
//! `TcpListener::bind` asks for a queue of 1024; past it the kernel drops handshakes, and
//! a dropped client waits out TCP's retransmission backoff (1, 3, 7, 15 s…). The storm
//! benchmark saw a tenth of 2,000 clients come back 27 s late that way.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Connections the kernel may hold for us before we accept them; it caps this at
/// `net.core.somaxconn` (4096 by default on current kernels).
pub const ACCEPT_QUEUE: u32 = 8192;

/// Binds `addr` as `TcpListener::bind` does (address reuse on), with [`ACCEPT_QUEUE`].
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_QUEUE)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The kernel's cap on accept queues here, as configured.
    fn somaxconn() -> u32 {
        std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(4096)
    }

    /// More clients than tokio's default queue connect while nothing is accepted yet, as
    /// in the first second after a restart; every handshake completes.
    #[tokio::test]
    async fn a_burst_beyond_the_default_queue_is_held_for_accept() {
        let burst = 1500.min(somaxconn() as usize);
        let listener = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut clients = Vec::new();
        for _ in 0..burst {
            let connect = tokio::net::TcpStream::connect(addr);
            let client = tokio::time::timeout(Duration::from_millis(500), connect)
                .await
                .expect("handshake completed without an accept")
                .expect("connected");
            clients.push(client);
        }
        assert_eq!(clients.len(), burst);
        drop(listener);
    }
}
