//! Assembling the key from at least t good shares of one ceremony (any mix
//! of shard files, QR images, sealed shares and a share typed from a sheet),
//! checked against the commitments and the recorded fingerprint, then
//! handed over only in the form asked for: [`deliver`].

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::atomic_file;
use crate::bundle::{self, BundleMeta, Include, Sealing};
use crate::console::Console;
use crate::error::Result;
use crate::events::{Event, EventSink};
use crate::inputs::{self, Item, Loaded};
use crate::record::CeremonyInfo;
use crate::recovery::{self, RecoveryError, SetProblem};
use crate::seal::Unsealer;
use crate::secret::RootKey;
use crate::shamir::SplitParams;
use crate::spike;

/// What was assembled, without the key.
#[derive(Clone, Debug)]
pub struct AssembleReport {
    /// The ceremony the key belongs to.
    pub reference: CeremonyInfo,
    /// The inputs whose shares were used, in share-id order.
    pub used: Vec<String>,
    /// Inputs left out, and why (each also told as [`Event::LeftOut`]).
    pub left_out: Vec<SetProblem>,
}

/// The key and how it was obtained.
pub struct Assembled {
    pub report: AssembleReport,
    /// The key (locked, zeroizing memory).
    pub key: RootKey,
}

/// Reconstructs the key from `paths` (and, with `typed`, one share typed
/// from a sheet's fallback lines on `console`). Refuses a set with a
/// conflict, shards of several ceremonies, or fewer than t good shards;
/// goes on without bad or repeated inputs, telling each as
/// [`Event::LeftOut`].
pub fn assemble(
    paths: &[PathBuf],
    typed: bool,
    unsealer: &mut Unsealer,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<Assembled> {
    let (mut items, failures) = inputs::load_all(paths, unsealer, console, events);
    if typed {
        let shard = crate::qr::typed::read_typed_share_from(console, events)?;
        items.push(Loaded {
            source: "typed share".into(),
            item: Item::Shard(Box::new(shard)),
            sealed: None,
        });
    }
    let an = recovery::analyse(items, failures);
    if let Some(c) = &an.conflict {
        return Err(RecoveryError::Conflict(c.clone()).into());
    }
    if !an.foreign.is_empty() {
        return Err(RecoveryError::Foreign(an.foreign.clone()).into());
    }
    let Some(reference) = an.reference.clone() else {
        return Err(RecoveryError::NoUsableShard(an.rejected.clone()).into());
    };
    if !an.can_assemble() {
        return Err(RecoveryError::NotEnough {
            needed: reference.params.threshold() as usize,
            ceremony_id: reference.ceremony_id.clone(),
            have: an.accepted.len(),
            left_out: an.problems(),
        }
        .into());
    }
    let left_out = an.problems();
    for p in &left_out {
        events.emit(Event::LeftOut(p.clone()));
    }
    let key = an.assemble()?;
    Ok(Assembled {
        report: AssembleReport {
            used: an.accepted.iter().map(|x| x.source.clone()).collect(),
            reference,
            left_out,
        },
        key,
    })
}

/// The form the key is handed over in.
pub enum KeyOutput {
    /// Given back to the caller to show (the user asked for it by name).
    Reveal,
    /// A file in the clear: 64 hex characters and a newline, mode 0600.
    KeyFile { path: PathBuf, force: bool },
    /// SPIKE Nexus recovery shards `spike.recovery.<i>.txt` in a folder.
    Spike {
        dir: PathBuf,
        params: SplitParams,
        force: bool,
    },
    /// An encrypted bundle for the Nexus.
    Bundle {
        includes: Vec<Include>,
        sealing: Sealing,
        out: PathBuf,
        force: bool,
    },
    /// Nothing: the key was reconstructed and checked, and is discarded.
    DryRun,
}

/// What [`deliver`] did with the key.
pub enum Delivered {
    /// The key as 64 lowercase hex characters and a newline.
    Revealed(Zeroizing<String>),
    KeyFile(PathBuf),
    Spike {
        params: SplitParams,
        files: Vec<PathBuf>,
    },
    Bundle(bundle::Sealed),
    DryRun,
}

/// Hands the key over as `output` says, atomically; a bundle records the
/// ceremony id and label of `reference`.
pub fn deliver(
    key: &RootKey,
    reference: &CeremonyInfo,
    output: KeyOutput,
    events: &mut dyn EventSink,
) -> Result<Delivered> {
    match output {
        KeyOutput::Reveal => {
            let mut line = Zeroizing::new(key.to_hex().to_string());
            line.push('\n');
            Ok(Delivered::Revealed(line))
        }
        KeyOutput::KeyFile { path, force } => {
            write_key_file(key, &path, force)?;
            Ok(Delivered::KeyFile(path))
        }
        KeyOutput::Spike { dir, params, force } => Ok(Delivered::Spike {
            files: spike::write_dir(key, params, &dir, force)?,
            params,
        }),
        KeyOutput::Bundle {
            includes,
            sealing,
            out,
            force,
        } => {
            let meta = BundleMeta::new(Some(reference.ceremony_id.clone()), &reference.label);
            let request = bundle::SealRequest {
                meta,
                includes,
                sealing,
                out,
                force,
            };
            Ok(Delivered::Bundle(bundle::seal_key(key, request, events)?))
        }
        KeyOutput::DryRun => Ok(Delivered::DryRun),
    }
}

/// Writes the key in the clear: 64 hex characters and a newline, 0600.
pub fn write_key_file(key: &RootKey, path: &Path, force: bool) -> Result<()> {
    let mut line = key.to_hex();
    line.push('\n');
    atomic_file::write_file(path, line.as_bytes(), force)
}
