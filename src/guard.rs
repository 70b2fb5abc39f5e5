//! Keeps panics (ours or a dependency's, e.g. on a malformed model) from reaching the user:
//! they become errors that name what failed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

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
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("{msg}{at}"));
        }
    }));
}

/// The message of the last panic, if the hook is installed and one happened.
pub fn last_panic() -> Option<String> {
    LAST_PANIC.lock().ok().and_then(|mut l| l.take())
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
                "internal error while {what}: {msg} (please report this with the model)"
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
        assert!(e.contains("while testing") && e.contains("boom"), "{e}");
        assert_eq!(super::catch("x", || Ok(3)).unwrap(), 3);
    }
}
