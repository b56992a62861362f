//! Progress bars on standard error, only when it is a terminal and only for
//! steps long enough to need one.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Payloads below this size finish too fast for a bar.
const MIN_BAR_BYTES: u64 = 32 * 1024 * 1024;

pub struct Progress {
    enabled: bool,
}

impl Progress {
    pub fn new(wanted: bool) -> Self {
        use std::io::IsTerminal;
        Progress {
            enabled: wanted && std::io::stderr().is_terminal(),
        }
    }

    /// A spinner for a step of unknown length (Argon2).
    pub fn spinner(&self, message: &'static str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
            .with_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .expect("static template"),
            )
            .with_message(message);
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }

    /// A byte counter for a payload of `total` bytes.
    pub fn bytes(&self, message: &'static str, total: u64) -> ProgressBar {
        if !self.enabled || total < MIN_BAR_BYTES {
            return ProgressBar::hidden();
        }
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(
                ProgressStyle::with_template(
                    "{msg} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec}",
                )
                .expect("static template")
                .progress_chars("=> "),
            )
            .with_message(message)
    }
}
