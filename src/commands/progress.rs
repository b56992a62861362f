//! The command line's progress bars (indicatif) on standard error, only when
//! it is a terminal and only for steps long enough to need one.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::{ProgressSink, Step, StepProgress};

/// Payloads below this size finish too fast for a bar.
const MIN_BAR_BYTES: u64 = 32 * 1024 * 1024;

/// Bars on standard error when it is a terminal; nothing otherwise.
pub struct TerminalBars {
    enabled: bool,
}

impl Default for TerminalBars {
    fn default() -> Self {
        Self::new()
    }
}

impl TerminalBars {
    pub fn new() -> Self {
        use std::io::IsTerminal;
        TerminalBars {
            enabled: std::io::stderr().is_terminal(),
        }
    }
}

struct Drawn(ProgressBar);

impl StepProgress for Drawn {
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl ProgressSink for TerminalBars {
    fn begin(&self, step: Step, total: Option<u64>) -> Arc<dyn StepProgress> {
        let bar = match total {
            _ if !self.enabled => ProgressBar::hidden(),
            None => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                    .with_style(
                        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                            .expect("static template"),
                    )
                    .with_message(step.to_string());
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            }
            Some(total) if total < MIN_BAR_BYTES => ProgressBar::hidden(),
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template(
                        "{msg} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec}",
                    )
                    .expect("static template")
                    .progress_chars("=> "),
                )
                .with_message(step.to_string()),
        };
        Arc::new(Drawn(bar))
    }
}
