//! keyceremony: offline, air-gapped root-key ceremonies and recovery.
//!
//! The library holds all behaviour; `main.rs` only parses the command line
//! and calls [`commands::run`], which turns the arguments into typed
//! requests, calls the operations below and prints their reports and
//! events. See docs/library.md.
//!
//! - operations: [`split`], [`check_back`], [`verify`], [`assemble`],
//!   [`bundle`] (typed requests in, typed reports out);
//! - the seams to the physical world: [`console::Console`] (every prompt),
//!   [`events::EventSink`] (everything said along the way),
//!   [`token::TokenProvider`] (YubiKeys or test tokens);
//! - errors: [`Error`], carrying the parts' typed errors.

pub mod assemble;
pub mod atomic_file;
pub mod bundle;
pub mod ceremony;
pub mod check_back;
pub mod cli;
pub mod cli_docs;
pub mod commands;
pub mod console;
pub mod digest;
pub mod error;
pub mod events;
pub mod extend;
pub mod input_file;
pub mod inputs;
pub mod passphrase_shard;
pub mod pcsc_loader;
pub mod pgp_words;
pub mod plan;
pub mod preflight;
pub mod progress;
pub mod qr;
pub mod record;
pub mod recovery;
pub mod rehearse;
pub mod reshare;
pub mod seal;
pub mod seal_target;
pub mod secret;
pub mod secret_file;
pub mod secret_scan;
pub mod shamir;
pub mod shard;
pub mod spike;
pub mod split;
pub mod strict_json;
pub mod terminal;
pub mod token;
pub mod transcript;
pub mod verify;
pub mod version;

pub use error::{Error, Result};
