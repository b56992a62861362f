//! One module per subcommand. Each turns its arguments into a typed
//! request, calls the library, and returns an [`Outcome`] rendering the
//! report; [`run`] prints it as text or JSON and turns it into the exit
//! status. Events are printed on standard error as they come
//! ([`PrintEvents`]); every prompt goes to the [`TerminalConsole`].

use std::io::Write;

use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::cli::{Cli, Command};
use crate::console::TerminalConsole;
use crate::error::{Error, EXIT_FAILURE, EXIT_OK};
use crate::events::{Event, EventSink};
use crate::inputs::InputOptions;

pub mod assemble;
pub mod bundle;
pub mod ceremony;
pub mod ceremony_run;
pub mod completions;
pub mod extend;
pub mod man;
pub mod new_shares;
pub mod preflight;
pub mod progress;
pub mod qr;
pub mod rehearse;
pub mod reshare;
pub mod split;
pub mod token;
pub mod verify;
pub mod version;

/// Settings every command sees.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub json: bool,
    /// The command as typed (`token status`), for the JSON documents.
    pub command: &'static str,
    pub inputs: InputOptions,
}

/// What a command has to say.
#[derive(Default)]
pub struct Outcome {
    /// False when a check failed (exit status 1) even though the command ran.
    pub ok: bool,
    /// Lines for a person.
    pub text: Vec<String>,
    /// The same for a program (`--json`).
    pub json: Value,
    /// A secret the user asked to see (`--reveal`): the only thing on stdout.
    pub revealed: Option<Zeroizing<String>>,
}

impl Outcome {
    pub fn success(text: Vec<String>, json: Value) -> Self {
        Outcome {
            ok: true,
            text,
            json,
            revealed: None,
        }
    }
}

/// The command line's event sink: each event on standard error, as it comes.
pub struct PrintEvents;

impl EventSink for PrintEvents {
    fn emit(&mut self, event: Event) {
        eprintln!("{}", crate::terminal::escape_lines(&event.to_string()));
    }

    fn progress(&self) -> crate::progress::Progress {
        crate::progress::Progress::new(std::sync::Arc::new(progress::TerminalBars::new()))
    }
}

pub fn run(cli: Cli) -> i32 {
    let ctx = Context {
        json: cli.json,
        command: cli.command.name(),
        inputs: InputOptions {
            // typed after the command, else before it (or from the environment)
            test_tokens: cli
                .command
                .test_tokens()
                .or(cli.test_tokens.as_ref())
                .cloned(),
            ..InputOptions::default()
        },
    };
    let console = &mut TerminalConsole;
    let events = &mut PrintEvents;
    let result = match &cli.command {
        Command::Split(a) => split::run(a, &ctx, console),
        Command::Verify(a) => verify::run(a, &ctx, console, events),
        Command::Assemble(a) => assemble::run(a, &ctx, console, events),
        Command::Extend(a) => extend::run(a, &ctx, console, events),
        Command::Reshare(a) => reshare::run(a, &ctx, console, events),
        Command::Qr(crate::cli::QrCommand::Decode(a)) => qr::decode(a, &ctx),
        Command::Bundle(b) => bundle::run(b, &ctx, console, events),
        Command::Token(a) => token::run(a, &ctx, console, events),
        Command::Preflight(a) => preflight::run(a, &ctx),
        Command::Ceremony(c) => ceremony::run(c, &ctx, console),
        Command::Version => version::run(&ctx),
        Command::Completions(a) => completions::run(a, &ctx),
        Command::Man(a) => man::run(a, &ctx),
    };
    for warning in crate::secret::take_process_warnings() {
        eprintln!(
            "warning: {}",
            crate::terminal::escape_lines(&warning.to_string())
        );
    }
    for cleanup in crate::atomic_file::take_cleanups() {
        eprintln!("{cleanup}");
    }
    match result {
        Ok(outcome) => print_outcome(outcome, &ctx),
        Err(e) => print_error(&e, &ctx),
    }
}

fn print_outcome(outcome: Outcome, ctx: &Context) -> i32 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if ctx.json {
        let mut doc = outcome.json;
        if let Value::Object(map) = &mut doc {
            map.insert("command".into(), Value::from(ctx.command));
            map.insert("ok".into(), Value::Bool(outcome.ok));
            if let Some(secret) = &outcome.revealed {
                map.insert("key".into(), Value::String(secret.trim_end().to_string()));
            }
        }
        let raw = Zeroizing::new(serde_json::to_string_pretty(&doc).expect("JSON value"));
        let text = Zeroizing::new(crate::terminal::escape_json(&raw).into_owned());
        let _ = writeln!(out, "{}", text.as_str());
        if let Value::Object(map) = &mut doc {
            if let Some(Value::String(s)) = map.get_mut("key") {
                zeroize::Zeroize::zeroize(s);
            }
        }
    } else if let Some(secret) = &outcome.revealed {
        // stdout carries exactly the secret; the report goes to stderr.
        for line in &outcome.text {
            eprintln!("{}", crate::terminal::escape_lines(line));
        }
        let _ = out.write_all(secret.as_bytes());
    } else {
        // Buffered: a report may list 100,000 files, one write each through
        // the line-buffered stdout. (Never the secret above: a BufWriter's
        // buffer is not wiped.)
        let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, &mut out);
        for line in &outcome.text {
            let _ = writeln!(buffered, "{}", crate::terminal::escape_lines(line));
        }
        let _ = buffered.flush();
    }
    let _ = out.flush();
    if outcome.ok {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }
}

fn print_error(e: &Error, ctx: &Context) -> i32 {
    // every line said goes through one escaping, whatever it holds
    eprintln!("error: {}", crate::terminal::escape_lines(&e.to_string()));
    if let Error::Request(crate::error::RequestError::ShortPassphrase { .. }) = e {
        // offered to the person only: never in the error, never in JSON
        let offer = crate::bundle::Passphrase::generate();
        eprintln!(
            "A generated passphrase you may use instead: {}",
            offer.as_str()
        );
    }
    if ctx.json {
        print_error_document(Some(ctx.command), &e.to_string());
    }
    e.exit_code()
}

/// The JSON document of a command that failed: its `command` (None when
/// the command line names none), `ok: false`, and the message.
fn print_error_document(command: Option<&str>, message: &str) {
    let doc = json!({ "command": command, "ok": false, "error": message });
    let text = serde_json::to_string_pretty(&doc).expect("JSON value");
    println!("{}", crate::terminal::escape_json(&text));
}

/// A command line that does not parse. `--help` and `--version` print as
/// clap has them; a real usage error is said on standard error (escaped:
/// it quotes what was typed) and, when the line asks for `--json`, also as
/// an error document on standard output. Returns the exit status.
pub fn parse_failure(e: &clap::Error, args: &[std::ffi::OsString]) -> i32 {
    use clap::error::ErrorKind;
    let is_error = !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
    if !is_error {
        let _ = e.print();
        return e.exit_code();
    }
    let rendered = e.render().to_string();
    eprint!("{}", crate::terminal::escape_lines(&rendered));
    if crate::cli::asks_for_json(args) {
        let command = crate::cli::command_named_in(args);
        let message = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            // clap shows the help here; its first line is no message
            let named = command.as_deref().unwrap_or_default();
            format!("no subcommand given; see `keyceremony {named} --help`").replace("  ", " ")
        } else {
            usage_message(&rendered)
        };
        print_error_document(command.as_deref(), &message);
    }
    crate::error::EXIT_USAGE
}

/// clap's message without its `error: ` and the usage lines after it, on
/// one line.
fn usage_message(rendered: &str) -> String {
    let first = rendered.split("\n\n").next().unwrap_or(rendered);
    let first = first.strip_prefix("error: ").unwrap_or(first);
    first.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The unsealing options of the command line, added to the run's input options.
pub fn with_unseal(inputs: &InputOptions, a: &crate::cli::UnsealArgs) -> InputOptions {
    InputOptions {
        pin_file: a.pin_file.clone(),
        last_pin_try: a.last_pin_try,
        shard_passphrase_file: a.shard_passphrase_file.clone(),
        ..inputs.clone()
    }
}
