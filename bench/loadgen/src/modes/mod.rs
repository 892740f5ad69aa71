pub mod chat;
pub mod fanout;
pub mod idle;
pub mod ping;
pub mod soak;
pub mod storm;
