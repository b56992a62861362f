//! Adding custodians without a new ceremony: from t good shares of a
//! ceremony, new shares at ids n+1.. on the **same** polynomial. They verify
//! against the existing commitments, so every existing share stays valid and
//! the key and its fingerprint do not change. The key itself is never
//! computed (Lagrange interpolation at the new ids, see [`shamir::extend`]).
//!
//! Everything lands in a new, empty folder: the new shares (shard files, QR
//! sheets or sealed, as `split` writes them), a new `ceremony.json` naming
//! every id, old and new (the old record is never rewritten), and a signed
//! transcript segment, `transcript-extend.jsonl`, chained to the ceremony's
//! transcript when there is one.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::atomic_file::OutputBatch;
use crate::console::Console;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::inputs::{self, InputOptions, Item, Loaded};
use crate::plan::Mode;
use crate::record::{CeremonyInfo, CeremonyRecord, CustodianEntry};
use crate::recovery::{self, RecoveryError, SetProblem};
use crate::shamir::{self, ShareId, SplitParams};
use crate::shard::ShardFile;
use crate::split::{self, OutputFile, ShareReport, Shares, Transport};
use crate::transcript::{self, Header, SignedTranscript, TranscriptWriter, WriterOptions};

/// The transcript segment an extension writes in its output folder.
pub const SEGMENT_FILE: &str = "transcript-extend.jsonl";

/// What to extend, and how to hand the new shares out.
#[derive(Debug, Clone)]
pub struct ExtendRequest {
    /// The ceremony's newest record (`ceremony.json`).
    pub record: PathBuf,
    /// At least t shares of the ceremony (any transports).
    pub shards: Vec<PathBuf>,
    /// How many shares to add (ids n+1..n+add).
    pub add: u8,
    /// Names for the new shares, in order (fewer than `add` is allowed).
    pub custodians: Vec<String>,
    /// One per new share, in order.
    pub transports: Vec<Transport>,
    /// A new folder (created; must be empty).
    pub out: PathBuf,
    /// The transcript the segment continues; `None`: the record's folder's
    /// `transcript.jsonl` if there is one.
    pub transcript: Option<PathBuf>,
    /// Tokens and PINs for sealed shares among `shards`.
    pub inputs: InputOptions,
}

/// What [`extend`] did.
#[derive(Debug, Clone)]
pub struct ExtendReport {
    /// The ceremony as it is now (n raised by `add`).
    pub info: CeremonyInfo,
    pub previous_shares: u8,
    /// The shares the new ones were computed from: source and id.
    pub used: Vec<(String, u8)>,
    /// The new `ceremony.json`.
    pub record: OutputFile,
    pub shares: Vec<ShareReport>,
    /// The signed transcript segment.
    pub segment: SignedTranscript,
    /// The final hash of the transcript it continues.
    pub chained_to: Option<Sha256Digest>,
}

/// The transcript a segment written after `record` continues: `transcript`,
/// or `transcript.jsonl` beside the record if there is one; verified (against
/// the record when it names a ceremony key).
pub(crate) fn previous_transcript(
    record_path: &Path,
    transcript: Option<&Path>,
    record: &CeremonyRecord,
) -> Result<Option<transcript::VerifiedTranscript>> {
    let path = transcript.map(Path::to_path_buf).or_else(|| {
        let p = record_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(crate::rehearse::TRANSCRIPT_FILE);
        p.is_file().then_some(p)
    });
    path.as_deref()
        .map(|p| {
            transcript::verify_file(
                p,
                &transcript::VerifyOptions {
                    record: record.ceremony_public_key.is_some().then(|| record.clone()),
                    chain_from: None,
                },
            )
        })
        .transpose()
}

/// `shards` loaded (sealed ones opened with `unsealer`) and judged against
/// `record`: any conflict, or any input bad, repeated, of another ceremony
/// or forged, refuses the whole set, every problem named; `doing` starts the
/// message ("extend computes new shares").
pub(crate) fn good_shares_of(
    record_path: &Path,
    record: &CeremonyRecord,
    shards: &[PathBuf],
    unsealer: &mut crate::seal::Unsealer,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
    doing: &str,
) -> Result<recovery::SetAnalysis> {
    let (loaded, failures) = inputs::load_all(shards, unsealer, console, events);
    let mut items = vec![Loaded {
        source: record_path.display().to_string(),
        item: Item::Record(Box::new(record.clone())),
        sealed: None,
    }];
    items.extend(loaded);
    let analysis = recovery::analyse(items, failures);
    if let Some(c) = &analysis.conflict {
        return Err(RecoveryError::Conflict(c.clone()).into());
    }
    let problems = analysis.problems();
    if !problems.is_empty() {
        return Err(Error::Check(format!(
            "{doing} only from good shares of ceremony {}; remove or replace: {}",
            record.info.ceremony_id,
            problems
                .iter()
                .map(SetProblem::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    Ok(analysis)
}

/// The ceremony of `record` once `add` shares are added (ids n+1..n+add):
/// refused for no share, or beyond 255.
pub fn extended_params(record: &CeremonyRecord, add: u8) -> Result<SplitParams> {
    let info = &record.info;
    let n = info.params.shares();
    if add == 0 {
        return Err(Error::Usage("--add: at least one share".into()));
    }
    SplitParams::new(info.params.threshold() as u16, n as u16 + add as u16).map_err(|e| {
        Error::Usage(format!(
            "--add {add}: ceremony {} has {n} shares: {e}",
            info.ceremony_id
        ))
    })
}

/// Extends the ceremony as asked (module docs). Refuses, with nothing
/// written: a record that does not read, fewer than t good shares, any input
/// that is bad or not of the record, a share beyond the record's n (the
/// ceremony was extended after this record: those ids are in use), more
/// than 255 shares, a transcript that does not verify, a non-empty folder.
pub fn extend(
    request: &ExtendRequest,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<ExtendReport> {
    let (old, old_sha256) = crate::rehearse::load_record(&request.record)?;
    let info = &old.info;
    let t = info.params.threshold();
    let n = info.params.shares();
    let params = extended_params(&old, request.add)?;
    if request.transports.len() != request.add as usize {
        return Err(Error::Usage(format!(
            "{} transports for {} new shares",
            request.transports.len(),
            request.add
        )));
    }
    split::check_names(&info.label, &request.custodians, request.add)?;

    // the transcript this continues
    let previous = previous_transcript(&request.record, request.transcript.as_deref(), &old)?;

    // the shares, judged against the record
    let mut unsealer = request.inputs.unsealer();
    let analysis = good_shares_of(
        &request.record,
        &old,
        &request.shards,
        &mut unsealer,
        console,
        events,
        "extend computes new shares",
    )?;
    if let Some(a) = analysis
        .accepted
        .iter()
        .find(|a| a.shard.share.id().get() > n)
    {
        return Err(Error::Check(format!(
            "{} holds share {}, beyond the {n} shares of the record {}: the ceremony was extended after \
             this record, so ids from {} on are in use; extend from the newest record",
            a.source,
            a.shard.share.id(),
            request.record.display(),
            n + 1
        )));
    }
    if analysis.accepted.len() < t as usize {
        return Err(RecoveryError::NotEnough {
            needed: t as usize,
            ceremony_id: info.ceremony_id.clone(),
            have: analysis.accepted.len(),
            left_out: Vec::new(),
        }
        .into());
    }
    let used: Vec<_> = analysis.accepted.iter().take(t as usize).collect();
    let given: Vec<shamir::Share> = used.iter().map(|a| a.shard.share.clone()).collect();

    // the new shares, on the same polynomial
    let new_info = CeremonyInfo {
        params,
        ..info.clone()
    };
    let mut shards = Vec::with_capacity(request.add as usize);
    for k in 0..request.add {
        let id = ShareId::new(n as u16 + 1 + k as u16).map_err(RecoveryError::Shamir)?;
        let share = shamir::extend(&given, &info.commitments, id).map_err(RecoveryError::Shamir)?;
        shards.push(ShardFile {
            info: new_info.clone(),
            share,
            custodian: request.custodians.get(k as usize).cloned(),
        });
    }
    drop(given);
    let mut custodians = old.custodians.clone();
    for s in &shards {
        custodians.push(CustodianEntry {
            id: s.share.id().get(),
            name: s.custodian.clone(),
        });
    }
    let new_record = CeremonyRecord {
        info: new_info.clone(),
        custodians,
        ceremony_public_key: old.ceremony_public_key.clone(),
        // the same data key, so the same secret.age (beside the old record)
        secret: old.secret.clone(),
        // a re-shared ceremony extended still retires what it retired
        supersedes: old.supersedes.clone(),
    };
    let shares = Shares::from_parts(new_info.clone(), new_record, shards);

    // written together, then each checked back
    let dir = &request.out;
    let mut batch = OutputBatch::in_dir(dir, false)?;
    let record_out = split::stage_record(&shares, dir, &mut batch)?;
    let mut reports = Vec::with_capacity(request.add as usize);
    for (i, transport) in request.transports.iter().enumerate() {
        reports.push(split::stage_share(&shares, i, transport, dir, &mut batch)?);
    }
    let written = batch.commit()?;
    let remove_all = |written: &[PathBuf]| {
        for p in written {
            let _ = std::fs::remove_file(p);
        }
    };
    if let Err(e) = reports
        .iter()
        .try_for_each(|r| crate::check_back::share_outputs(r, &shares))
    {
        remove_all(&written);
        return Err(e);
    }

    // the transcript segment
    let chained_to = previous.as_ref().map(|p| p.final_hash);
    let segment = (|| {
        let header = Header {
            label: info.label.clone(),
            mode: previous
                .as_ref()
                .map_or(Mode::Production, |p| p.header.mode),
            plan_sha256: None,
            lead: String::new(),
            custodians: reports
                .iter()
                .map(|r| r.custodian.clone().unwrap_or_default())
                .collect(),
            witnesses: Vec::new(),
        };
        let mut w = TranscriptWriter::create_with(
            &dir.join(SEGMENT_FILE),
            &header,
            WriterOptions {
                chain_from: chained_to,
                ..WriterOptions::default()
            },
        )?;
        let new_ids: Vec<u8> = reports.iter().map(|r| r.id).collect();
        w.append(
            "extend",
            json!({
                "ceremony_id": info.ceremony_id.to_string(),
                "key_fingerprint": info.fingerprint.to_string(),
                "threshold": t,
                "from_shares": n,
                "to_shares": params.shares(),
                "new_ids": new_ids,
                "used_ids": used.iter().map(|a| a.shard.share.id().get()).collect::<Vec<_>>(),
                "previous_record_sha256": old_sha256.to_hex(),
                "record_sha256": record_out.sha256.to_hex(),
                "transcript_final_hash": chained_to.map(|h| h.to_hex()),
            }),
        )?;
        for r in &reports {
            w.append(
                "share-added",
                json!({
                    "ceremony_id": info.ceremony_id.to_string(),
                    "id": r.id,
                    "custodian": r.custodian,
                    "outputs": r.outputs.iter().map(|o| json!({
                        "file": o.path.file_name().map(|f| f.to_string_lossy().into_owned()),
                        "sha256": o.sha256.to_hex(),
                    })).collect::<Vec<_>>(),
                    "sealed_to": r.sealed_to.as_ref().map(|s| s.label.clone()),
                }),
            )?;
        }
        w.close_and_sign(json!({ "new_ids": new_ids }))
    })();
    let segment = match segment {
        Ok(s) => s,
        Err(e) => {
            remove_all(&written);
            let _ = std::fs::remove_file(dir.join(SEGMENT_FILE));
            return Err(e);
        }
    };
    Ok(ExtendReport {
        info: new_info,
        previous_shares: n,
        used: used
            .iter()
            .map(|a| (a.source.clone(), a.shard.share.id().get()))
            .collect(),
        record: record_out,
        shares: reports,
        segment,
        chained_to,
    })
}
