//! Re-sharing the same key under a new ceremony (`keyceremony reshare`):
//! from t good shares of ceremony A, the key is reconstructed (in a
//! zeroizing [`RootKey`], never shown) and split again: a new ceremony id, a
//! new polynomial, new threshold and count, commitments with the same `C_0`,
//! so the key fingerprint is unchanged and anyone can check continuity
//! without learning the key. The new record (version 2) names A (its id and
//! the SHA-256 of A's `ceremony.json` as read) and retires A's share ids.
//!
//! Order, so that an interruption never leaves the key without a working
//! quorum: A's files are only read; the new shares are written (one batch,
//! appearing together) and checked back (re-read and decoded; a sealed share
//! unsealed on its token); then the signed transcript segment
//! `transcript-reshare.jsonl`; the record `ceremony.json` declaring A
//! retired comes last. A folder without `ceremony.json` is no ceremony:
//! nothing was retired, A is still the ceremony in force.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::atomic_file::OutputBatch;
use crate::console::Console;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::inputs::InputOptions;
use crate::plan::{KeySource, Mode, Plan, Transport as PlanTransport};
use crate::record::{CeremonyInfo, Supersedes};
use crate::recovery::RecoveryError;
use crate::seal_target::{self, SealTargetRequest};
use crate::shamir::SplitParams;
use crate::split::{self, OutputFile, OutputKind, ShareReport, Transport};
use crate::transcript::{Header, SignedTranscript, TranscriptWriter, WriterOptions};

/// The transcript segment a re-share writes in its output folder.
pub const SEGMENT_FILE: &str = "transcript-reshare.jsonl";

/// What to re-share, and how to hand the new shares out.
#[derive(Debug, Clone)]
pub struct ReshareRequest {
    /// Ceremony A's newest record (`ceremony.json`): required, so that the
    /// shares are judged against it (not a majority of files) and the new
    /// record can name it by hash.
    pub record: PathBuf,
    /// At least t shares of A (any transports).
    pub shards: Vec<PathBuf>,
    /// The new threshold and count.
    pub params: SplitParams,
    /// The new label; `None`: A's.
    pub label: Option<String>,
    /// Names for the new shares, in order (fewer than n is allowed).
    pub custodians: Vec<String>,
    /// One per new share, in order.
    pub transports: Vec<Transport>,
    /// A new folder (created; must be empty).
    pub out: PathBuf,
    /// The transcript the segment continues; `None`: the record's folder's
    /// `transcript.jsonl` if there is one.
    pub transcript: Option<PathBuf>,
    /// Tokens and PINs for sealed shares, old (read) and new (checked back).
    pub inputs: InputOptions,
    /// With `reshare --plan`: the plan the threshold, custodians, label and
    /// transports came from ([`from_plan`]); its lead, witnesses, mode and
    /// SHA-256 go into the transcript segment's header, its facts into a
    /// `plan` line.
    pub plan: Option<Plan>,
}

/// The new split a plan describes for `reshare --plan`: threshold and count,
/// label, custodian names and transports (each sealing key found now).
/// Refused, naming the plan: a key source other than `from_shares = true`
/// (a reshare keeps the key of the shares given; a plan that would bring
/// another key is a mistake), bundles (the key is unchanged, so existing
/// bundles stay valid; `bundle create` makes new ones), test tokens in a
/// production plan, two shares sealed to one key.
pub fn from_plan(
    plan: &Plan,
    test_tokens: Option<&Path>,
    console: &mut dyn Console,
) -> Result<(SplitParams, String, Vec<String>, Vec<Transport>)> {
    if plan.key != KeySource::FromShares {
        return Err(Error::input(
            &plan.path,
            format!(
                "[key] is {}: a reshare keeps the key of the shares given; write [key] from_shares = true",
                plan.key.kind()
            ),
        ));
    }
    if !plan.bundles.is_empty() {
        return Err(Error::input(
            &plan.path,
            "a reshare writes no bundle (the key is unchanged, so existing bundles stay valid): remove the [[bundle]] tables",
        ));
    }
    if plan.mode == Mode::Production && test_tokens.is_some() {
        return Err(Error::input(
            &plan.path,
            "a production plan does not run with test tokens (--test-tokens)",
        ));
    }
    let mut transports: Vec<Transport> = Vec::with_capacity(plan.custodians.len());
    for c in &plan.custodians {
        let seal = |serials: Vec<u32>, recipients: Vec<String>| {
            seal_target::resolve(
                &SealTargetRequest {
                    serials,
                    recipients,
                    allow_same_token: false,
                },
                1,
                test_tokens,
            )
            .map(|mut t| t.remove(0))
        };
        let t = match &c.transport {
            PlanTransport::File => Transport::ShardFile,
            PlanTransport::Qr => Transport::QrSheet { shard_file: false },
            PlanTransport::Token { serial } | PlanTransport::TestToken { serial } => {
                Transport::Sealed(seal(vec![*serial], Vec::new())?)
            }
            PlanTransport::Recipient { recipient, serial } => {
                let mut t = seal(Vec::new(), vec![recipient.clone()])?;
                t.serial = *serial;
                Transport::Sealed(t)
            }
            PlanTransport::Passphrase { passphrase_file } => {
                // from the plan's file, or typed twice by the custodian now,
                // before any share of A is read
                let file = passphrase_file.as_deref().map(|p| plan.resolve(p));
                let pass = match &file {
                    Some(f) => crate::bundle::Passphrase::from_file(f)?,
                    None => crate::bundle::ask_new_passphrase_for(
                        console,
                        &format!("share {} ({}), typed by {}", c.share_id, c.name, c.name),
                    )?,
                };
                crate::passphrase_shard::check_new(&pass, file.as_deref(), false)?;
                Transport::Passphrase(std::sync::Arc::new(pass))
            }
        };
        if let Transport::Sealed(new) = &t {
            if let Some(j) = transports
                .iter()
                .position(|o| matches!(o, Transport::Sealed(o) if o.recipient == new.recipient))
            {
                return Err(Error::input(
                    &plan.path,
                    format!(
                        "shares {} and {} are sealed to the same key ({}): whoever holds it holds both",
                        j + 1,
                        c.share_id,
                        new.label
                    ),
                ));
            }
        }
        transports.push(t);
    }
    Ok((
        plan.params,
        plan.label.clone(),
        plan.custodians.iter().map(|c| c.name.clone()).collect(),
        transports,
    ))
}

/// What [`reshare`] did.
#[derive(Debug, Clone)]
pub struct ReshareReport {
    /// Ceremony A, as its record says.
    pub previous: CeremonyInfo,
    /// Ceremony B, the new one (same key fingerprint).
    pub info: CeremonyInfo,
    /// What B's record says it supersedes.
    pub supersedes: Supersedes,
    /// The shares of A the key was reconstructed from: source and id.
    pub used: Vec<(String, u8)>,
    /// B's `ceremony.json` (version 2).
    pub record: OutputFile,
    pub shares: Vec<ShareReport>,
    /// The signed transcript segment.
    pub segment: SignedTranscript,
    /// The final hash of A's transcript it continues.
    pub chained_to: Option<Sha256Digest>,
}

/// Refuses an output folder that exists and holds anything but the hidden
/// leftovers of a killed run (the batch removes those, saying so), before
/// any share of A is read or unsealed. A folder with new shares or a
/// transcript segment but no `ceremony.json` is what an interrupted reshare
/// leaves: the error says so, and that nothing was retired.
fn check_out_folder(dir: &Path) -> Result<()> {
    // missing: the batch makes it; unreadable or not a folder: the batch names it
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(crate::atomic_file::HIDDEN_PREFIX))
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let interrupted = !split::record_path(dir).exists()
        && names
            .iter()
            .any(|n| n == SEGMENT_FILE || n.starts_with("shard-"));
    Err(Error::input(
        dir,
        if interrupted {
            "holds the new shares of an interrupted reshare, but no ceremony.json: it is not a \
             ceremony and retired nothing (the old ceremony is still in force); delete this folder \
             (it holds shares of the key) or choose a new one"
        } else {
            "output folder is not empty; choose a new folder"
        },
    ))
}

/// Re-shares as asked (module docs). Refuses, with no ceremony written: a
/// record that does not read, fewer than t good shares of it, any input that
/// is bad or not of the record (named), a transcript that does not verify, a
/// folder that is not new or empty, a check-back that fails.
pub fn reshare(
    request: &ReshareRequest,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<ReshareReport> {
    let (old, old_sha256) = crate::rehearse::load_record(&request.record)?;
    let a = &old.info;
    let params = request.params;
    if request.transports.len() != params.shares() as usize {
        return Err(Error::Usage(format!(
            "{} transports for {} new shares",
            request.transports.len(),
            params.shares()
        )));
    }
    let label = request.label.clone().unwrap_or_else(|| a.label.clone());
    split::check_names(&label, &request.custodians, params.shares())?;
    check_out_folder(&request.out)?;

    let previous =
        crate::extend::previous_transcript(&request.record, request.transcript.as_deref(), &old)?;

    // A's shares, judged against A's record
    let mut unsealer = request.inputs.unsealer();
    let analysis = crate::extend::good_shares_of(
        &request.record,
        &old,
        &request.shards,
        &mut unsealer,
        console,
        events,
        "reshare reconstructs the key",
    )?;
    if !analysis.can_assemble() {
        return Err(RecoveryError::NotEnough {
            needed: a.params.threshold() as usize,
            ceremony_id: a.ceremony_id.clone(),
            have: analysis.accepted.len(),
            left_out: Vec::new(),
        }
        .into());
    }
    // checked against A's commitments and recorded fingerprint
    let key = analysis.assemble()?;
    let used: Vec<(String, u8)> = analysis
        .accepted
        .iter()
        .map(|x| (x.source.clone(), x.shard.share.id().get()))
        .collect();
    drop(analysis);

    let mut shares = split::split_key(&key, params, &label, &request.custodians)?;
    if shares.info.commitments.to_compressed()[0] != a.commitments.to_compressed()[0]
        || shares.info.fingerprint != a.fingerprint
    {
        return Err(Error::Check(
            "internal check failed: the new split does not commit to the same key (C_0)".into(),
        ));
    }
    // every id A's record names, and any added to it later by extend
    let mut retired_ids: Vec<u8> = old.custodians.iter().map(|c| c.id).collect();
    retired_ids.extend(1..=a.params.shares());
    retired_ids.sort_unstable();
    retired_ids.dedup();
    let supersedes = Supersedes {
        ceremony_id: a.ceremony_id.clone(),
        record_sha256: old_sha256,
        retired_ids,
    };
    shares.record.supersedes = Some(supersedes.clone());
    // the same key, so the same data key: secret.age beside A's record opens with B's shares
    shares.record.secret = old.secret.clone();
    let info = shares.info.clone();

    // 1. the new shares, together; then checked back from disk
    let dir = &request.out;
    let mut batch = OutputBatch::in_dir(dir, false)?;
    let mut reports = Vec::with_capacity(request.transports.len());
    for (i, transport) in request.transports.iter().enumerate() {
        reports.push(split::stage_share(&shares, i, transport, dir, &mut batch)?);
    }
    let written = batch.commit()?;
    let remove_all = |extra: &[PathBuf]| {
        for p in written.iter().chain(extra) {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir(dir);
    };
    let checked = (|| -> Result<()> {
        for r in &reports {
            crate::check_back::share_outputs(r, &shares)?;
            if let Some(sealed) = r.output(OutputKind::SealedShare) {
                let expected = shares.shard(r.id).expect("a report of this split");
                crate::check_back::sealed_share(
                    &sealed.path,
                    expected,
                    r.sealed_to.as_ref(),
                    &mut unsealer,
                    console,
                    events,
                )?;
            }
        }
        crate::check_back::reconstructs(&shares, &key)
    })();
    drop(key);
    if let Err(e) = checked {
        remove_all(&[]);
        return Err(e);
    }

    // 2. the transcript segment, naming the record about to be written;
    // the share values are not needed any more
    let record_json = shares.record.to_json();
    drop(shares);
    let record_sha256 = Sha256Digest::of(record_json.as_bytes());
    let chained_to = previous.as_ref().map(|p| p.final_hash);
    let segment_path = dir.join(SEGMENT_FILE);
    let segment = (|| {
        let header = match &request.plan {
            Some(plan) => Header::from_plan(plan),
            None => Header {
                label: label.clone(),
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
            },
        };
        let mut w = TranscriptWriter::create_with(
            &segment_path,
            &header,
            WriterOptions {
                chain_from: chained_to,
                ..WriterOptions::default()
            },
        )?;
        if let Some(plan) = &request.plan {
            w.append("plan", plan.facts())?;
        }
        w.append(
            "reshare",
            json!({
                "ceremony_id": info.ceremony_id.to_string(),
                "key_fingerprint": info.fingerprint.to_string(),
                "threshold": params.threshold(),
                "shares": params.shares(),
                "supersedes": a.ceremony_id.to_string(),
                "previous_threshold": a.params.threshold(),
                "previous_shares": a.params.shares(),
                "previous_record_sha256": old_sha256.to_hex(),
                "used_ids": used.iter().map(|u| u.1).collect::<Vec<_>>(),
                "record_sha256": record_sha256.to_hex(),
                "transcript_final_hash": chained_to.map(|h| h.to_hex()),
            }),
        )?;
        for r in &reports {
            w.append(
                "share-issued",
                json!({
                    "ceremony_id": info.ceremony_id.to_string(),
                    "id": r.id,
                    "custodian": r.custodian,
                    "outputs": r.outputs.iter().map(|o| json!({
                        "file": o.path.file_name().map(|f| f.to_string_lossy().into_owned()),
                        "sha256": o.sha256.to_hex(),
                    })).collect::<Vec<_>>(),
                    "sealed_to": r.sealed_to.as_ref().map(|s| s.label.clone()),
                    "checked_back": true,
                }),
            )?;
        }
        w.append(
            "retire",
            json!({
                "ceremony_id": a.ceremony_id.to_string(),
                "retired_ids": supersedes.retired_ids,
                "retired_by": info.ceremony_id.to_string(),
                "record_sha256": old_sha256.to_hex(),
            }),
        )?;
        w.close_and_sign(json!({
            "ceremony_id": info.ceremony_id.to_string(),
            "retired": a.ceremony_id.to_string(),
        }))
    })();
    let segment = match segment {
        Ok(s) => s,
        Err(e) => {
            remove_all(&[segment_path]);
            return Err(e);
        }
    };

    // 3. the record declaring A retired, last
    let record_path = split::record_path(dir);
    if let Err(e) = crate::atomic_file::write_file(&record_path, record_json.as_bytes(), false) {
        remove_all(&[segment_path]);
        return Err(e);
    }
    Ok(ReshareReport {
        previous: a.clone(),
        info,
        supersedes,
        used,
        record: OutputFile {
            path: record_path,
            kind: OutputKind::CeremonyRecord,
            sha256: record_sha256,
        },
        shares: reports,
        segment,
        chained_to,
    })
}
