//! Fan-out accounting, done in each connection's reader task as a frame arrives: which
//! publication numbers a subscriber got (a bitset), how many twice, and the latency of
//! each first arrival into a histogram shared by a few subscribers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::stats::Latency;

/// Numbers above this are not tracked (counted as unexpected): a garbled number must not
/// make one subscriber allocate gigabytes. 2^24 bits is 2 MiB.
const MAX_SEQ: u64 = 1 << 24;

/// The publication numbers one subscriber received: one bit per number, so any order of
/// arrival is accounted for exactly, in 1/8 byte per publication.
#[derive(Default)]
pub struct SeqSet {
    words: Vec<u64>,
    distinct: u64,
    duplicates: u64,
    unexpected: u64,
}

impl SeqSet {
    /// Room for numbers up to `max_seq` up front, so that recording does not allocate.
    pub fn with_max(max_seq: u64) -> Self {
        let words = max_seq.min(MAX_SEQ) / 64 + 1;
        Self {
            words: vec![0; words as usize],
            ..Self::default()
        }
    }

    /// Marks `seq` received; true the first time, false for a duplicate or an unexpected one.
    pub fn insert(&mut self, seq: u64) -> bool {
        if seq > MAX_SEQ {
            self.unexpected += 1;
            return false;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        if self.words[word] & bit != 0 {
            self.duplicates += 1;
            return false;
        }
        self.words[word] |= bit;
        self.distinct += 1;
        true
    }
}

/// What every subscriber of a run shares: the latency histograms and the stop flag.
pub struct Board {
    stopped: AtomicBool,
    /// A histogram is ~190 KB (1 µs to 1 h at 3 digits): one per subscriber was most of the
    /// load generator's memory at 5,000 subscribers. A few shared ones, picked by
    /// subscriber index, keep the locks all but uncontended.
    shards: Vec<Mutex<Latency>>,
}

/// The run's totals, once stopped.
#[derive(Default)]
pub struct Totals {
    pub distinct: u64,
    pub duplicates: u64,
    pub unexpected: u64,
    pub latency: Latency,
}

impl Totals {
    /// Of `expected` deliveries, how many never arrived.
    pub fn lost(&self, expected: u64) -> u64 {
        expected.saturating_sub(self.distinct)
    }
}

impl Board {
    pub fn new(shards: usize) -> Arc<Self> {
        Arc::new(Self {
            stopped: AtomicBool::new(false),
            shards: (0..shards.max(1)).map(|_| Mutex::default()).collect(),
        })
    }

    /// Stops all accounting and sums it. Each subscriber's lock is taken once after the
    /// flag is set, so a delivery is either wholly counted or not at all.
    pub fn finish(&self, subscribers: &[Arc<Subscriber>]) -> Totals {
        self.stopped.store(true, Ordering::SeqCst);
        let mut totals = Totals::default();
        for s in subscribers {
            let seqs = lock(&s.seqs);
            totals.distinct += seqs.distinct;
            totals.duplicates += seqs.duplicates;
            totals.unexpected += seqs.unexpected;
        }
        for shard in &self.shards {
            totals.latency.merge(&lock(shard));
        }
        totals
    }
}

/// One subscriber's accounting, written by its reader task.
pub struct Subscriber {
    seqs: Mutex<SeqSet>,
    board: Arc<Board>,
    shard: usize,
}

impl Subscriber {
    pub fn new(board: &Arc<Board>, index: usize, max_seq: u64) -> Arc<Self> {
        Arc::new(Self {
            seqs: Mutex::new(SeqSet::with_max(max_seq)),
            board: board.clone(),
            shard: index % board.shards.len(),
        })
    }

    /// Accounts for publication `seq`, due at `sent_us`, arriving at `now_us`.
    pub fn record(&self, sent_us: u64, seq: u64, now_us: u64) {
        let mut seqs = lock(&self.seqs);
        if self.board.stopped.load(Ordering::SeqCst) || !seqs.insert(seq) {
            return;
        }
        lock(&self.board.shards[self.shard]).record_us(now_us.saturating_sub(sent_us));
    }
}

/// A panic elsewhere must not hide the figures gathered so far.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lost_duplicate_and_out_of_order_numbers() {
        let mut seqs = SeqSet::with_max(10);
        for seq in [3, 1, 2, 2, 5, 1] {
            seqs.insert(seq);
        }
        assert_eq!((seqs.distinct, seqs.duplicates), (4, 2));
    }

    #[test]
    fn grows_past_its_first_size_and_refuses_absurd_numbers() {
        let mut seqs = SeqSet::with_max(1);
        assert!(seqs.insert(64));
        assert!(seqs.insert(1000));
        assert!(!seqs.insert(1000));
        assert!(!seqs.insert(u64::MAX));
        assert_eq!((seqs.distinct, seqs.duplicates, seqs.unexpected), (2, 1, 1));
        assert!(seqs.words.len() <= 1000 / 64 + 1);
    }

    #[test]
    fn sums_subscribers_and_ignores_what_arrives_after_the_stop() {
        let board = Board::new(2);
        let subs: Vec<_> = (0..3).map(|i| Subscriber::new(&board, i, 4)).collect();
        for s in &subs {
            s.record(1_000, 1, 3_000);
            s.record(1_000, 2, 5_000);
        }
        subs[0].record(1_000, 2, 9_000);
        let totals = board.finish(&subs);
        subs[1].record(1_000, 3, 9_000);
        assert_eq!((totals.distinct, totals.duplicates), (6, 1));
        assert_eq!(
            totals.lost(8),
            2,
            "2 of 4 numbers × 2 subscribers never came"
        );
        assert_eq!(totals.lost(5), 0, "more than expected is not negative loss");
        assert_eq!(totals.latency.count(), 6, "one latency per first arrival");
        assert_eq!(
            board.finish(&subs).distinct,
            6,
            "nothing counted after the stop"
        );
        let p99 = totals.latency.summary()["p99_ms"]
            .as_f64()
            .expect("a number");
        assert!((3.9..=4.1).contains(&p99), "p99 {p99} ms");
    }
}
