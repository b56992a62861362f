//! keyceremony: offline, air-gapped root-key ceremonies and recovery.
//!
//! The library holds all behaviour; `main.rs` only parses the command line
//! and calls [`commands::run`].

pub mod atomic_file;
pub mod bundle;
pub mod cli;
pub mod cli_docs;
pub mod commands;
pub mod error;
pub mod inputs;
pub mod pcsc_loader;
pub mod qr;
pub mod record;
pub mod recovery;
pub mod seal;
pub mod secret;
pub mod shamir;
pub mod shard;
pub mod spike;
pub mod token;
pub mod version;

pub use error::{Error, Result};
