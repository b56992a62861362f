//! Rehearsing a recovery from a ceremony's outputs, at any date after the
//! split: every output in the ceremony folder is opened once (a shard file
//! read, a QR image decoded, a sealed share unsealed on its token), checked
//! against the ceremony record, and then the key is reconstructed from
//! **every** t-subset of the shares, each result checked against the
//! commitments and the recorded fingerprint and wiped at once. Nothing
//! secret is shown or written.
//!
//! The rehearsal is recorded in its own signed file,
//! `rehearsal-<time>.jsonl`, written by [`crate::transcript::TranscriptWriter`]
//! under a fresh one-time key, whose first line's `prev` is the final hash of
//! the ceremony's `transcript.jsonl`: `keyceremony ceremony verify-transcript
//! FILE --chain-from HASH` checks it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use subtle::ConstantTimeEq;

use crate::console::Console;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::inputs::{self, InputOptions, Item};
use crate::plan::Mode;
use crate::record::{CeremonyId, CeremonyInfo, CeremonyRecord};
use crate::seal::SealedWith;
use crate::shamir::{self, Share};
use crate::shard::{self, JsonDocument};
use crate::transcript::{self, Header, SignedTranscript, TranscriptWriter, WriterOptions};

/// The record file in a ceremony folder.
pub const RECORD_FILE: &str = "ceremony.json";
/// The ceremony run's transcript in a ceremony folder.
pub const TRANSCRIPT_FILE: &str = "transcript.jsonl";
/// Most subsets one rehearsal tries (C(n, t) grows fast: 255 choose 128 is
/// astronomical); beyond it the rehearsal is refused before anything is opened.
pub const MAX_SUBSETS: u64 = 200_000;
/// Most output files looked at in one folder.
pub const MAX_OUTPUTS: usize = 4 * 255;

/// What to rehearse.
#[derive(Debug, Clone)]
pub struct RehearseRequest {
    /// The ceremony folder (`ceremony.json`, `transcript.jsonl`, the outputs).
    pub dir: PathBuf,
    /// Go on without asking (`--yes`).
    pub yes: bool,
    /// Tokens and PINs for the sealed shares. Without `test_tokens`, the
    /// folder's `test-tokens/` is used when the transcript says the
    /// ceremony was a rehearsal (as the demo ceremony makes it).
    pub inputs: InputOptions,
    /// Who led the rehearsal (`--lead NAME`), recorded in the header and
    /// the `rehearsal` line; `None`: not named.
    pub lead: Option<String>,
    /// Who witnessed it (`--witness NAME`, repeated), recorded likewise.
    pub witnesses: Vec<String>,
}

/// Why one output could not be used.
#[derive(Debug, Clone)]
pub enum OutputProblem {
    /// Could not be read, parsed, decoded or unsealed.
    Unreadable(Arc<Error>),
    /// A ceremony record where a share was expected.
    NotAShare,
    /// A good shard of another ceremony.
    OtherCeremony(CeremonyId),
    /// The record's ceremony id but another split: made this way, not damaged.
    Forged,
    /// Its name says one share, it holds another.
    WrongId { named: u8, holds: u8 },
    /// Not a share id of the record (ids 1..n).
    NotInRecord(u8),
    /// Holds the same share id as another output of it, with another value.
    Disagrees { with: String },
}

impl fmt::Display for OutputProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputProblem::Unreadable(e) => match e.path() {
                Some(_) => f.write_str(&e.problem()),
                None => write!(f, "{e}"),
            },
            OutputProblem::NotAShare => f.write_str("is a ceremony record, not a share"),
            OutputProblem::OtherCeremony(id) => write!(f, "belongs to another ceremony, {id}"),
            OutputProblem::Forged => f.write_str(
                "FORGED: carries this ceremony's id but not its split (threshold, count or \
                 commitments differ from the record); it passes its own checks, so it was made this way",
            ),
            OutputProblem::WrongId { named, holds } => write!(
                f,
                "its name says share {named}, but it holds share {holds}"
            ),
            OutputProblem::NotInRecord(id) => {
                write!(f, "share {id} is not one of the record's share ids")
            }
            OutputProblem::Disagrees { with } => write!(
                f,
                "holds another value for the same share than {with}: one of them is not genuine"
            ),
        }
    }
}

/// One output file (or one code of an image holding several).
#[derive(Debug, Clone)]
pub struct OutputCheck {
    pub file: PathBuf,
    /// How it is named in messages (`#k` for a code of several in one image).
    pub source: String,
    /// The share id its name gives.
    pub named_id: u8,
    /// For a sealed share, the token that opened it.
    pub sealed: Option<SealedWith>,
    /// SHA-256 of the file as read.
    pub sha256: Option<Sha256Digest>,
    pub problem: Option<OutputProblem>,
}

/// How one share of the record fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareStatus {
    /// At least one output gave it, and every good output agrees.
    Good,
    /// Outputs were there, none usable (see their problems).
    Bad,
    /// No output of this share in the folder.
    Missing,
}

#[derive(Debug, Clone)]
pub struct ShareCheck {
    pub id: u8,
    pub custodian: Option<String>,
    /// Sources of the outputs that name this share.
    pub outputs: Vec<String>,
    pub status: ShareStatus,
}

/// The verdict on one t-subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubsetVerdict {
    /// The key it gives matches the commitments and the recorded fingerprint.
    Reconstructed,
    /// All its shares were good, yet it failed (never expected: each share
    /// was checked against the commitments).
    Failed(String),
    /// Not tried: these of its shares are bad or missing.
    Spoiled { by: Vec<u8> },
}

#[derive(Debug, Clone)]
pub struct SubsetCheck {
    pub ids: Vec<u8>,
    pub verdict: SubsetVerdict,
}

/// Everything the rehearsal found, and the record it wrote.
#[derive(Debug, Clone)]
pub struct RehearsalReport {
    pub dir: PathBuf,
    pub ceremony: CeremonyInfo,
    /// The final hash of the ceremony transcript the rehearsal record
    /// continues (`None`: the folder has no transcript, as after a plain split).
    pub chained_to: Option<Sha256Digest>,
    /// The test-token folder used, if any.
    pub test_tokens: Option<PathBuf>,
    pub outputs: Vec<OutputCheck>,
    pub shares: Vec<ShareCheck>,
    pub subsets: Vec<SubsetCheck>,
    /// Machine time of the reconstructions (after every output was opened).
    pub subsets_time: Duration,
    /// The signed rehearsal record.
    pub record: SignedTranscript,
    /// Every output good, every share there, every subset reconstructed.
    pub ok: bool,
}

impl RehearsalReport {
    pub fn reconstructed(&self) -> usize {
        self.subsets
            .iter()
            .filter(|s| s.verdict == SubsetVerdict::Reconstructed)
            .count()
    }

    /// The subsets a share spoils (those it is in, when it is bad or missing).
    pub fn spoiled_by(&self, id: u8) -> Vec<&SubsetCheck> {
        self.subsets
            .iter()
            .filter(|s| matches!(&s.verdict, SubsetVerdict::Spoiled { by } if by.contains(&id)))
            .collect()
    }
}

/// C(n, k), saturating.
pub fn subsets_count(n: u64, k: u64) -> u64 {
    let k = k.min(n - k.min(n));
    let mut c: u128 = 1;
    for i in 0..k {
        c = c * (n - i) as u128 / (i + 1) as u128;
        if c > u64::MAX as u128 {
            return u64::MAX;
        }
    }
    c as u64
}

/// Every k-subset of `ids`, in lexicographic order.
fn for_each_subset(ids: &[u8], k: usize, mut f: impl FnMut(&[u8])) {
    if k == 0 || k > ids.len() {
        return;
    }
    let mut idx: Vec<usize> = (0..k).collect();
    let mut pick = vec![0u8; k];
    loop {
        for (p, &i) in pick.iter_mut().zip(&idx) {
            *p = ids[i];
        }
        f(&pick);
        // the rightmost index that can still move
        let Some(j) = (0..k).rev().find(|&j| idx[j] != j + ids.len() - k) else {
            return;
        };
        idx[j] += 1;
        for m in j + 1..k {
            idx[m] = idx[m - 1] + 1;
        }
    }
}

/// Reads a ceremony record (and the SHA-256 of its bytes); a shard file or
/// anything else is refused naming the file.
pub(crate) fn load_record(path: &Path) -> Result<(CeremonyRecord, Sha256Digest)> {
    let bytes = crate::input_file::read(path, shard::MAX_JSON_LEN, "ceremony record")?;
    let digest = Sha256Digest::of(&bytes);
    match shard::parse_document(&bytes).map_err(|e| Error::input(path, e))? {
        JsonDocument::Record(r) => Ok((*r, digest)),
        JsonDocument::Shard(_) => Err(Error::input(
            path,
            "is a shard file, not the ceremony record",
        )),
    }
}

/// The share outputs in `dir`: `shard-<id>.json|png|jpg|jpeg|age|json.age`, by id.
fn output_files(dir: &Path) -> Result<Vec<(u8, PathBuf)>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "cannot list the folder", e))?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io(dir, "cannot list the folder", e))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((id, ext)) = name
            .strip_prefix("shard-")
            .and_then(|rest| rest.split_once('.'))
        else {
            continue;
        };
        if !matches!(ext, "json" | "png" | "jpg" | "jpeg" | "age" | "json.age") {
            continue;
        }
        let Ok(id) = id.parse::<u8>() else { continue };
        if id == 0 || !e.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        out.push((id, e.path()));
        if out.len() > MAX_OUTPUTS {
            return Err(Error::input(
                dir,
                format!("holds more than {MAX_OUTPUTS} share outputs (shard-<id>.*): not a ceremony folder"),
            ));
        }
    }
    out.sort();
    Ok(out)
}

/// One polynomial under one ceremony id (the share count may differ: see
/// `extend`).
fn same_split(a: &CeremonyInfo, b: &CeremonyInfo) -> bool {
    a.ceremony_id == b.ceremony_id
        && a.params.threshold() == b.params.threshold()
        && a.commitments.to_compressed() == b.commitments.to_compressed()
}

/// Runs the rehearsal described by `request` (module docs). Refuses
/// (`Err`, nothing written) a folder without a readable record, a
/// transcript that does not verify, too many subsets, or a "no" on the
/// console; otherwise every finding is in the report and the record.
pub fn rehearse(
    request: &RehearseRequest,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<RehearsalReport> {
    let dir = &request.dir;
    for name in request.lead.iter().chain(&request.witnesses) {
        crate::record::check_new_name(name)
            .map_err(|problem| Error::Usage(format!("--lead/--witness {name:?}: {problem}")))?;
    }
    if !dir.is_dir() {
        return Err(Error::input(
            dir,
            "is not a folder (the ceremony's output folder)",
        ));
    }
    let record_path = dir.join(RECORD_FILE);
    let (record, record_sha256) = load_record(&record_path)?;
    let info = record.info.clone();

    let transcript_path = dir.join(TRANSCRIPT_FILE);
    let transcript = if transcript_path.exists() {
        let opts = transcript::VerifyOptions {
            record: record.ceremony_public_key.is_some().then(|| record.clone()),
            chain_from: None,
        };
        Some(transcript::verify_file(&transcript_path, &opts)?)
    } else if record.ceremony_public_key.is_some() {
        return Err(Error::input(
            &transcript_path,
            "is missing: the record names a ceremony key, so the ceremony's transcript belongs beside it",
        ));
    } else {
        None
    };
    let mode = transcript
        .as_ref()
        .map_or(Mode::Production, |t| t.header.mode);

    let t = info.params.threshold();
    let n = info.params.shares();
    let count = subsets_count(n as u64, t as u64);
    if count > MAX_SUBSETS {
        return Err(Error::Check(format!(
            "ceremony {}: {t} of {n} makes {count} subsets, more than the {MAX_SUBSETS} one rehearsal tries",
            info.ceremony_id
        )));
    }

    let files = output_files(dir)?;
    let sealed = files
        .iter()
        .filter(|(_, p)| p.extension().is_some_and(|e| e == "age"))
        .count();
    let test_tokens = request.inputs.test_tokens.clone().or_else(|| {
        let d = dir.join("test-tokens");
        (mode == Mode::Rehearsal && d.is_dir()).then_some(d)
    });
    let stamp = transcript::format_time(time::OffsetDateTime::now_utc()).replace(':', "");
    // a second rehearsal in the same second gets the next free number
    let record_out = (1..=100)
        .map(|k| match k {
            1 => dir.join(format!("rehearsal-{stamp}.jsonl")),
            k => dir.join(format!("rehearsal-{stamp}-{k}.jsonl")),
        })
        .find(|p| !p.exists())
        .ok_or_else(|| Error::Exists {
            path: dir.join(format!("rehearsal-{stamp}.jsonl")),
        })?;
    if !request.yes {
        let question = format!(
            "Rehearse ceremony {}: open {} outputs ({sealed} sealed, each asking its token's PIN and touch), \
             reconstruct from all {count} subsets of {t}, and write {}?",
            info.ceremony_id,
            files.len(),
            record_out.display()
        );
        if !console.confirm(&question) {
            return Err(Error::Check(
                "rehearsal not confirmed: nothing was opened or written".into(),
            ));
        }
    }

    // every output, each opened once
    let options = InputOptions {
        test_tokens: test_tokens.clone(),
        ..request.inputs.clone()
    };
    let mut unsealer = options.unsealer();
    let mut outputs: Vec<OutputCheck> = Vec::new();
    let mut values: BTreeMap<u8, (String, Share)> = BTreeMap::new();
    for (named_id, path) in &files {
        let sha256 = crate::input_file::read(path, crate::qr::decode::MAX_FILE_BYTES, "output")
            .ok()
            .map(|b| Sha256Digest::of(&b));
        let base = |source: String| OutputCheck {
            file: path.clone(),
            source,
            named_id: *named_id,
            sealed: None,
            sha256,
            problem: None,
        };
        let loaded = match inputs::load_path(path, &mut unsealer, console, events) {
            Ok(l) => l,
            Err(e) => {
                outputs.push(OutputCheck {
                    problem: Some(OutputProblem::Unreadable(Arc::new(e))),
                    ..base(path.display().to_string())
                });
                continue;
            }
        };
        for l in loaded {
            let mut check = OutputCheck {
                sealed: l.sealed.clone(),
                ..base(l.source.clone())
            };
            check.problem = match l.item {
                Item::Record(_) => Some(OutputProblem::NotAShare),
                Item::Shard(s) => {
                    let holds = s.share.id().get();
                    if s.info.ceremony_id != info.ceremony_id {
                        Some(OutputProblem::OtherCeremony(s.info.ceremony_id.clone()))
                    } else if !same_split(&s.info, &info) {
                        Some(OutputProblem::Forged)
                    } else if holds != *named_id {
                        Some(OutputProblem::WrongId {
                            named: *named_id,
                            holds,
                        })
                    } else if holds > n {
                        Some(OutputProblem::NotInRecord(holds))
                    } else if let Some((first, v)) = values.get(&holds) {
                        let same: bool = v.expose_value().ct_eq(s.share.expose_value()).into();
                        (!same).then(|| OutputProblem::Disagrees {
                            with: first.clone(),
                        })
                    } else {
                        values.insert(holds, (l.source.clone(), s.share.clone()));
                        None
                    }
                }
            };
            outputs.push(check);
        }
    }
    // a share two outputs disagree on is not trusted from either
    for o in &outputs {
        if matches!(o.problem, Some(OutputProblem::Disagrees { .. })) {
            values.remove(&o.named_id);
        }
    }

    let shares: Vec<ShareCheck> = (1..=n)
        .map(|id| {
            let named: Vec<String> = outputs
                .iter()
                .filter(|o| o.named_id == id)
                .map(|o| o.source.clone())
                .collect();
            let status = if values.contains_key(&id) {
                ShareStatus::Good
            } else if named.is_empty() {
                ShareStatus::Missing
            } else {
                ShareStatus::Bad
            };
            ShareCheck {
                id,
                custodian: record
                    .custodians
                    .iter()
                    .find(|c| c.id == id)
                    .and_then(|c| c.name.clone()),
                outputs: named,
                status,
            }
        })
        .collect();

    // every t-subset, each key checked and wiped at once
    let ids: Vec<u8> = (1..=n).collect();
    let public = info.commitments.public_point();
    let started = Instant::now();
    let mut subsets = Vec::with_capacity(count as usize);
    let mut picked: Vec<Share> = Vec::with_capacity(t as usize);
    for_each_subset(&ids, t as usize, |subset| {
        let by: Vec<u8> = subset
            .iter()
            .copied()
            .filter(|id| !values.contains_key(id))
            .collect();
        let verdict = if !by.is_empty() {
            SubsetVerdict::Spoiled { by }
        } else {
            picked.clear();
            picked.extend(subset.iter().map(|id| values[id].1.clone()));
            match shamir::combine(&picked) {
                Ok(key)
                    if key.public_point() == public && key.fingerprint() == info.fingerprint =>
                {
                    SubsetVerdict::Reconstructed
                }
                Ok(_) => SubsetVerdict::Failed(
                    "the key it gives does not match the commitments and the recorded fingerprint"
                        .into(),
                ),
                Err(e) => SubsetVerdict::Failed(e.to_string()),
            }
        };
        subsets.push(SubsetCheck {
            ids: subset.to_vec(),
            verdict,
        });
    });
    picked.clear();
    drop(values);
    let subsets_time = started.elapsed();

    let ok = outputs.iter().all(|o| o.problem.is_none())
        && shares.iter().all(|s| s.status == ShareStatus::Good)
        && subsets
            .iter()
            .all(|s| s.verdict == SubsetVerdict::Reconstructed);

    // the signed record, chained to the ceremony transcript
    let header = Header {
        label: info.label.clone(),
        mode,
        plan_sha256: None,
        lead: request.lead.clone().unwrap_or_default(),
        custodians: shares
            .iter()
            .map(|s| s.custodian.clone().unwrap_or_default())
            .collect(),
        witnesses: request.witnesses.clone(),
    };
    let chained_to = transcript.as_ref().map(|t| t.final_hash);
    let mut w = TranscriptWriter::create_with(
        &record_out,
        &header,
        WriterOptions {
            chain_from: chained_to,
            ..WriterOptions::default()
        },
    )?;
    let name_of = |p: &Path| {
        p.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    w.append(
        "rehearsal",
        json!({
            "ceremony_id": info.ceremony_id.to_string(),
            "key_fingerprint": info.fingerprint.to_string(),
            "threshold": t,
            "shares": n,
            "record": RECORD_FILE,
            "record_sha256": record_sha256.to_hex(),
            "transcript": transcript.as_ref().map(|_| TRANSCRIPT_FILE),
            "transcript_final_hash": chained_to.map(|h| h.to_hex()),
            "outputs": outputs.len(),
            "subsets": count,
            "lead": request.lead,
            "witnesses": request.witnesses,
        }),
    )?;
    for o in &outputs {
        w.append(
            "output",
            json!({
                "file": name_of(&o.file),
                "source": o.source.strip_prefix(&dir.display().to_string()).map(|s| s.trim_start_matches('/')).unwrap_or(&o.source),
                "share": o.named_id,
                "sha256": o.sha256.map(|d| d.to_hex()),
                "sealed_to": o.sealed.as_ref().map(|s| s.token.clone()),
                "ok": o.problem.is_none(),
                "problem": o.problem.as_ref().map(|p| p.to_string()),
            }),
        )?;
    }
    for s in &shares {
        w.append(
            "share",
            json!({
                "id": s.id,
                "custodian": s.custodian,
                "status": match s.status {
                    ShareStatus::Good => "good",
                    ShareStatus::Bad => "bad",
                    ShareStatus::Missing => "missing",
                },
                "outputs": s.outputs.len(),
            }),
        )?;
    }
    let mut spoiled_by: BTreeMap<String, usize> = BTreeMap::new();
    for s in &shares {
        if s.status != ShareStatus::Good {
            spoiled_by.insert(
                s.id.to_string(),
                subsets
                    .iter()
                    .filter(|x| matches!(&x.verdict, SubsetVerdict::Spoiled { by } if by.contains(&s.id)))
                    .count(),
            );
        }
    }
    let failed: Vec<String> = subsets
        .iter()
        .filter(|s| matches!(s.verdict, SubsetVerdict::Failed(_)))
        .map(|s| ids_text(&s.ids))
        .take(1000)
        .collect();
    let reconstructed = subsets
        .iter()
        .filter(|s| s.verdict == SubsetVerdict::Reconstructed)
        .count();
    w.append(
        "subsets",
        json!({
            "tried": count,
            "reconstructed": reconstructed,
            "failed": failed,
            "spoiled_by_share": spoiled_by,
        }),
    )?;
    let signed = w.close_and_sign(json!({ "ok": ok }))?;

    Ok(RehearsalReport {
        dir: dir.clone(),
        ceremony: info,
        chained_to,
        test_tokens,
        outputs,
        shares,
        subsets,
        subsets_time,
        record: signed,
        ok,
    })
}

/// `1,2,5`: a subset as written in reports and the record.
pub fn ids_text(ids: &[u8]) -> String {
    ids.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_enumerates_subsets() {
        assert_eq!(subsets_count(10, 5), 252);
        assert_eq!(subsets_count(5, 3), 10);
        assert_eq!(subsets_count(3, 3), 1);
        assert_eq!(subsets_count(255, 128), u64::MAX);
        let mut seen = Vec::new();
        for_each_subset(&[1, 2, 3, 4], 2, |s| seen.push(s.to_vec()));
        assert_eq!(
            seen,
            vec![
                vec![1, 2],
                vec![1, 3],
                vec![1, 4],
                vec![2, 3],
                vec![2, 4],
                vec![3, 4]
            ]
        );
        let mut n = 0;
        for_each_subset(&(1..=10).collect::<Vec<u8>>(), 5, |_| n += 1);
        assert_eq!(n, 252);
    }
}
