//! Test support for the hardware-backend tests: a pivsim card plugged into
//! the real pcscd through the vpcd reader.
//!
//! The tests need pcscd running with vsmartcard-vpcd;
//! `scripts/with-virtual-card.sh cargo test ...` provides that. Without it
//! the tests skip with a visible message, except where
//! `KEYCEREMONY_VIRTUAL_CARD=1` or `CI=true` says the daemon must be there:
//! then they fail.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use yubikey::{Serial, YubiKey};

/// One vpcd reader slot, so one card at a time across all tests of a binary.
static READER: Mutex<()> = Mutex::new(());

/// Why the hardware tests cannot run here, or `None` when they can.
fn unavailable() -> Option<String> {
    // keyceremony's PC/SC loader provides the SCard* symbols the yubikey
    // crate calls (src/pcsc_loader.rs): naming it links it into the test.
    if let Err(e) = keyceremony::pcsc_loader::load() {
        return Some(e.to_string());
    }
    let mut ctx = match yubikey::reader::Context::open() {
        Ok(ctx) => ctx,
        Err(e) => return Some(format!("pcscd is not reachable ({e})")),
    };
    let readers = match ctx.iter() {
        Ok(r) => r.map(|r| r.name().into_owned()).collect::<Vec<_>>(),
        Err(e) => return Some(format!("pcscd lists no readers ({e})")),
    };
    if !readers.iter().any(|r| r.starts_with("Virtual PCD")) {
        return Some(format!(
            "pcscd has no vpcd reader (readers: {readers:?}); is vsmartcard-vpcd installed?"
        ));
    }
    None
}

fn must_run() -> bool {
    std::env::var("KEYCEREMONY_VIRTUAL_CARD").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Takes the reader for one test, or `None` (after a visible SKIPPED line)
/// when pcscd with vpcd is not there and nobody said it must be.
pub fn reader(test: &str) -> Option<MutexGuard<'static, ()>> {
    let guard = READER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match unavailable() {
        None => Some(guard),
        Some(why) if must_run() => panic!(
            "{test}: the virtual card must be available here (CI or KEYCEREMONY_VIRTUAL_CARD=1) \
             but {why}; run the tests through scripts/with-virtual-card.sh"
        ),
        Some(why) => {
            // Straight to the stderr handle: libtest captures eprintln! of passing tests,
            // and a skip must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {why}. Run `scripts/with-virtual-card.sh cargo test` to run it."
            );
            None
        }
    }
}

/// The pivsim binary built alongside these tests.
pub fn pivsim_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pivsim"))
}

/// How to start a card.
#[derive(Clone, Debug)]
pub struct CardOptions {
    pub serial: u32,
    pub state: Option<PathBuf>,
    pub touch_never_ms: Option<u64>,
    pub remove_after: Option<u64>,
    pub remove_on_ins: Option<String>,
}

impl CardOptions {
    pub fn serial(serial: u32) -> Self {
        CardOptions {
            serial,
            state: None,
            touch_never_ms: None,
            remove_after: None,
            remove_on_ins: None,
        }
    }
}

/// A running pivsim process, stopped (by its pid) on drop.
pub struct VirtualCard {
    child: Child,
    pub serial: u32,
    log: PathBuf,
}

impl VirtualCard {
    /// Starts a card and waits until pcscd shows it.
    pub fn start(options: CardOptions, log_dir: &Path) -> VirtualCard {
        let log = log_dir.join(format!("pivsim-{}.log", options.serial));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("pivsim log file");
        let mut cmd = Command::new(pivsim_path());
        cmd.arg("--serial").arg(options.serial.to_string());
        if let Some(state) = &options.state {
            cmd.arg("--state").arg(state);
        }
        if let Some(ms) = options.touch_never_ms {
            cmd.args(["--touch", "never", "--touch-timeout-ms", &ms.to_string()]);
        }
        if let Some(n) = options.remove_after {
            cmd.args(["--remove-after", &n.to_string()]);
        }
        if let Some(ins) = &options.remove_on_ins {
            cmd.args(["--remove-on-ins", ins]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start pivsim");
        let card = VirtualCard {
            child,
            serial: options.serial,
            log,
        };
        card.wait_visible();
        card
    }

    fn wait_visible(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(yk) = YubiKey::open_by_serial(Serial(self.serial)) {
                drop(yk);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "card {} did not appear in pcscd within 15 s; pivsim log:\n{}",
                self.serial,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What pivsim logged so far (events, never secrets).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the pivsim process has ended (e.g. after a simulated removal).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Pulls the card out: stops pivsim and waits until pcscd no longer shows it.
    pub fn remove(mut self) {
        self.kill();
        wait_absent(self.serial);
    }

    fn kill(&mut self) {
        if !self.exited() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for VirtualCard {
    fn drop(&mut self) {
        let pulled_mid_command = self.exited();
        self.kill();
        wait_absent(self.serial);
        if pulled_mid_command {
            settle_reader_after_removal();
        }
    }
}

/// After a card vanished in the middle of a command, pcscd 1.9 with vpcd
/// keeps the slot in a state where the next card is polled but never
/// reported as inserted; one more insert/remove cycle clears it. This
/// inserts and removes a throwaway card so the next test starts clean.
fn settle_reader_after_removal() {
    const THROWAWAY: u32 = 1;
    let Ok(mut child) = Command::new(pivsim_path())
        .args(["--serial", &THROWAWAY.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && YubiKey::open_by_serial(Serial(THROWAWAY)).is_err() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    wait_absent(THROWAWAY);
}

/// Waits until no card with `serial` answers through pcscd.
pub fn wait_absent(serial: u32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while YubiKey::open_by_serial(Serial(serial)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "card {serial} still visible 15 s after its pivsim stopped"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
