//! Single-node implementations of the cluster ports, in process memory.

mod history;
mod presence;

pub use history::MemoryHistory;
pub use presence::MemoryPresence;
