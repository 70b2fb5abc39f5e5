//! Waiting for this process to go quiet before a turn of an interleaved run.
//!
//! ONNX Runtime gives every session its own intra-op thread pool, and an idle worker spins
//! for a while after each parallel section (2^20 pause instructions: about 30 ms on this
//! machine's Xeon, up to a second on CPUs with TPAUSE) before it sleeps. Alternate two sessions
//! on a 2-core machine and the first requests of each turn share the cores with the other
//! session's spinning workers: compare's p95 read 1.6x bench's on the same model. A turn
//! therefore starts only once no other thread of this process is busy, which is what a lone
//! run sees, and with the sessions' options left as users deploy them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Looks at the threads this many times a window, this far apart.
const LOOKS: u32 = 8;
const GAP: Duration = Duration::from_millis(1);
/// A thread found runnable in at least this many looks of a window is busy (a spinning worker
/// always is, on a CPU or waiting for one; the memory sampler wakes for a moment every 10 ms).
const BUSY_LOOKS: u32 = 5;

/// What waiting for quiet found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Quiet {
    /// No other thread was busy for a whole window, after waiting this long.
    Settled(Duration),
    /// Other threads were still busy when the cap ran out (another workload of this process,
    /// say); the turn starts anyway.
    Capped(Duration),
    /// This platform does not tell threads' states: nothing was waited for.
    Unknown,
}

/// The threads of this process but the calling one that are runnable now (state `R` in
/// `/proc/self/task/*/stat`: on a CPU or waiting for one). Counted into `seen`.
fn count_runnable(seen: &mut HashMap<u32, u32>) -> Option<()> {
    let me: Option<u32> = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok());
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(entry) = entry else { continue };
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if Some(tid) == me {
            continue;
        }
        // A thread may end between the listing and the read: skip it.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `tid (name) S ...`: the name may hold spaces and parentheses, the state follows the
        // last `)`.
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next());
        if state == Some("R") {
            *seen.entry(tid).or_default() += 1;
        }
    }
    Some(())
}

/// Whether a thread was runnable in [`BUSY_LOOKS`] or more of the looks.
fn any_busy(seen: &HashMap<u32, u32>) -> bool {
    seen.values().any(|&n| n >= BUSY_LOOKS)
}

/// Waits until no thread of this process other than the caller is busy for a whole window of
/// [`LOOKS`] looks, at most `cap`.
pub fn wait_for_quiet(cap: Duration) -> Quiet {
    let start = Instant::now();
    loop {
        let mut seen = HashMap::new();
        for _ in 0..LOOKS {
            if count_runnable(&mut seen).is_none() {
                return Quiet::Unknown;
            }
            std::thread::sleep(GAP);
        }
        if !any_busy(&seen) {
            return Quiet::Settled(start.elapsed());
        }
        if start.elapsed() >= cap {
            return Quiet::Capped(start.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_spinning_thread_is_waited_for_and_a_quiet_process_is_not() {
        if count_runnable(&mut HashMap::new()).is_none() {
            return; // not Linux
        }
        let spin_for = Duration::from_millis(60);
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let spinner = std::thread::spawn(move || {
            let t = Instant::now();
            s.store(true, Ordering::SeqCst);
            while t.elapsed() < spin_for {
                std::hint::spin_loop();
            }
        });
        while !started.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let t = Instant::now();
        let q = wait_for_quiet(Duration::from_secs(5));
        let waited = t.elapsed();
        spinner.join().unwrap();
        // Quiet comes only after the spinner stopped (other tests of this process may keep
        // it busy longer, never shorter); without the wait it would come after one window.
        assert!(
            waited + Duration::from_millis(5) >= spin_for,
            "{q:?} after {waited:?}, the spinner ran {spin_for:?}"
        );
        assert!(matches!(q, Quiet::Settled(_) | Quiet::Capped(_)), "{q:?}");
    }

    #[test]
    fn busy_means_most_of_the_looks() {
        assert!(!any_busy(&HashMap::from([(1, 1), (2, BUSY_LOOKS - 1)])));
        assert!(any_busy(&HashMap::from([(1, 0), (2, BUSY_LOOKS)])));
    }
}
