//! Verifying inputs: every path alone (format, checksum, Feldman
//! commitments; a sealed share unsealed on its token), then all of them as
//! a set (one ceremony, no repeats, and with t or more, reconstructing the
//! key with the recorded fingerprint). The key itself is discarded at once.

use std::path::{Path, PathBuf};

use crate::console::Console;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::inputs::{self, Item, Loaded};
use crate::record::{CeremonyId, CeremonyInfo, CeremonyRecord};
use crate::recovery::{self, RecoveryError, Rejected, Rejection, SetProblem};
use crate::seal::{SealedWith, Unsealer};
use crate::secret::KeyFingerprint;
use crate::shard::{self, JsonDocument};

/// The public facts of one good shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardFacts {
    pub ceremony_id: CeremonyId,
    pub id: u8,
    pub threshold: u8,
    pub shares: u8,
    pub fingerprint: KeyFingerprint,
    pub custodian: Option<String>,
}

/// What one input turned out to be.
#[derive(Clone, Debug)]
pub enum InputVerdict {
    /// Could not be read, parsed, decoded or unsealed.
    Bad(Rejected),
    /// A shard that checks out alone (a sealed one: opened by `sealed`).
    Shard {
        source: String,
        facts: ShardFacts,
        sealed: Option<SealedWith>,
    },
    /// A ceremony record.
    Record { source: String, info: CeremonyInfo },
}

/// How the set was judged, when there was a ceremony to judge it against.
#[derive(Clone, Debug)]
pub struct SetVerdict {
    pub reference: CeremonyInfo,
    /// The reference is a ceremony record (else the shards' majority).
    pub from_record: bool,
    /// Good shares of the reference ceremony present, in id order.
    pub good_ids: Vec<u8>,
    /// Paths given.
    pub given: usize,
    /// `None`: fewer than t good shares, not reconstructed. `Some(Ok)`: the
    /// key they give has the recorded fingerprint. `Some(Err)`: it failed.
    pub reconstructed: Option<std::result::Result<(), std::sync::Arc<RecoveryError>>>,
}

/// The verdict on every input and on the set.
#[derive(Clone, Debug)]
pub struct VerifyReport {
    /// Inputs that failed alone first, then the good ones, in input order.
    pub inputs: Vec<InputVerdict>,
    pub set: Option<SetVerdict>,
    /// Everything wrong with the set (the failed inputs included).
    pub problems: Vec<SetProblem>,
    /// All good: no problem, and a reconstruction (if tried) matched.
    pub ok: bool,
    /// With [`verify_against_record`]: the record every shard was checked against.
    pub record: Option<RecordGiven>,
}

/// The ceremony record named with `verify --record`.
#[derive(Clone, Debug)]
pub struct RecordGiven {
    pub path: PathBuf,
    pub record: CeremonyRecord,
}

impl RecordGiven {
    /// The custodian the record names for share `id`.
    pub fn custodian(&self, id: u8) -> Option<&str> {
        self.record
            .custodians
            .iter()
            .find(|c| c.id == id)
            .and_then(|c| c.name.as_deref())
    }
}

impl VerifyReport {
    /// The problems that are not failures of a single input on its own
    /// (those are in [`VerifyReport::inputs`]).
    pub fn set_problems(&self) -> impl Iterator<Item = &SetProblem> {
        self.problems.iter().filter(|p| {
            !matches!(
                p,
                SetProblem::Rejected(Rejected {
                    reason: Rejection::Unreadable { .. },
                    ..
                })
            )
        })
    }
}

fn verdict(l: &Loaded) -> InputVerdict {
    match &l.item {
        Item::Shard(s) => InputVerdict::Shard {
            source: l.source.clone(),
            facts: ShardFacts {
                ceremony_id: s.info.ceremony_id.clone(),
                id: s.share.id().get(),
                threshold: s.info.params.threshold(),
                shares: s.info.params.shares(),
                fingerprint: s.info.fingerprint,
                custodian: s.custodian.clone(),
            },
            sealed: l.sealed.clone(),
        },
        Item::Record(r) => InputVerdict::Record {
            source: l.source.clone(),
            info: r.info.clone(),
        },
    }
}

/// Verifies every path, alone and as a set. Sealed shares are opened with
/// `unsealer` (PIN on `console`; the token used and touches on `events`).
pub fn verify(
    paths: &[PathBuf],
    unsealer: &mut Unsealer,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> VerifyReport {
    // One verdict per input, in the order given (a failure where it was
    // named, not first); an image with several codes gives several.
    let mut items = Vec::new();
    let mut failures = Vec::new();
    let mut verdicts = Vec::new();
    for path in paths {
        match inputs::load_path(path, unsealer, console, events) {
            Ok(loaded) => {
                verdicts.extend(loaded.iter().map(verdict));
                items.extend(loaded);
            }
            Err(e) => {
                let rejected = inputs::rejected(path, e);
                verdicts.push(InputVerdict::Bad(rejected.clone()));
                failures.push(rejected);
            }
        }
    }

    let analysis = recovery::analyse(items, failures);
    let problems = analysis.problems();
    let set = analysis.reference.clone().map(|reference| {
        let reconstructed = analysis.can_assemble().then(|| {
            analysis
                .assemble()
                .map(|_key| ())
                .map_err(std::sync::Arc::new)
        });
        SetVerdict {
            from_record: analysis.reference_from_record,
            good_ids: analysis
                .accepted
                .iter()
                .map(|a| a.shard.share.id().get())
                .collect(),
            given: paths.len(),
            reconstructed,
            reference,
        }
    });
    let set_ok = set
        .as_ref()
        .is_some_and(|s| !matches!(s.reconstructed, Some(Err(_))));
    VerifyReport {
        ok: set_ok && problems.is_empty(),
        inputs: verdicts,
        set,
        problems,
        record: None,
    }
}

/// A custodian's check (`verify --record ceremony.json SHARD...`): `record`
/// must be a ceremony record (else `Err`, naming it), and every shard is
/// judged against it: one of another ceremony, or carrying its id with
/// another split, is a problem of the report, named, and the report is not
/// `ok`. A record among `paths` that describes another split is a conflict.
pub fn verify_against_record(
    record: &Path,
    paths: &[PathBuf],
    unsealer: &mut Unsealer,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<VerifyReport> {
    let bytes = crate::input_file::read(record, shard::MAX_JSON_LEN, "ceremony record")?;
    let parsed = match shard::parse_document(&bytes).map_err(|source| Error::Shard {
        path: record.to_path_buf(),
        source,
    })? {
        JsonDocument::Record(r) => *r,
        JsonDocument::Shard(_) => {
            return Err(Error::input(
                record,
                "is a shard file, not a ceremony record (--record takes ceremony.json)",
            ))
        }
    };
    let mut all = Vec::with_capacity(paths.len() + 1);
    all.push(record.to_path_buf());
    all.extend(paths.iter().cloned());
    let mut report = verify(&all, unsealer, console, events);
    report.record = Some(RecordGiven {
        path: record.to_path_buf(),
        record: parsed,
    });
    Ok(report)
}
