//! The command line, as clap structures. Parsing only: behaviour lives in
//! [`crate::commands`].

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "keyceremony",
    version = crate::version::SHORT_VERSION,
    long_version = crate::version::LONG_VERSION,
    about = "Offline root-key ceremonies: split a key t-of-n with verifiable shares, check shards, assemble the key",
    long_about = None,
    after_help = "Examples:
  keyceremony split -t 3 -n 5 --generate --out shards/
  keyceremony verify shards/shard-1.json shards/shard-2.json shards/ceremony.json
  keyceremony assemble shards/shard-1.json shards/shard-3.json shards/shard-5.json --dry-run

Exit status: 0 success; 1 bad input, failed check or failed operation; 2 usage error."
)]
pub struct Cli {
    /// Print one machine-readable JSON document on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,

    /// Use software test tokens kept in DIR instead of YubiKeys (test mode), for the commands that use tokens
    #[arg(long, value_name = "DIR", env = "KEYCEREMONY_TEST_TOKENS")]
    pub test_tokens: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Split a root key t-of-n into shard files and a public ceremony record
    Split(SplitArgs),
    /// Check shards one by one, and together as a set
    Verify(VerifyArgs),
    /// Reconstruct the key from at least t shards and hand it over as asked
    Assemble(AssembleArgs),
    /// Add custodians: from t good shares, new shares at ids n+1.. on the same polynomial (the key and every existing share unchanged)
    Extend(ExtendArgs),
    /// Re-share the same key: from t good shares of a ceremony, a new ceremony (new id, threshold, count, custodians) with the same key fingerprint; the old shares are retired
    Reshare(ReshareArgs),
    /// Printed QR shards: read codes from scans and photos
    #[command(subcommand)]
    #[command(after_help = "Examples:
  keyceremony qr decode scan-of-sheet-2.png
  keyceremony verify scan-of-sheet-2.png")]
    Qr(QrCommand),
    // bundle (src/commands/bundle.rs)
    /// Encrypted bundles for the Nexus: create, inspect, verify, open
    #[command(subcommand)]
    #[command(after_help = "Examples:
  keyceremony bundle create --key-file root.hex --output root.tar.age --recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  keyceremony bundle inspect root.tar.age
  keyceremony bundle open root.tar.age --identity nexus.key --out import/")]
    Bundle(BundleCommand),
    /// YubiKeys (PIV, P-256) for sealed shares: list, status, init, recipient, unblock, attest
    Token(TokenArgs),
    // preflight (src/commands/preflight.rs)
    /// Check this machine before a ceremony: network, radios, swap, core dumps, memory locking, random source, clock, test tokens
    Preflight(PreflightArgs),
    // ceremony (src/commands/ceremony.rs)
    /// Ceremony plans and transcripts: check a plan; verify or print a transcript
    #[command(subcommand)]
    #[command(after_help = "Examples:
  keyceremony ceremony check-plan ceremony/prod-2026.toml
  keyceremony ceremony run ceremony/prod-2026.toml
  keyceremony ceremony verify-transcript out/transcript.jsonl --record out/ceremony.json")]
    Ceremony(CeremonyCommand),
    // release (src/commands/version.rs, completions.rs, man.rs)
    /// Print the version, source commit, compiler and the SHA-256 of this binary
    #[command(after_help = "Examples:
  keyceremony version
  keyceremony version --json")]
    Version,
    /// Print a shell completion script on standard output
    Completions(CompletionsArgs),
    /// Write the manual pages: keyceremony.1 and one page per subcommand
    Man(ManArgs),
}

impl Command {
    /// The command as typed, e.g. `token status`: the `command` of its JSON
    /// document, error documents included.
    /// `--test-tokens` given after the command, for the commands that use
    /// tokens (the others do not offer it). The environment variable is
    /// read by the top-level option only, so that this one is always typed.
    pub fn test_tokens(&self) -> Option<&PathBuf> {
        let t = match self {
            Command::Split(a) => &a.test_tokens,
            Command::Verify(a) => &a.test_tokens,
            Command::Assemble(a) => &a.test_tokens,
            Command::Token(a) => return a.test_tokens_dir.as_ref(),
            Command::Preflight(a) => &a.test_tokens,
            Command::Ceremony(CeremonyCommand::Run(a)) => &a.test_tokens,
            Command::Ceremony(CeremonyCommand::Rehearse(a)) => &a.test_tokens,
            Command::Extend(a) => &a.test_tokens,
            Command::Reshare(a) => &a.test_tokens,
            _ => return None,
        };
        t.dir.as_ref()
    }

    pub fn name(&self) -> &'static str {
        match self {
            Command::Split(_) => "split",
            Command::Verify(_) => "verify",
            Command::Assemble(_) => "assemble",
            Command::Extend(_) => "extend",
            Command::Reshare(_) => "reshare",
            Command::Qr(QrCommand::Decode(_)) => "qr decode",
            Command::Bundle(b) => match b {
                BundleCommand::Create(_) => "bundle create",
                BundleCommand::Inspect(_) => "bundle inspect",
                BundleCommand::Verify(_) => "bundle verify",
                BundleCommand::Open(_) => "bundle open",
            },
            Command::Token(t) => match t.command {
                TokenCommand::List => "token list",
                TokenCommand::Status { .. } => "token status",
                TokenCommand::Init { .. } => "token init",
                TokenCommand::Recipient { .. } => "token recipient",
                TokenCommand::Unblock { .. } => "token unblock",
                TokenCommand::Attest { .. } => "token attest",
            },
            Command::Preflight(_) => "preflight",
            Command::Ceremony(c) => match c {
                CeremonyCommand::Run(_) => "ceremony run",
                CeremonyCommand::CheckPlan(_) => "ceremony check-plan",
                CeremonyCommand::VerifyTranscript(_) => "ceremony verify-transcript",
                CeremonyCommand::PrintTranscript(_) => "ceremony print-transcript",
                CeremonyCommand::Rehearse(_) => "ceremony rehearse",
            },
            Command::Version => "version",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }
}

/// The command a command line that did not parse was meant for, as far as
/// it names one (`token status` for `--json token status --serial x`):
/// the words that name subcommands, in order, whatever lies between them.
pub fn command_named_in(args: &[std::ffi::OsString]) -> Option<String> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut names = Vec::new();
    for arg in args.iter().skip(1) {
        let Some(word) = arg.to_str() else { continue };
        if word == "--" {
            break;
        }
        if word.starts_with('-') {
            continue;
        }
        if let Some(sub) = cmd.find_subcommand(word) {
            names.push(sub.get_name().to_string());
            let sub = sub.clone();
            cmd = sub;
        }
    }
    (!names.is_empty()).then(|| names.join(" "))
}

/// Whether a command line asks for `--json` (before any `--`), read from
/// the words themselves so that a line that does not parse still gets a
/// JSON error document.
pub fn asks_for_json(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| a.as_os_str() != "--")
        .any(|a| a.as_os_str() == "--json")
}

/// Test mode, offered by the commands that use tokens.
#[derive(Debug, Args, Clone, Default)]
pub struct TestTokensArg {
    /// Use software test tokens kept in DIR instead of YubiKeys (test mode; also KEYCEREMONY_TEST_TOKENS=DIR)
    #[arg(long = "test-tokens", id = "test_tokens_dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony completions bash > /etc/bash_completion.d/keyceremony
  keyceremony completions zsh > ~/.zfunc/_keyceremony
  keyceremony completions fish > ~/.config/fish/completions/keyceremony.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: crate::cli_docs::Shell,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony man | man -l -
  keyceremony man --out man/ && man -l man/keyceremony-split.1")]
pub struct ManArgs {
    /// Write every page into DIR (created if missing; mode 0600) instead of keyceremony.1 on standard output
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Replace pages already in DIR
    #[arg(long, requires = "out")]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("key_source").required(true).args(["generate", "key_file", "from_spike", "secret_file", "secret_stdin"])))]
#[command(after_help = "Examples:
  keyceremony split -t 3 -n 5 --generate --out shards/ --qr
  keyceremony split -t 2 -n 3 --key-file root.hex --out shards/ --custodian Alice --custodian Bob --custodian Carol --protect-with-passphrase 3
  keyceremony split -t 2 -n 3 --secret-file kms-master.key --out shards/ --seal-to 12345678 --seal-to 23456789 --seal-to 34567890")]
pub struct SplitArgs {
    /// Shares needed to recover the key (t)
    #[arg(long, short = 't', value_name = "T")]
    pub threshold: u16,

    /// Shares to make (n), ids 1..n
    #[arg(long, short = 'n', value_name = "N")]
    pub shares: u16,

    /// Output folder: created if missing; must be empty unless --force
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// Generate a fresh root key from the operating system's random source
    #[arg(long)]
    pub generate: bool,

    /// Read the root key from FILE: 64 hex characters, optionally one newline
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// Take the root key from SPIKE Nexus recovery shard files (spike.recovery.<id>.txt)
    #[arg(long, value_name = "FILE", num_args = 1.., requires = "spike_threshold")]
    pub from_spike: Vec<PathBuf>,

    /// SPIKE's threshold (shards needed) for --from-spike
    #[arg(long, value_name = "K")]
    pub spike_threshold: Option<u16>,

    /// A label printed on every shard and the record, e.g. "prod root key 2026"
    #[arg(long, default_value = "root key")]
    pub label: String,

    /// Custodian names, in share order (repeat; the i-th name goes with share i)
    #[arg(long = "custodian", value_name = "NAME")]
    pub custodians: Vec<String>,

    /// Allow writing into a folder that is not empty, replacing files of the same name
    #[arg(long)]
    pub force: bool,

    /// Also write shard-<i>.png, .svg and a printable sheet .html per share (each scanned back before success)
    #[arg(long)]
    pub qr: bool,
    // Sealing shares to YubiKeys
    /// Seal share i to the YubiKey with the i-th serial given (repeat, up to n times); written as shard-<i>.age instead of shard-<i>.json
    #[arg(long = "seal-to", value_name = "SERIAL")]
    pub seal_to: Vec<u32>,

    /// Seal the next share (after those of --seal-to) to this age1yubikey1... recipient; needs no token present (repeat)
    #[arg(long = "seal-to-recipient", value_name = "RECIPIENT")]
    pub seal_to_recipient: Vec<String>,

    /// Allow sealing more than one share to the same token (whoever holds it then holds several shares)
    #[arg(long)]
    pub allow_same_token: bool,

    // Any secret (docs/secrets.md)
    /// Split a fresh data key and write FILE (any bytes, any size) encrypted under it as secret.age
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,

    /// Like --secret-file, reading the secret from standard input
    #[arg(long)]
    pub secret_stdin: bool,

    // Passphrase-protected shards (docs/secrets.md)
    /// Write share N as shard-<N>.json.age (age, scrypt passphrase) instead of shard-<N>.json; the passphrase is asked twice without echo (repeat for several shares)
    #[arg(long = "protect-with-passphrase", value_name = "N")]
    pub protect_with_passphrase: Vec<u8>,

    /// Take share N's passphrase from FILE (one trailing newline dropped) instead of asking; N must be given to --protect-with-passphrase (repeat)
    // (named as in extend and reshare, where a bare --shard-passphrase-file
    // FILE opens the input shards; the first spelling stays as an alias)
    #[arg(
        long = "new-shard-passphrase-file",
        alias = "shard-passphrase-file",
        value_name = "N=FILE"
    )]
    pub shard_passphrase_file: Vec<String>,

    /// Accept a shard passphrase shorter than 12 characters
    #[arg(long)]
    pub allow_short_passphrase: bool,

    #[command(flatten)]
    pub test_tokens: TestTokensArg,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony extend vault/shard-1.json vault/shard-2.json --record vault/ceremony.json --add 1 --custodian \"Dora Dean\" --out vault-extended
  keyceremony extend vault/shard-1.json scan-of-sheet-3.png --record vault/ceremony.json --add 2 --qr --out vault-extended
  keyceremony extend vault/shard-1.json vault/shard-2.json.age --shard-passphrase-file pass.txt --record vault/ceremony.json --add 1 --protect-with-passphrase 4 --new-shard-passphrase-file 4=dora.txt --out vault-extended")]
pub struct ExtendArgs {
    /// At least t shares of the ceremony: shard files, QR images, sealed shares (.age)
    #[arg(required = true, value_name = "SHARD")]
    pub paths: Vec<PathBuf>,

    /// The ceremony's newest record (ceremony.json); a new one naming the new ids is written into --out
    #[arg(long, value_name = "RECORD")]
    pub record: PathBuf,

    /// How many shares to add (ids n+1..n+K)
    #[arg(long, value_name = "K")]
    pub add: u8,

    /// New output folder: created, must be empty
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// Names for the new shares, in order (repeat)
    #[arg(long = "custodian", value_name = "NAME")]
    pub custodians: Vec<String>,

    /// The transcript the signed segment continues [default: transcript.jsonl beside the record, if any]
    #[arg(long, value_name = "FILE")]
    pub transcript: Option<PathBuf>,

    /// Also write shard-<i>.png, .svg and a printable sheet .html per new share
    #[arg(long)]
    pub qr: bool,

    /// Seal the i-th new share to the YubiKey with the i-th serial given (repeat)
    #[arg(long = "seal-to", value_name = "SERIAL")]
    pub seal_to: Vec<u32>,

    /// Seal the next new share (after those of --seal-to) to this age1yubikey1... recipient (repeat)
    #[arg(long = "seal-to-recipient", value_name = "RECIPIENT")]
    pub seal_to_recipient: Vec<String>,

    /// Allow sealing more than one share to the same token
    #[arg(long)]
    pub allow_same_token: bool,

    #[command(flatten)]
    pub new_passphrase: NewPassphraseArgs,

    #[command(flatten)]
    pub unseal: UnsealArgs,

    #[command(flatten)]
    pub test_tokens: TestTokensArg,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony reshare vault/shard-1.json vault/shard-3.json --record vault/ceremony.json -t 3 -n 5 --protect-with-passphrase 5 --out vault-2027
  keyceremony reshare vault/shard-2.json scan-of-sheet-3.png --record vault/ceremony.json -t 2 -n 3 --custodian Erin --custodian Frank --custodian Gus --qr --out vault-2027
  keyceremony reshare vault/shard-1.json vault/shard-2.age --record vault/ceremony.json --plan ceremony/reshare-2027.toml --out vault-2027")]
#[command(group(ArgGroup::new("new_split").required(true).args(["threshold", "plan"])))]
pub struct ReshareArgs {
    /// At least t shares of the old ceremony: shard files, QR images, sealed shares (.age)
    #[arg(required = true, value_name = "SHARD")]
    pub paths: Vec<PathBuf>,

    /// The old ceremony's newest record (ceremony.json): the shares are judged against it, and the new record names it by SHA-256
    #[arg(long, value_name = "RECORD")]
    pub record: PathBuf,

    /// Shares needed to recover the key in the new ceremony (t)
    #[arg(long, short = 't', value_name = "T", requires = "shares")]
    pub threshold: Option<u16>,

    /// Shares to make in the new ceremony (n), ids 1..n
    #[arg(long, short = 'n', value_name = "N", requires = "threshold")]
    pub shares: Option<u16>,

    /// Take threshold, custodians, label and transports from a ceremony plan whose [key] is from_shares = true (instead of -t/-n and the output options)
    #[arg(long, value_name = "PLAN", conflicts_with_all = ["threshold", "label", "custodians", "qr", "seal_to", "seal_to_recipient", "allow_same_token", "protect_with_passphrase", "new_shard_passphrase_file", "allow_short_passphrase"])]
    pub plan: Option<PathBuf>,

    /// New output folder: created, must be empty
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// The new ceremony's label [default: the old one's]
    #[arg(long)]
    pub label: Option<String>,

    /// Custodian names for the new shares, in share order (repeat)
    #[arg(long = "custodian", value_name = "NAME")]
    pub custodians: Vec<String>,

    /// The transcript the signed segment continues [default: transcript.jsonl beside the record, if any]
    #[arg(long, value_name = "FILE")]
    pub transcript: Option<PathBuf>,

    /// Also write shard-<i>.png, .svg and a printable sheet .html per new share
    #[arg(long)]
    pub qr: bool,

    /// Seal the i-th new share to the YubiKey with the i-th serial given (repeat); unsealed once on it to check it back
    #[arg(long = "seal-to", value_name = "SERIAL")]
    pub seal_to: Vec<u32>,

    /// Seal the next new share (after those of --seal-to) to this age1yubikey1... recipient (repeat)
    #[arg(long = "seal-to-recipient", value_name = "RECIPIENT")]
    pub seal_to_recipient: Vec<String>,

    /// Allow sealing more than one share to the same token
    #[arg(long)]
    pub allow_same_token: bool,

    #[command(flatten)]
    pub new_passphrase: NewPassphraseArgs,

    #[command(flatten)]
    pub unseal: UnsealArgs,

    #[command(flatten)]
    pub test_tokens: TestTokensArg,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony verify shards/shard-2.json
  keyceremony verify shards/*.json
  keyceremony verify scan-of-sheet-3.png shard-1.age shard-2.json.age ceremony.json --pin-file pin.txt --shard-passphrase-file pass.txt")]
pub struct VerifyArgs {
    /// Shard files, sealed shares (.age, opened on their YubiKey), QR images (PNG or JPEG scans and photos of shard sheets) and the ceremony record (ceremony.json); several are also checked as a set
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// The ceremony record (ceremony.json) every share must belong to: a custodian's yearly check
    #[arg(long, value_name = "RECORD")]
    pub record: Option<PathBuf>,

    #[command(flatten)]
    pub unseal: UnsealArgs,

    #[command(flatten)]
    pub test_tokens: TestTokensArg,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("output").required(true).multiple(false).args(["reveal", "key_out", "spike_out", "dry_run", "bundle_out", "secret_out", "reveal_age_identity"])))]
#[command(after_help = "Examples:
  keyceremony assemble shards/shard-1.json shards/shard-3.json shards/ceremony.json --dry-run
  keyceremony assemble shard-1.age sheet-2.png shard-4.json --key-output root.hex
  keyceremony assemble shards/shard-1.json shards/shard-2.json shards/ceremony.json --secret-output kms-master.key")]
pub struct AssembleArgs {
    /// Shard files, sealed shares (.age), QR images (PNG or JPEG) and optionally ceremony.json; at least t good shares of one ceremony
    #[arg(required_unless_present = "typed", value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Also type one share's fallback lines from a QR sheet, on standard input
    #[arg(long = "type")]
    pub typed: bool,

    /// Print the key on stdout as 64 lowercase hex characters and a newline (nothing else)
    #[arg(long)]
    pub reveal: bool,

    /// Write the key to FILE in the clear (64 hex characters and a newline, mode 0600)
    #[arg(long = "key-output", alias = "key-out", value_name = "FILE")]
    pub key_out: Option<PathBuf>,

    /// Write SPIKE Nexus recovery shards spike.recovery.<i>.txt into DIR
    #[arg(long, value_name = "DIR", requires_all = ["spike_threshold", "spike_shares"])]
    pub spike_out: Option<PathBuf>,

    /// SPIKE threshold (shards needed) for --spike-out
    #[arg(long, value_name = "K", requires = "spike_out")]
    pub spike_threshold: Option<u16>,

    /// Number of SPIKE shards to write for --spike-out
    #[arg(long, value_name = "M", requires = "spike_out")]
    pub spike_shares: Option<u16>,

    /// Reconstruct and check the key, then discard it: writes nothing
    #[arg(long)]
    pub dry_run: bool,

    // bundle (src/commands/bundle.rs)
    /// Seal the key into an encrypted bundle FILE for the Nexus (or a folder:
    /// default name); with --recipient/--recipients-file or --nexus-backup
    #[arg(long = "bundle-output", alias = "bundle-out", value_name = "FILE")]
    pub bundle_out: Option<PathBuf>,

    #[command(flatten)]
    pub seal: SealArgs,

    // Any secret (docs/secrets.md)
    /// Decrypt the ceremony's secret.age into FILE (mode 0600); ceremony.json must be among the PATHs
    #[arg(long = "secret-output", alias = "secret-out", value_name = "FILE")]
    pub secret_out: Option<PathBuf>,

    /// Print the data key as an age identity (AGE-SECRET-KEY-1...) on stdout, for `age -d -i` on secret.age
    #[arg(long)]
    pub reveal_age_identity: bool,

    /// The encrypted secret for --secret-output, if not secret.age beside ceremony.json
    #[arg(long, value_name = "FILE", requires = "secret_out")]
    pub secret_in: Option<PathBuf>,

    /// Replace existing output files
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub unseal: UnsealArgs,

    #[command(flatten)]
    pub test_tokens: TestTokensArg,
}

// `keyceremony qr ...`

#[derive(Debug, Subcommand)]
pub enum QrCommand {
    /// Read every QR code in each image (PNG or JPEG); summarises the shards found, never their values
    Decode(QrDecodeArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony qr decode scan-of-sheet-2.png
  keyceremony qr decode photo-1.jpg photo-2.jpg --json
  keyceremony qr decode shards/shard-2.png --raw")]
pub struct QrDecodeArgs {
    /// Image files: scans or photos of shard sheets, several codes per image allowed
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<std::path::PathBuf>,

    /// Print each code's text exactly as encoded, one per line (this shows the share itself)
    #[arg(long)]
    pub raw: bool,
}
// ---------------------------------------------------------------------------
// `token` subcommand and unsealing options
// ---------------------------------------------------------------------------

/// Passphrase protection for the NEW shares of `extend` and `reshare`
/// (`split` has the same options, its file option named
/// `--shard-passphrase-file N=FILE`: here that name, with a bare FILE,
/// opens the input shards).
#[derive(Debug, Args, Clone, Default)]
pub struct NewPassphraseArgs {
    /// Write new share N as shard-<N>.json.age (age, scrypt passphrase) instead of shard-<N>.json; the passphrase is asked twice without echo (repeat for several shares)
    #[arg(long = "protect-with-passphrase", value_name = "N")]
    pub protect_with_passphrase: Vec<u8>,

    /// Take new share N's passphrase from FILE (one trailing newline dropped) instead of asking; N must be given to --protect-with-passphrase (repeat)
    #[arg(long = "new-shard-passphrase-file", value_name = "N=FILE")]
    pub new_shard_passphrase_file: Vec<String>,

    /// Accept a new shard passphrase shorter than 12 characters
    #[arg(long)]
    pub allow_short_passphrase: bool,
}

/// How sealed shares (`.age`) are opened.
#[derive(Debug, Args, Clone, Default)]
pub struct UnsealArgs {
    /// Read the YubiKey PIN for sealed shares from the first line of FILE instead of asking
    #[arg(long, value_name = "FILE")]
    pub pin_file: Option<PathBuf>,

    /// Spend a token's last PIN try (a wrong PIN then blocks the token)
    #[arg(long)]
    pub last_pin_try: bool,

    /// Read the passphrase of passphrase-protected shards (.json.age) from FILE (one trailing newline dropped) instead of asking
    #[arg(long, value_name = "FILE")]
    pub shard_passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony token list
  keyceremony token init --pin-file pin.txt
  keyceremony token recipient --serial 12345678 >> recipients.txt")]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,

    /// Use software test tokens kept in DIR instead of YubiKeys (test mode; also KEYCEREMONY_TEST_TOKENS=DIR)
    #[arg(
        long = "test-tokens",
        id = "test_tokens_dir",
        global = true,
        value_name = "DIR"
    )]
    pub test_tokens_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List connected YubiKeys (or the test tokens in --test-tokens DIR)
    #[command(after_help = "Examples:
  keyceremony token list
  keyceremony token list --json")]
    List,
    /// Show serial, firmware, PIN and PUK tries left, and the keys in the slots keyceremony uses
    #[command(after_help = "Examples:
  keyceremony token status
  keyceremony token status --serial 12345678
  keyceremony token status --serial 12345678 --json")]
    Status {
        /// The token's serial (printed on its back; `keyceremony token list` shows it); may be left out when exactly one token is connected
        #[arg(long, value_name = "SERIAL")]
        serial: Option<u32>,
    },
    /// Create a P-256 key on the token for sealed shares (in test mode, create the test token first)
    #[command(after_help = "Examples:
  keyceremony token init
  keyceremony token init --serial 12345678 --pin-file pin.txt
  keyceremony token init --serial 12345678 --slot 83 --touch-policy cached")]
    Init {
        /// The token's serial (printed on its back; `keyceremony token list` shows it); may be left out when exactly one token is connected (in test mode: needed to create a test token)
        #[arg(long, value_name = "SERIAL")]
        serial: Option<u32>,
        /// Read the PIN from the first line of FILE instead of asking
        #[arg(long, value_name = "FILE")]
        pin_file: Option<PathBuf>,
        /// Slot: a retired slot 82..95 (or R1..R20), or 9d; default: the first free retired slot
        #[arg(long, value_name = "SLOT")]
        slot: Option<String>,
        /// When the token asks for the PIN: never, once (per session), always
        #[arg(long, value_name = "POLICY", default_value = "once")]
        pin_policy: String,
        /// When the token wants a touch: never, always, cached (15 s)
        #[arg(long, value_name = "POLICY", default_value = "always")]
        touch_policy: String,
    },
    /// Print the age recipient (age1yubikey1...) of the token's key, as an age recipients file, for --seal-to-recipient
    #[command(after_help = "Examples:
  keyceremony token recipient
  keyceremony token recipient --serial 12345678 >> recipients.txt
  keyceremony token recipient --serial 12345678 --slot 83")]
    Recipient {
        /// The token's serial (printed on its back; `keyceremony token list` shows it); may be left out when exactly one token is connected
        #[arg(long, value_name = "SERIAL")]
        serial: Option<u32>,
        /// Slot, when the token has keys in several
        #[arg(long, value_name = "SLOT")]
        slot: Option<String>,
    },
    /// Set a new PIN with the PUK, unblocking a blocked PIN
    #[command(after_help = "Examples:
  keyceremony token unblock
  keyceremony token unblock --serial 12345678
  keyceremony token unblock --serial 12345678 --puk-file puk.txt --new-pin-file new-pin.txt")]
    Unblock {
        /// The token's serial (printed on its back; `keyceremony token list` shows it); may be left out when exactly one token is connected
        #[arg(long, value_name = "SERIAL")]
        serial: Option<u32>,
        /// Read the PUK from the first line of FILE instead of asking
        #[arg(long, value_name = "FILE")]
        puk_file: Option<PathBuf>,
        /// Read the new PIN from the first line of FILE instead of asking
        #[arg(long, value_name = "FILE")]
        new_pin_file: Option<PathBuf>,
    },
    /// Write the slot's attestation certificate (DER), proving the key was made on a YubiKey
    #[command(after_help = "Examples:
  keyceremony token attest --output attestation.der
  keyceremony token attest --serial 12345678 --slot 82 -o 12345678-82.der
  openssl x509 -inform DER -in attestation.der -noout -text")]
    Attest {
        /// The token's serial (printed on its back; `keyceremony token list` shows it); may be left out when exactly one token is connected
        #[arg(long, value_name = "SERIAL")]
        serial: Option<u32>,
        /// Slot of the key to attest: a retired slot 82..95 (or R1..R20), or 9d; default: the token's only key
        #[arg(long, value_name = "SLOT")]
        slot: Option<String>,
        /// Output file (DER)
        #[arg(long = "output", short = 'o', alias = "out", value_name = "FILE")]
        out: PathBuf,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
}

// bundle (src/commands/bundle.rs)

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Seal a root key (and optional files) into a bundle for the Nexus
    Create(BundleCreateArgs),
    /// Show a bundle's kind, size, recipients or KDF parameters (no secret needed)
    Inspect(BundleInspectArgs),
    /// Decrypt fully and check tag, manifest hashes and key fingerprint; writes nothing
    Verify(BundleVerifyArgs),
    /// Check everything, then write the files into a folder (0600, all or nothing)
    Open(BundleOpenArgs),
}

/// How to seal: to age recipients, or as a Nexus backup under a passphrase.
#[derive(Debug, Args, Default)]
pub struct SealArgs {
    /// age X25519 recipient (age1...) to seal to; repeat for several
    #[arg(long = "recipient", short = 'r', value_name = "AGE1...")]
    pub recipients: Vec<String>,

    /// File of age recipients, one per line (# comments)
    #[arg(long, short = 'R', value_name = "FILE")]
    pub recipients_file: Option<PathBuf>,

    /// Write the Nexus backup format (AES-256-GCM, Argon2id passphrase) instead of age
    #[arg(long)]
    pub nexus_backup: bool,

    /// Passphrase for --nexus-backup: the file's contents minus one trailing newline
    /// (without it, asked twice on the terminal); at least 12 characters
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    /// Accept a --nexus-backup passphrase shorter than 12 characters
    #[arg(long)]
    pub allow_short_passphrase: bool,

    /// Also carry this file, or every file below this folder, under its relative name
    #[arg(long = "include", value_name = "PATH")]
    pub includes: Vec<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony bundle create --key-file root.hex --output root.tar.age --recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  keyceremony bundle create --key-file root.hex -o backups/ --nexus-backup --passphrase-file pass.txt
  keyceremony bundle create --key-file root.hex -o root.tar.age -R nexus-recipients.txt --include config/")]
pub struct BundleCreateArgs {
    /// The root key: 64 hex characters, optionally one newline
    #[arg(long, value_name = "FILE")]
    pub key_file: PathBuf,

    /// Bundle file to write, or an existing folder (default name inside)
    #[arg(long = "output", short = 'o', alias = "out", value_name = "FILE")]
    pub out: PathBuf,

    #[command(flatten)]
    pub seal: SealArgs,

    /// Label recorded in the manifest
    #[arg(long, default_value = "root key")]
    pub label: String,

    /// Ceremony id recorded in the manifest (KC-XXXX-XXXX-XXXX)
    #[arg(long, value_name = "ID")]
    pub ceremony_id: Option<String>,

    /// Replace an existing file
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony bundle inspect root.tar.age
  keyceremony bundle inspect backups/root.tar.gz.enc --json")]
pub struct BundleInspectArgs {
    /// The bundle
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// The secret that opens a bundle.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("bundle_unseal").multiple(false).args(["identities", "passphrase_file"])))]
pub struct BundleUnsealArgs {
    /// age identity file (AGE-SECRET-KEY-1...) for an age bundle; repeat for several (as age -i)
    #[arg(long = "identity", short = 'i', value_name = "FILE")]
    pub identities: Vec<PathBuf>,

    /// Passphrase file for a Nexus backup (without it, asked on the terminal)
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony bundle verify root.tar.age --identity nexus.key
  keyceremony bundle verify backups/root.tar.gz.enc --passphrase-file pass.txt
  keyceremony bundle verify backups/root.tar.gz.enc")]
pub struct BundleVerifyArgs {
    /// The bundle
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub unseal: BundleUnsealArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony bundle open root.tar.age --identity nexus.key --out import/
  keyceremony bundle open backups/root.tar.gz.enc --passphrase-file pass.txt --out import/
  keyceremony bundle open root.tar.age --identity nexus.key --out import/ --force")]
pub struct BundleOpenArgs {
    /// The bundle
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub unseal: BundleUnsealArgs,

    /// Folder to write the files into: created if missing; must be empty unless --force
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// Write into a non-empty folder, replacing files of the same name
    #[arg(long)]
    pub force: bool,
}

// preflight (src/commands/preflight.rs)

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony preflight
  keyceremony preflight --rehearsal --json
  keyceremony preflight --plan ceremony/prod-2026.toml")]
pub struct PreflightArgs {
    /// Judge as for a rehearsal (a gap in the air gap only warns) instead of production
    #[arg(long, conflicts_with = "plan")]
    pub rehearsal: bool,

    /// Judge as this plan says: its mode, and the checks it allows to fail
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,

    /// A connected network interface only warns instead of failing (and the report says so)
    #[arg(long)]
    pub allow_network: bool,

    #[command(flatten)]
    pub test_tokens: TestTokensArg,
}

// ceremony (src/commands/ceremony.rs)

#[derive(Debug, Subcommand)]
pub enum CeremonyCommand {
    /// Run a ceremony from its plan, step by step: preflight, key, split, each custodian's share checked back, bundles, a signed transcript
    Run(RunArgs),
    /// Check a plan file strictly and show its SHA-256 as hex and as words to read aloud
    CheckPlan(CheckPlanArgs),
    /// Check a transcript: every line chained, the run closed, the signature, and the record's key
    VerifyTranscript(VerifyTranscriptArgs),
    /// Write the printable transcript (HTML, A4 or Letter) with signature lines, after verifying it
    PrintTranscript(PrintTranscriptArgs),
    /// Rehearse a recovery from a ceremony folder: open every output once, reconstruct from every t-subset (the key never shown), write a signed rehearsal record chained to the transcript
    Rehearse(RehearseArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony ceremony rehearse demo-ceremony --pin-file pin.txt --yes
  keyceremony ceremony rehearse vault-2026 --test-tokens vault-2026/test-tokens --lead Lena --witness Wim --witness Wu
  keyceremony ceremony verify-transcript demo-ceremony/rehearsal-2026-12-02T101500Z.jsonl --chain-from b320fe2279e85d311ab7d6d1618c7f89a9648859a9e133d96809e78dc717b704")]
pub struct RehearseArgs {
    /// The ceremony folder: ceremony.json, transcript.jsonl and the outputs shard-<id>.json, .png, .jpg, .age
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Go on without asking first
    #[arg(long)]
    pub yes: bool,

    /// Who leads the rehearsal: recorded in the signed rehearsal record
    #[arg(long, value_name = "NAME")]
    pub lead: Option<String>,

    /// Who witnesses it (repeat): recorded in the signed rehearsal record
    #[arg(long = "witness", value_name = "NAME")]
    pub witnesses: Vec<String>,

    #[command(flatten)]
    pub unseal: UnsealArgs,

    #[command(flatten)]
    pub test_tokens: TestTokensArg,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony ceremony run ceremony/prod-2026.toml
  keyceremony ceremony run ceremony/prod-2026.toml --out /media/usb/prod-2026-ceremony
  keyceremony --test-tokens rehearsal-tokens ceremony run ceremony/rehearsal.toml --yes")]
pub struct RunArgs {
    /// The plan (ceremony/*.toml)
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,

    /// Output folder: created if missing, refused if not empty [default: <plan name>-ceremony]
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Confirm every step and receipt without asking (recorded as --yes in the transcript; no scans are asked for)
    #[arg(long)]
    pub yes: bool,

    /// A connected network interface only warns in preflight instead of failing (recorded)
    #[arg(long)]
    pub allow_network: bool,

    #[command(flatten)]
    pub unseal: UnsealArgs,

    #[command(flatten)]
    pub test_tokens: TestTokensArg,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony ceremony check-plan ceremony/prod-2026.toml
  keyceremony ceremony check-plan ceremony/rehearsal.toml --json")]
pub struct CheckPlanArgs {
    /// The plan (ceremony/*.toml)
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony ceremony verify-transcript out/transcript.jsonl --record out/ceremony.json
  keyceremony ceremony verify-transcript 2027/transcript.jsonl --chain-from 5f2c9e0a7b31d4c8e6f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3")]
pub struct VerifyTranscriptArgs {
    /// The transcript (transcript.jsonl)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The ceremony record (ceremony.json): its ceremony public key must have signed the transcript
    #[arg(long, value_name = "RECORD")]
    pub record: Option<PathBuf>,

    /// The final hash of the transcript this one continues (its first line's prev)
    #[arg(long, value_name = "HASH")]
    pub chain_from: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  keyceremony ceremony print-transcript out/transcript.jsonl --output transcript.html
  keyceremony ceremony print-transcript out/transcript.jsonl --record out/ceremony.json -o transcript.html --force")]
pub struct PrintTranscriptArgs {
    /// The transcript (transcript.jsonl)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The HTML file to write
    #[arg(long = "output", short = 'o', alias = "out", value_name = "FILE.html")]
    pub out: PathBuf,

    /// The ceremony record (ceremony.json), checked as by verify-transcript
    #[arg(long, value_name = "RECORD")]
    pub record: Option<PathBuf>,

    /// Replace FILE.html if it exists
    #[arg(long)]
    pub force: bool,
}
