//! pivsim: a simulated YubiKey 5 PIV card for tests, plugged into pcscd
//! through vsmartcard's `vpcd` reader driver.
//!
//! Test support only. It lets the unchanged `yubikey`-crate backend (and
//! `yubico-piv-tool`) run against a real pcscd without hardware. It keeps
//! its keys and PINs in the clear (in memory, or in the `--state` file) and
//! its attestation chain is self-made, not Yubico's. See docs/virtual-card.md.

mod apdu;
mod attest;
mod piv;
mod state;
mod tlv;
mod vpcd;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use apdu::Transport;
use piv::{Piv, Touch};
use state::{CardState, Store};
use vpcd::Message;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TouchMode {
    /// Every touch request is answered at once.
    Given,
    /// No touch ever comes: operations that need one fail after --touch-timeout-ms.
    Never,
}

/// A simulated YubiKey 5 PIV card for tests (NOT a security device).
#[derive(Parser, Debug)]
#[command(name = "pivsim", version)]
struct Args {
    /// TCP port of the vpcd reader slot (35963 is the first slot, 35964 the second).
    #[arg(long, default_value_t = 35963)]
    port: u16,

    /// Serial number of a new card [default: 10000001]; a card loaded from
    /// --state keeps its own, and a different --serial is refused.
    #[arg(long)]
    serial: Option<u32>,

    /// Firmware version reported by GET VERSION, as MAJOR.MINOR.PATCH (5.x).
    #[arg(long, default_value = "5.4.3", value_parser = parse_version)]
    firmware: [u8; 3],

    /// Keep the card's state (keys, PINs, objects) in this JSON file across restarts.
    #[arg(long)]
    state: Option<PathBuf>,

    /// How the simulated holder answers touch requests.
    #[arg(long, value_enum, default_value_t = TouchMode::Given)]
    touch: TouchMode,

    /// With --touch never: how long the card waits for the touch (a YubiKey waits about 15 s).
    #[arg(long, default_value_t = 15_000)]
    touch_timeout_ms: u64,

    /// Pull the card out when the N-th command APDU arrives (that command is never answered).
    #[arg(long, value_name = "N")]
    remove_after: Option<u64>,

    /// Pull the card out when the first command with this instruction arrives,
    /// e.g. `87` (GENERAL AUTHENTICATE) or `87:11` (also matching P1).
    #[arg(long, value_name = "INS[:P1]", value_parser = parse_ins)]
    remove_on_ins: Option<(u8, Option<u8>)>,

    /// How long to keep trying to reach the vpcd socket at start.
    #[arg(long, default_value_t = 10_000)]
    connect_timeout_ms: u64,

    /// Log every APDU's instruction and status word (never its data) to stderr.
    #[arg(long, short)]
    verbose: bool,
}

fn parse_version(s: &str) -> Result<[u8; 3], String> {
    let parts: Vec<u8> = s
        .split('.')
        .map(|p| p.parse::<u8>().map_err(|e| format!("{s}: {e}")))
        .collect::<Result<_, _>>()?;
    match parts.as_slice() {
        [5, minor, patch] => Ok([5, *minor, *patch]),
        _ => Err(format!(
            "{s}: give a YubiKey 5 firmware version such as 5.4.3"
        )),
    }
}

fn parse_ins(s: &str) -> Result<(u8, Option<u8>), String> {
    let byte = |h: &str| u8::from_str_radix(h, 16).map_err(|e| format!("{h}: {e}"));
    match s.split_once(':') {
        Some((ins, p1)) => Ok((byte(ins)?, Some(byte(p1)?))),
        None => Ok((byte(s)?, None)),
    }
}

fn connect(port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let start = Instant::now();
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) if start.elapsed() >= timeout => {
                return Err(format!(
                    "cannot reach the vpcd reader at 127.0.0.1:{port}: {e}; \
                     is pcscd running with vsmartcard-vpcd installed?"
                ))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// vpcd writes the length and the payload in two sends; with Nagle on its
/// side and delayed ACKs on ours every APDU would wait about 40 ms. Asking
/// for quick ACKs (re-armed before each read, as Linux clears it) avoids that.
fn quick_ack(stream: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let one: libc::c_int = 1;
        // SAFETY: a valid socket descriptor and a c_int option value of the right size.
        unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

fn run(args: Args) -> Result<String, String> {
    let store = match &args.state {
        Some(path) => Store::file(path),
        None => Store::memory(),
    };
    let state = match store.load()? {
        Some(s) => {
            if let Some(asked) = args.serial.filter(|&asked| asked != s.serial) {
                return Err(format!(
                    "{}: holds card {}, not --serial {asked}",
                    args.state.as_ref().expect("loaded from a file").display(),
                    s.serial
                ));
            }
            s
        }
        None => {
            let s = CardState::factory(args.serial.unwrap_or(10_000_001), args.firmware);
            store.save(&s)?;
            s
        }
    };
    let serial = state.serial;
    let touch = match args.touch {
        TouchMode::Given => Touch::Given,
        TouchMode::Never => Touch::Never(Duration::from_millis(args.touch_timeout_ms)),
    };
    let mut card = Piv::new(state, store, touch);
    let mut transport = Transport::default();

    let mut stream = connect(args.port, Duration::from_millis(args.connect_timeout_ms))?;
    eprintln!(
        "pivsim: card {serial} (firmware {}) inserted into vpcd at 127.0.0.1:{}",
        card.state.version.map(|v| v.to_string()).join("."),
        args.port
    );

    let mut commands: u64 = 0;
    loop {
        quick_ack(&stream);
        let message =
            vpcd::read_message(&mut stream).map_err(|e| format!("reading from vpcd: {e}"))?;
        if args.verbose {
            if let Some(m) = message.as_ref().filter(|m| !matches!(m, Message::Apdu(_))) {
                eprintln!("pivsim: vpcd control {m:?}");
            }
        }
        let reply = match message {
            None => return Ok(format!("card {serial}: the reader closed the connection")),
            Some(Message::GetAtr) => Some(vpcd::YUBIKEY5_ATR.to_vec()),
            Some(Message::PowerOff | Message::PowerOn | Message::Reset) => {
                card.power_cycle();
                transport.clear();
                None
            }
            Some(Message::UnknownControl(code)) => {
                eprintln!("pivsim: ignoring unknown vpcd control code {code}");
                None
            }
            Some(Message::Apdu(raw)) => {
                commands += 1;
                let removal_by_count = args.remove_after.is_some_and(|n| commands >= n);
                let removal_by_ins = args.remove_on_ins.is_some_and(|(ins, p1)| {
                    raw.len() >= 4 && raw[1] == ins && p1.is_none_or(|p| raw[2] == p)
                });
                if removal_by_count || removal_by_ins {
                    // Dropping the socket is what vpcd sees when a card is pulled out.
                    drop(stream);
                    return Ok(format!(
                        "card {serial} removed at command {commands} (INS {:02x}), as asked",
                        raw.get(1).copied().unwrap_or(0)
                    ));
                }
                let response = transport.exchange(&raw, &mut card);
                if args.verbose && raw.len() >= 4 {
                    let n = response.len();
                    eprintln!(
                        "pivsim: #{commands} INS {:02x} P1 {:02x} P2 {:02x} -> SW {:02x}{:02x}",
                        raw[1],
                        raw[2],
                        raw[3],
                        response[n - 2],
                        response[n - 1]
                    );
                }
                Some(response)
            }
        };
        for event in card.log.drain(..) {
            eprintln!("pivsim: card {serial}: {event}");
        }
        if let Some(reply) = reply {
            vpcd::write_message(&mut stream, &reply)
                .map_err(|e| format!("writing to vpcd: {e}"))?;
        }
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(why) => {
            eprintln!("pivsim: {why}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pivsim: {e}");
            ExitCode::FAILURE
        }
    }
}
