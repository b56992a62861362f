//! Progress of long steps (sealing or opening a large bundle, Argon2id),
//! reported to a [`ProgressSink`] the caller supplies through its
//! [`EventSink`](crate::events::EventSink): the command line draws bars on a
//! terminal, a ceremony runner or a test stays silent (the default). The
//! library never draws anything itself.

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

/// Which long step is under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Writing a bundle: bytes of key and included files sealed so far.
    Sealing,
    /// A Nexus backup's first pass: its tag checked before any plaintext.
    Checking,
    /// Reading a bundle: bytes of the file decrypted so far.
    Opening,
    /// Argon2id over the passphrase (64 MiB); no byte count.
    DerivingKey,
    /// scrypt over a shard's passphrase (age's passphrase recipient); no byte count.
    DerivingScryptKey,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Sealing => "sealing",
            Step::Checking => "checking",
            Step::Opening => "opening",
            Step::DerivingKey => "deriving the key from the passphrase (Argon2id, 64 MiB)",
            Step::DerivingScryptKey => "deriving the key from the shard's passphrase (scrypt)",
        })
    }
}

/// Shows progress; one [`StepProgress`] per step.
pub trait ProgressSink: Send + Sync {
    /// A step begins; `total` is its size in bytes, `None` when unknown.
    fn begin(&self, step: Step, total: Option<u64>) -> Arc<dyn StepProgress>;
}

/// One step's progress.
pub trait StepProgress: Send + Sync {
    /// `bytes` more are done.
    fn advance(&self, bytes: u64);
    /// The step is over (done or failed): take its display away.
    fn finish(&self);
}

/// Shows nothing.
pub struct Silent;

struct SilentStep;

impl StepProgress for SilentStep {
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

impl ProgressSink for Silent {
    fn begin(&self, _: Step, _: Option<u64>) -> Arc<dyn StepProgress> {
        Arc::new(SilentStep)
    }
}

/// A handle on a [`ProgressSink`], cheap to clone; silent by default.
#[derive(Clone)]
pub struct Progress(Arc<dyn ProgressSink>);

impl Progress {
    pub fn new(sink: Arc<dyn ProgressSink>) -> Self {
        Progress(sink)
    }

    pub fn silent() -> Self {
        Progress(Arc::new(Silent))
    }

    /// A step of `total` bytes.
    pub fn bytes(&self, step: Step, total: u64) -> Bar {
        Bar(self.0.begin(step, Some(total)))
    }

    /// A step of unknown length.
    pub fn spinner(&self, step: Step) -> Bar {
        Bar(self.0.begin(step, None))
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::silent()
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress")
    }
}

/// One step under way; finished when dropped, if not before.
#[derive(Clone)]
pub struct Bar(Arc<dyn StepProgress>);

impl Bar {
    pub fn inc(&self, bytes: u64) {
        self.0.advance(bytes);
    }

    pub fn finish_and_clear(&self) {
        self.0.finish();
    }

    /// `inner`, counting what is read from it into this step.
    pub fn wrap_read<R: Read>(&self, inner: R) -> Counted<R> {
        Counted {
            inner,
            bar: self.clone(),
        }
    }
}

/// A reader that advances a [`Bar`] by what it reads.
pub struct Counted<R> {
    inner: R,
    bar: Bar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorded(Mutex<Vec<String>>);

    struct RecordedStep(Arc<Recorded>, Step);

    impl StepProgress for RecordedStep {
        fn advance(&self, bytes: u64) {
            self.0
                 .0
                .lock()
                .unwrap()
                .push(format!("{} +{bytes}", self.1));
        }
        fn finish(&self) {
            self.0 .0.lock().unwrap().push(format!("{} done", self.1));
        }
    }

    struct Recorder(Arc<Recorded>);

    impl ProgressSink for Recorder {
        fn begin(&self, step: Step, total: Option<u64>) -> Arc<dyn StepProgress> {
            self.0
                 .0
                .lock()
                .unwrap()
                .push(format!("{step} of {total:?}"));
            Arc::new(RecordedStep(Arc::clone(&self.0), step))
        }
    }

    #[test]
    fn a_counted_reader_reports_what_it_reads() {
        let seen = Arc::new(Recorded::default());
        let progress = Progress::new(Arc::new(Recorder(Arc::clone(&seen))));
        let bar = progress.bytes(Step::Opening, 5);
        let mut out = Vec::new();
        bar.wrap_read(&b"hello"[..]).read_to_end(&mut out).unwrap();
        bar.finish_and_clear();
        assert_eq!(out, b"hello");
        let seen = seen.0.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                "opening of Some(5)",
                "opening +5",
                "opening +0",
                "opening done"
            ]
        );
    }
}
