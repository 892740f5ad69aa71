//! Test support: the server on port 0, a Socket.IO client, and a fake FCM.

pub mod app;
pub mod fake_fcm;
pub mod fault_proxy;
pub mod otlp;
pub mod process;
pub mod receiver;
pub mod scrape;
pub mod sio;

pub use app::{Db, TestApp};
pub use sio::{Connect, SioClient};

/// Defines a test once and runs it against SQLite and PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)($crate::support::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)($crate::support::Db::Postgres).await
            }
        }
    };
}
