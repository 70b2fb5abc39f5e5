//! Resident memory of this process, sampled on its own thread with sysinfo.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The kernel's record of this process's peak resident memory (`VmHWM`), in bytes: unlike the
/// 10 ms samples it misses no spike, such as the one while a model loads. 0 where the platform
/// does not tell.
pub fn kernel_peak_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Starts the kernel's peak over from the current resident memory (Linux: `clear_refs` 5), so
/// that [`kernel_peak_bytes`] covers what follows. False where that is not possible; the
/// peak then covers the whole process so far.
pub fn reset_kernel_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", b"5").is_ok()
}

/// Reads this process's resident set size, in bytes.
pub struct RssReader {
    system: Option<sysinfo::System>,
    pid: Option<sysinfo::Pid>,
}

impl RssReader {
    pub fn new() -> RssReader {
        RssReader {
            system: sysinfo::System::new().ok(),
            pid: sysinfo::get_current_pid().ok(),
        }
    }

    /// Current RSS in bytes; 0 where the platform does not tell.
    pub fn read(&mut self) -> u64 {
        let (Some(sys), Some(pid)) = (self.system.as_mut(), self.pid) else {
            return 0;
        };
        sys.refresh_processes_specifics(
            sysinfo::ProcessesToUpdate::Some(&[pid]),
            false,
            sysinfo::ProcessRefreshKind::nothing().with_memory(),
        );
        sys.process(pid).map(|p| p.memory()).unwrap_or(0)
    }
}

impl Default for RssReader {
    fn default() -> Self {
        Self::new()
    }
}

/// Samples RSS every `period` until dropped; keeps the latest value and the peak since the
/// last [`MemorySampler::reset_peak`].
pub struct MemorySampler {
    current: Arc<AtomicU64>,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl MemorySampler {
    pub fn start(period: Duration) -> MemorySampler {
        let current = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut reader = RssReader::new();
        let first = reader.read();
        current.store(first, Ordering::Relaxed);
        peak.store(first, Ordering::Relaxed);
        let (c, p, s) = (current.clone(), peak.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name("inferscope-memory".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    let v = reader.read();
                    c.store(v, Ordering::Relaxed);
                    p.fetch_max(v, Ordering::Relaxed);
                    std::thread::sleep(period);
                }
            })
            .ok();
        MemorySampler {
            current,
            peak,
            stop,
            handle,
        }
    }

    /// The latest sampled RSS in bytes.
    pub fn current(&self) -> u64 {
        self.current.load(Ordering::Relaxed)
    }

    /// Reads RSS now (not waiting for the next sample) and folds it into the peak.
    pub fn sample_now(&self) -> u64 {
        let v = RssReader::new().read();
        if v > 0 {
            self.current.store(v, Ordering::Relaxed);
            self.peak.fetch_max(v, Ordering::Relaxed);
        }
        self.current()
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    pub fn reset_peak(&self) {
        self.peak.store(self.current(), Ordering::Relaxed);
    }
}

impl Drop for MemorySampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_peak_sees_a_spike_the_samples_would_miss() {
        if !reset_kernel_peak() {
            return; // not Linux: nothing to read
        }
        // Other tests in this process may reset the peak at any moment: a few tries.
        let seen = (0..5).any(|_| {
            reset_kernel_peak();
            let before = kernel_peak_bytes();
            // 64 MB touched and freed at once, between any two 10 ms samples.
            let v = vec![1u8; 64 << 20];
            std::hint::black_box(&v);
            drop(v);
            kernel_peak_bytes() >= before + (60 << 20)
        });
        assert!(seen, "the kernel's peak never showed a 64 MB spike");
    }

    #[test]
    fn sees_a_large_allocation_in_the_peak() {
        let s = MemorySampler::start(Duration::from_millis(2));
        let before = s.sample_now();
        assert!(before > 1 << 20, "RSS {before}");
        s.reset_peak();
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let during = s.sample_now();
        drop(big);
        assert!(
            s.peak() >= during && during >= before + (48 << 20),
            "{before} {during}"
        );
    }
}
