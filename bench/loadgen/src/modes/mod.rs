pub mod chat;
pub mod fanout;
pub mod idle;
pub mod ping;
pub mod storm;
pub mod soak;
