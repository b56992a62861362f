//! Stopping a run at its next safe point: Ctrl-C and SIGTERM set a flag
//! the runner checks before every step and after every answer; a second
//! signal ends the process at once, as a kill does (the transcript is then
//! left unsigned, and says so when verified).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// Exit status after a second Ctrl-C / SIGTERM (128 + SIGINT, as a shell reports it).
pub const EXIT_SECOND_SIGNAL: i32 = 130;

/// Asks a run to stop at its next safe point. Clones share one flag.
#[derive(Clone, Debug, Default)]
pub struct StopFlag {
    /// The signal that asked (0 for [`StopFlag::request`]), plus one; 0 = not asked.
    signal: Arc<AtomicUsize>,
    /// Set by the first signal: the second one then ends the process.
    armed: Arc<AtomicBool>,
}

impl StopFlag {
    /// Asks the run to stop, as a signal would (for callers and tests).
    pub fn request(&self) {
        let _ = self
            .signal
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }

    /// The signal number that asked for a stop (0: [`StopFlag::request`]), if any.
    pub fn requested(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n as i32 - 1),
        }
    }

    /// Installs the SIGINT and SIGTERM handlers for this flag: the first
    /// signal sets it, a second one exits at once with status 130.
    pub fn install(&self) -> Result<()> {
        for sig in [libc::SIGINT, libc::SIGTERM] {
            let failed = |e: std::io::Error| {
                Error::Check(format!("cannot install the handler for signal {sig}: {e}"))
            };
            // order matters: the conditional exit looks at `armed` before it is set
            signal_hook::flag::register_conditional_shutdown(
                sig,
                EXIT_SECOND_SIGNAL,
                Arc::clone(&self.armed),
            )
            .map_err(failed)?;
            signal_hook::flag::register_usize(sig, Arc::clone(&self.signal), sig as usize + 1)
                .map_err(failed)?;
            signal_hook::flag::register(sig, Arc::clone(&self.armed)).map_err(failed)?;
        }
        Ok(())
    }
}
