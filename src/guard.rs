//! Keeps panics (ours or a dependency's, e.g. on a malformed model) from reaching the user:
//! they become errors that name what failed.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// How a caught panic is reported: the start of the error message [`catch`] returns.
pub const INTERNAL_ERROR: &str = "internal error while";

thread_local! {
    /// The last panic of this thread: a panic on one worker is never reported against another.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records panic messages instead of printing them; [`catch`] turns them into errors.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = match (
            info.payload().downcast_ref::<&str>(),
            info.payload().downcast_ref::<String>(),
        ) {
            (Some(s), _) => s.to_string(),
            (_, Some(s)) => s.clone(),
            _ => "unknown panic".to_string(),
        };
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|last| *last.borrow_mut() = Some(format!("{msg}{at}")));
    }));
}

/// The message of this thread's last panic, if the hook is installed and one happened.
pub fn last_panic() -> Option<String> {
    LAST_PANIC.with(|l| l.borrow_mut().take())
}

/// Runs `f`, turning a panic into an error that says what was being done.
pub fn catch<T>(what: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = last_panic()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(anyhow::anyhow!(
                "{INTERNAL_ERROR} {what}: {msg} (please report this with the model)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_becomes_an_error() {
        let r: anyhow::Result<()> = super::catch("testing", || panic!("boom"));
        let e = r.unwrap_err().to_string();
        assert!(e.starts_with(super::INTERNAL_ERROR), "{e}");
        assert!(e.contains("while testing") && e.contains("boom"), "{e}");
        assert_eq!(super::catch("x", || Ok(3)).unwrap(), 3);
    }

    #[test]
    fn a_panic_is_reported_on_its_own_thread_only() {
        super::install_hook();
        let other = std::thread::spawn(|| {
            let r: anyhow::Result<()> = super::catch("on another thread", || panic!("theirs"));
            r.unwrap_err().to_string()
        });
        let theirs = other.join().unwrap();
        assert!(theirs.contains("theirs"), "{theirs}");
        let r: anyhow::Result<()> = super::catch("here", || std::panic::panic_any(7u8));
        let e = r.unwrap_err().to_string();
        assert!(!e.contains("theirs"), "{e}");
        let _ = std::panic::take_hook();
    }
}
