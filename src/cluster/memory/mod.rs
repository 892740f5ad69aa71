//! Single-node implementations of the cluster ports, in process memory.

mod blocks;
mod few_strings;
mod history;
mod presence;
mod sessions;
mod typing;

pub use blocks::MemoryBlocks;
pub use history::MemoryHistory;
pub use presence::MemoryPresence;
pub use sessions::{MemoryPacketFeed, MemoryPacketLog, MemorySessions};
pub use typing::TypingTracker;
