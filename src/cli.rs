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
    after_help = "Exit status: 0 success; 1 bad input, failed check or failed operation; 2 usage error."
)]
pub struct Cli {
    /// Print one machine-readable JSON document on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,

    /// Use software test tokens kept in DIR instead of YubiKeys (test mode)
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "KEYCEREMONY_TEST_TOKENS"
    )]
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
    /// Printed QR shards: read codes from scans and photos
    #[command(subcommand)]
    Qr(QrCommand),
    // bundle (src/commands/bundle.rs)
    /// Encrypted bundles for the Nexus: create, inspect, verify, open
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// YubiKeys (PIV, P-256) for sealed shares: list, status, init, recipient, unblock
    Token(TokenArgs),
    // preflight (src/commands/preflight.rs)
    /// Check this machine before a ceremony: network, radios, swap, core dumps, memory locking, random source, clock, test tokens
    Preflight(PreflightArgs),
    // ceremony (src/commands/ceremony.rs)
    /// Ceremony plans and transcripts: check a plan; verify or print a transcript
    #[command(subcommand)]
    Ceremony(CeremonyCommand),
    // release (src/commands/version.rs, completions.rs, man.rs)
    /// Print the version, source commit, compiler and the SHA-256 of this binary
    Version,
    /// Print a shell completion script on standard output
    Completions(CompletionsArgs),
    /// Write the manual pages: keyceremony.1 and one page per subcommand
    Man(ManArgs),
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
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Replace pages already in DIR
    #[arg(long, requires = "out")]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("key_source").required(true).args(["generate", "key_file", "from_spike", "secret_file", "secret_stdin"])))]
pub struct SplitArgs {
    /// Shares needed to recover the key (t)
    #[arg(long, short = 't', value_name = "T")]
    pub threshold: u16,

    /// Shares to make (n), ids 1..n
    #[arg(long, short = 'n', value_name = "N")]
    pub shares: u16,

    /// Output folder: created if missing; must be empty unless --force
    #[arg(long, value_name = "DIR")]
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
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Shard files, sealed shares (.age) and the ceremony record (ceremony.json); several are also checked as a set
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub unseal: UnsealArgs,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("output").required(true).multiple(false).args(["reveal", "key_out", "spike_out", "dry_run", "bundle_out", "secret_out", "reveal_age_identity"])))]
pub struct AssembleArgs {
    /// Shard files (and optionally ceremony.json); at least t good shards of one ceremony
    #[arg(required_unless_present = "typed", value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Also type one share's fallback lines from a QR sheet, on standard input
    #[arg(long = "type")]
    pub typed: bool,

    /// Print the key on stdout as 64 lowercase hex characters and a newline (nothing else)
    #[arg(long)]
    pub reveal: bool,

    /// Write the key to FILE in the clear (64 hex characters and a newline, mode 0600)
    #[arg(long, value_name = "FILE")]
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
    #[arg(long, value_name = "FILE")]
    pub bundle_out: Option<PathBuf>,

    #[command(flatten)]
    pub seal: SealArgs,

    // Any secret (docs/secrets.md)
    /// Decrypt the ceremony's secret.age into FILE (mode 0600); ceremony.json must be among the PATHs
    #[arg(long, value_name = "FILE")]
    pub secret_out: Option<PathBuf>,

    /// Print the data key as an age identity (AGE-SECRET-KEY-1...) on stdout, for `age -d -i` on secret.age
    #[arg(long)]
    pub reveal_age_identity: bool,

    /// The encrypted secret for --secret-out, if not secret.age beside ceremony.json
    #[arg(long, value_name = "FILE", requires = "secret_out")]
    pub secret_in: Option<PathBuf>,

    /// Replace existing output files
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub unseal: UnsealArgs,
}

// `keyceremony qr ...`

#[derive(Debug, Subcommand)]
pub enum QrCommand {
    /// Read every QR code in each image (PNG or JPEG); summarises the shards found, never their values
    Decode(QrDecodeArgs),
}

#[derive(Debug, Args)]
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

/// How sealed shares (`.age`) are opened.
#[derive(Debug, Args, Clone, Default)]
pub struct UnsealArgs {
    /// Read the YubiKey PIN for sealed shares from the first line of FILE instead of asking
    #[arg(long, value_name = "FILE")]
    pub pin_file: Option<PathBuf>,

    /// Spend a token's last PIN try (a wrong PIN then blocks the token)
    #[arg(long)]
    pub last_pin_try: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List connected YubiKeys (or the test tokens in --test-tokens DIR)
    List,
    /// Show serial, firmware, PIN and PUK tries left, and the keys in the slots keyceremony uses
    Status {
        #[arg(long, value_name = "SERIAL")]
        serial: u32,
    },
    /// Create a P-256 key on the token for sealed shares (in test mode, create the test token first)
    Init {
        #[arg(long, value_name = "SERIAL")]
        serial: u32,
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
    /// Print the age recipient (age1yubikey1...) of the token's key, for --seal-to-recipient
    Recipient {
        #[arg(long, value_name = "SERIAL")]
        serial: u32,
        /// Slot, when the token has keys in several
        #[arg(long, value_name = "SLOT")]
        slot: Option<String>,
    },
    /// Set a new PIN with the PUK, unblocking a blocked PIN
    Unblock {
        #[arg(long, value_name = "SERIAL")]
        serial: u32,
        /// Read the PUK from the first line of FILE instead of asking
        #[arg(long, value_name = "FILE")]
        puk_file: Option<PathBuf>,
        /// Read the new PIN from the first line of FILE instead of asking
        #[arg(long, value_name = "FILE")]
        new_pin_file: Option<PathBuf>,
    },
    /// Write the slot's attestation certificate (DER), proving the key was made on a YubiKey
    Attest {
        #[arg(long, value_name = "SERIAL")]
        serial: u32,
        #[arg(long, value_name = "SLOT")]
        slot: Option<String>,
        /// Output file (DER)
        #[arg(long, value_name = "FILE")]
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
    #[arg(long = "recipient", value_name = "AGE1...")]
    pub recipients: Vec<String>,

    /// File of age recipients, one per line (# comments)
    #[arg(long, value_name = "FILE")]
    pub recipients_file: Option<PathBuf>,

    /// Write the Nexus backup format (AES-256-GCM, Argon2id passphrase) instead of age
    #[arg(long)]
    pub nexus_backup: bool,

    /// Passphrase for --nexus-backup: the file's contents minus one trailing newline
    /// (without it, asked twice on the terminal)
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    /// Also carry this file, or every file below this folder, under its relative name
    #[arg(long = "include", value_name = "PATH")]
    pub includes: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BundleCreateArgs {
    /// The root key: 64 hex characters, optionally one newline
    #[arg(long, value_name = "FILE")]
    pub key_file: PathBuf,

    /// Bundle file to write, or an existing folder (default name inside)
    #[arg(long, value_name = "FILE")]
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
pub struct BundleInspectArgs {
    /// The bundle
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// The secret that opens a bundle.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("bundle_unseal").multiple(false).args(["identity", "passphrase_file"])))]
pub struct BundleUnsealArgs {
    /// age identity file (AGE-SECRET-KEY-1...) for an age bundle
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,

    /// Passphrase file for a Nexus backup (without it, asked on the terminal)
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BundleVerifyArgs {
    /// The bundle
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub unseal: BundleUnsealArgs,
}

#[derive(Debug, Args)]
pub struct BundleOpenArgs {
    /// The bundle
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub unseal: BundleUnsealArgs,

    /// Folder to write the files into: created if missing; must be empty unless --force
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Write into a non-empty folder, replacing files of the same name
    #[arg(long)]
    pub force: bool,
}

// preflight (src/commands/preflight.rs)

#[derive(Debug, Args)]
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
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The plan (ceremony/*.toml)
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,

    /// Output folder: created if missing, refused if not empty [default: <plan name>-ceremony]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Confirm every step and receipt without asking (recorded as --yes in the transcript; no scans are asked for)
    #[arg(long)]
    pub yes: bool,

    /// A connected network interface only warns in preflight instead of failing (recorded)
    #[arg(long)]
    pub allow_network: bool,

    #[command(flatten)]
    pub unseal: UnsealArgs,
}

#[derive(Debug, Args)]
pub struct CheckPlanArgs {
    /// The plan (ceremony/*.toml)
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
}

#[derive(Debug, Args)]
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
pub struct PrintTranscriptArgs {
    /// The transcript (transcript.jsonl)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The HTML file to write
    #[arg(long, value_name = "FILE.html")]
    pub out: PathBuf,

    /// The ceremony record (ceremony.json), checked as by verify-transcript
    #[arg(long, value_name = "RECORD")]
    pub record: Option<PathBuf>,

    /// Replace FILE.html if it exists
    #[arg(long)]
    pub force: bool,
}
