//! Deciding what a pile of inputs is: which shards belong to the ceremony,
//! which are bad and why, and whether enough good ones are there to
//! reconstruct the key. `verify` and `assemble` both stand on this.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::Error;
use crate::inputs::{Item, Loaded};
use crate::record::{CeremonyId, CeremonyInfo};
use crate::secret::{KeyFingerprint, RootKey};
use crate::shamir::{self, ShamirError};
use crate::shard::ShardFile;

/// An input that could not be used, and why.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub source: String,
    pub reason: Rejection,
}

/// Why an input could not be used.
#[derive(Debug, Clone)]
pub enum Rejection {
    /// It could not be read, parsed, decoded or unsealed on its own (shared,
    /// so that a problem can be both reported and recorded).
    Unreadable { path: PathBuf, error: Arc<Error> },
    /// A good shard of another ceremony.
    OtherCeremony {
        ceremony_id: CeremonyId,
        fingerprint: KeyFingerprint,
        reference: CeremonyId,
        against: Reference,
        /// The same key as the reference (same fingerprint): one of the two
        /// ceremonies is a re-share of the other.
        same_key: bool,
    },
    /// A share of a ceremony that the given record (v2) supersedes: retired
    /// by `keyceremony reshare`, no longer to be used.
    Retired {
        ceremony_id: CeremonyId,
        id: u8,
        retired_by: CeremonyId,
    },
    /// Carries the record's ceremony id but another split (threshold, count
    /// or commitments): it passed its own checks, so it was made that way,
    /// not damaged.
    Forged {
        reference: CeremonyId,
        /// The key fingerprint the shard claims.
        fingerprint: KeyFingerprint,
        /// The ceremony record's.
        recorded: KeyFingerprint,
    },
}

/// What a set is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// A ceremony record among the inputs.
    Record,
    /// The majority of the shards.
    Shards,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reference::Record => "the ceremony record",
            Reference::Shards => "the other shards",
        })
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The file is named already; an error about another file (a
            // PIN file, say) keeps its own name.
            Rejection::Unreadable { path, error } if error.path() == Some(path.as_path()) => {
                f.write_str(&error.problem())
            }
            Rejection::Unreadable { error, .. } => write!(f, "{error}"),
            Rejection::OtherCeremony {
                ceremony_id,
                fingerprint,
                reference,
                against,
                same_key,
            } => {
                write!(
                    f,
                    "belongs to ceremony {ceremony_id} (fingerprint {fingerprint}), not to ceremony {reference} of {against}"
                )?;
                if *same_key {
                    write!(
                        f,
                        "; it holds the same key, so one of the two ceremonies re-shared the other \
                         (keyceremony reshare): give the newest ceremony.json to tell which (the \
                         re-share retired the other's shares once its ceremony.json was written; \
                         a reshare folder without its ceremony.json was interrupted and retired nothing)"
                    )?;
                }
                Ok(())
            }
            Rejection::Retired {
                ceremony_id,
                id,
                retired_by,
            } => write!(
                f,
                "RETIRED: share {id} of ceremony {ceremony_id}, retired by ceremony {retired_by} \
                 (keyceremony reshare; same key): use the shares of ceremony {retired_by}"
            ),
            Rejection::Forged {
                reference,
                fingerprint,
                recorded,
            } => {
                write!(
                    f,
                    "FORGED: carries the id of ceremony {reference} but not its split: its threshold, \
                     share count or commitments differ from the ceremony record's"
                )?;
                if fingerprint != recorded {
                    write!(
                        f,
                        " (key fingerprint {fingerprint}, the record says {recorded})"
                    )?;
                }
                f.write_str(
                    "; the file passes its own checks, so it was made this way, not damaged",
                )
            }
        }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.reason)
    }
}

/// A problem of a whole set that no single input can be blamed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetConflict {
    /// Two ceremony records describe different splits.
    RecordsDisagree { first: String, other: String },
    /// The shards come from several splits and none is a majority.
    NoMajority(Vec<CeremonyGroup>),
    /// Shards carrying one ceremony id come from different splits (another
    /// key or other commitments), and no ceremony record was given to tell
    /// the real ones from the forged ones. Evidence of forgery, not damage:
    /// a shard passes its own checks only if it was made that way.
    Forged {
        ceremony_id: CeremonyId,
        /// One group per split, the largest first.
        groups: Vec<SplitGroup>,
    },
}

/// Shards of one ceremony id that agree on the split, for [`SetConflict::Forged`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitGroup {
    pub fingerprint: KeyFingerprint,
    pub threshold: u8,
    pub shares: u8,
    pub sources: Vec<String>,
}

/// Shards of one ceremony, for [`SetConflict::NoMajority`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CeremonyGroup {
    pub ceremony_id: CeremonyId,
    pub fingerprint: KeyFingerprint,
    pub sources: Vec<String>,
}

impl fmt::Display for SetConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetConflict::RecordsDisagree { first, other } => write!(
                f,
                "the ceremony records {first} and {other} describe different splits; give only the right one"
            ),
            SetConflict::NoMajority(groups) => {
                let described: Vec<String> = groups
                    .iter()
                    .map(|g| {
                        format!(
                            "ceremony {} (fingerprint {}): {}",
                            g.ceremony_id,
                            g.fingerprint,
                            g.sources.join(", ")
                        )
                    })
                    .collect();
                write!(
                    f,
                    "the shards do not all come from one split, and no group is a majority: {}. \
                     Remove the shards that do not belong, or add the ceremony record (ceremony.json) to decide",
                    described.join("; ")
                )
            }
            SetConflict::Forged {
                ceremony_id,
                groups,
            } => {
                let described: Vec<String> = groups
                    .iter()
                    .enumerate()
                    .map(|(i, g)| {
                        format!(
                            "group {} (key fingerprint {}, {} of {}): {}",
                            i + 1,
                            g.fingerprint,
                            g.threshold,
                            g.shares,
                            g.sources.join(", ")
                        )
                    })
                    .collect();
                write!(
                    f,
                    "FORGERY: the shards carrying ceremony id {ceremony_id} come from {} different splits: {}. \
                     Each passes its own checks, so this is not damage: some were made to look like this \
                     ceremony's, and counting them cannot tell which. Refusing. Add the ceremony record \
                     (ceremony.json, kept with the ceremony's papers) to the inputs: the shards that match \
                     it are used and the others are named",
                    groups.len(),
                    described.join("; ")
                )
            }
        }
    }
}

/// One thing wrong with a set, as [`SetAnalysis::problems`] lists them.
#[derive(Debug, Clone)]
pub enum SetProblem {
    Conflict(SetConflict),
    Rejected(Rejected),
    Duplicate(Duplicate),
}

impl fmt::Display for SetProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetProblem::Conflict(c) => write!(f, "{c}"),
            SetProblem::Rejected(r) => write!(f, "{r}"),
            SetProblem::Duplicate(d) => write!(
                f,
                "{} and {} both hold share {} (a share counts once)",
                d.kept, d.repeated, d.id
            ),
        }
    }
}

/// Why a set of inputs gives no key.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("{0}")]
    Conflict(SetConflict),
    #[error("shards of more than one ceremony were given; remove the ones that do not belong: {}", list(.0))]
    Foreign(Vec<Rejected>),
    #[error("no usable shard: {}", list(.0))]
    NoUsableShard(Vec<Rejected>),
    #[error("need {needed} good shards of ceremony {ceremony_id}, have {have}{}", left_out.iter().map(|p| format!("\n  left out {p}")).collect::<String>())]
    NotEnough {
        needed: usize,
        ceremony_id: CeremonyId,
        have: usize,
        /// Every problem of the set.
        left_out: Vec<SetProblem>,
    },
    #[error("no shard of any ceremony was readable")]
    NoReference,
    #[error("{0}")]
    Shamir(#[source] ShamirError),
    #[error(
        "the reconstructed key has fingerprint {got}, not the recorded {recorded}; refusing it"
    )]
    WrongFingerprint {
        got: KeyFingerprint,
        recorded: KeyFingerprint,
    },
}

fn list(items: &[Rejected]) -> String {
    items
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A shard that belongs to the ceremony and passed every check.
#[derive(Debug)]
pub struct Accepted {
    pub source: String,
    pub shard: ShardFile,
}

/// Two inputs carrying the same share id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub kept: String,
    pub repeated: String,
    pub id: u8,
}

#[derive(Debug, Default)]
pub struct SetAnalysis {
    /// The ceremony the set is judged against.
    pub reference: Option<CeremonyInfo>,
    /// Where the reference came from: a ceremony record, or the shards' majority.
    pub reference_from_record: bool,
    /// Good shards of the reference ceremony, one per id, in id order.
    pub accepted: Vec<Accepted>,
    /// Inputs that failed on their own or disagree with the reference.
    pub rejected: Vec<Rejected>,
    /// Shards of another ceremony.
    pub foreign: Vec<Rejected>,
    pub duplicates: Vec<Duplicate>,
    /// A problem of the whole set that no single input can be blamed for.
    pub conflict: Option<SetConflict>,
    /// What the reference record (v2) supersedes: shards of that ceremony
    /// are told as [`Rejection::Retired`] (in `foreign`).
    pub supersedes: Option<crate::record::Supersedes>,
}

/// The facts that make two shards part of one split: the ceremony id and
/// the polynomial (threshold and commitments). Label, time and custodian
/// are descriptive and may be shortened (QR codes), so they do not count;
/// nor does the share count, which `extend` raises: a share added later on
/// the same polynomial belongs to the same split.
fn identity(info: &CeremonyInfo) -> Identity {
    (
        info.ceremony_id.to_string(),
        info.params.threshold(),
        info.commitments.to_compressed(),
    )
}

pub fn analyse(items: Vec<Loaded>, failures: Vec<Rejected>) -> SetAnalysis {
    let mut out = SetAnalysis {
        rejected: failures,
        ..Default::default()
    };
    let mut records = Vec::new();
    let mut shards = Vec::new();
    for l in items {
        match l.item {
            Item::Record(r) => records.push((l.source, r)),
            Item::Shard(s) => shards.push((l.source, s)),
        }
    }

    // The reference: a ceremony record if given, else the shards' strict majority.
    if let Some((first_src, first)) = records.first() {
        if let Some((src, _)) = records
            .iter()
            .find(|(_, r)| identity(&r.info) != identity(&first.info))
        {
            out.conflict = Some(SetConflict::RecordsDisagree {
                first: first_src.clone(),
                other: src.clone(),
            });
            return out;
        }
        out.reference = Some(first.info.clone());
        out.reference_from_record = true;
        out.supersedes = first.supersedes.clone();
    } else if !shards.is_empty() {
        let mut groups: BTreeMap<_, Vec<usize>> = BTreeMap::new();
        for (i, (_, s)) in shards.iter().enumerate() {
            groups.entry(identity(&s.info)).or_default().push(i);
        }
        // One ceremony id, several splits: without the record no count of
        // shards may decide (a forger can make as many as they like).
        if let Some(forged) = forged_splits(&groups, &shards) {
            out.conflict = Some(forged);
            return out;
        }
        let mut sizes: Vec<(usize, &Vec<usize>)> = groups.values().map(|v| (v.len(), v)).collect();
        sizes.sort_by_key(|s| std::cmp::Reverse(s.0));
        if sizes.len() > 1 && sizes[0].0 == sizes[1].0 {
            let described: Vec<CeremonyGroup> = groups
                .values()
                .map(|members| {
                    let info = &shards[members[0]].1.info;
                    CeremonyGroup {
                        ceremony_id: info.ceremony_id.clone(),
                        fingerprint: info.fingerprint,
                        sources: members.iter().map(|&i| shards[i].0.clone()).collect(),
                    }
                })
                .collect();
            out.conflict = Some(SetConflict::NoMajority(described));
            return out;
        }
        // QR codes drop the label: describe the ceremony by a member that kept it.
        let described = sizes[0]
            .1
            .iter()
            .copied()
            .max_by_key(|&i| shards[i].1.info.label.len())
            .expect("groups are never empty");
        out.reference = Some(shards[described].1.info.clone());
    }

    let Some(reference) = out.reference.clone() else {
        return out;
    };
    let against = if out.reference_from_record {
        Reference::Record
    } else {
        Reference::Shards
    };
    let want = identity(&reference);
    let mut by_id: BTreeMap<u8, Accepted> = BTreeMap::new();
    for (source, shard) in shards {
        if shard.info.ceremony_id != reference.ceremony_id {
            let retired = out
                .supersedes
                .as_ref()
                .filter(|r| r.ceremony_id == shard.info.ceremony_id);
            let reason = match retired {
                Some(_) => Rejection::Retired {
                    ceremony_id: shard.info.ceremony_id.clone(),
                    id: shard.share.id().get(),
                    retired_by: reference.ceremony_id.clone(),
                },
                None => Rejection::OtherCeremony {
                    ceremony_id: shard.info.ceremony_id.clone(),
                    fingerprint: shard.info.fingerprint,
                    reference: reference.ceremony_id.clone(),
                    against,
                    same_key: shard.info.fingerprint == reference.fingerprint,
                },
            };
            out.foreign.push(Rejected { source, reason });
            continue;
        }
        if identity(&shard.info) != want {
            // Only a record can be the reference here: without one, a split
            // ceremony id is refused above as forgery.
            out.rejected.push(Rejected {
                source,
                reason: Rejection::Forged {
                    reference: reference.ceremony_id.clone(),
                    fingerprint: shard.info.fingerprint,
                    recorded: reference.fingerprint,
                },
            });
            continue;
        }
        let id = shard.share.id().get();
        if let Some(kept) = by_id.get(&id) {
            out.duplicates.push(Duplicate {
                kept: kept.source.clone(),
                repeated: source,
                id,
            });
            continue;
        }
        by_id.insert(
            id,
            Accepted {
                source,
                shard: *shard,
            },
        );
    }
    out.accepted = by_id.into_values().collect();
    out
}

type Identity = (String, u8, Vec<[u8; 33]>);

/// The first ceremony id (in id order) whose shards fall into more than one
/// split, with its groups, the largest first.
fn forged_splits(
    groups: &BTreeMap<Identity, Vec<usize>>,
    shards: &[(String, Box<ShardFile>)],
) -> Option<SetConflict> {
    let mut by_ceremony: BTreeMap<&str, Vec<&Vec<usize>>> = BTreeMap::new();
    for (id, members) in groups {
        by_ceremony.entry(id.0.as_str()).or_default().push(members);
    }
    let (_, mut splits) = by_ceremony.into_iter().find(|(_, g)| g.len() > 1)?;
    splits.sort_by_key(|m| std::cmp::Reverse(m.len()));
    let first = &shards[splits[0][0]].1.info;
    Some(SetConflict::Forged {
        ceremony_id: first.ceremony_id.clone(),
        groups: splits
            .into_iter()
            .map(|members| {
                let info = &shards[members[0]].1.info;
                SplitGroup {
                    fingerprint: info.fingerprint,
                    threshold: info.params.threshold(),
                    shares: info.params.shares(),
                    sources: members.iter().map(|&i| shards[i].0.clone()).collect(),
                }
            })
            .collect(),
    })
}

impl SetAnalysis {
    pub fn threshold(&self) -> Option<usize> {
        self.reference
            .as_ref()
            .map(|r| r.params.threshold() as usize)
    }

    /// Enough good, distinct shards to reconstruct.
    pub fn can_assemble(&self) -> bool {
        self.threshold().is_some_and(|t| self.accepted.len() >= t)
    }

    /// Reconstructs from every accepted shard and checks the result against
    /// the commitments and the recorded fingerprint.
    pub fn assemble(&self) -> Result<RootKey, RecoveryError> {
        let reference = self.reference.as_ref().ok_or(RecoveryError::NoReference)?;
        let shares: Vec<shamir::Share> = self
            .accepted
            .iter()
            .map(|a| a.shard.share.clone())
            .collect();
        let key =
            shamir::combine_checked(&shares, &reference.commitments).map_err(|e| match e {
                ShamirError::NotEnoughShares { needed, have } => RecoveryError::NotEnough {
                    needed,
                    ceremony_id: reference.ceremony_id.clone(),
                    have,
                    left_out: Vec::new(),
                },
                other => RecoveryError::Shamir(other),
            })?;
        if key.fingerprint() != reference.fingerprint {
            return Err(RecoveryError::WrongFingerprint {
                got: key.fingerprint(),
                recorded: reference.fingerprint,
            });
        }
        Ok(key)
    }

    /// Everything wrong with the set, in the order it is told.
    pub fn problems(&self) -> Vec<SetProblem> {
        let mut p = Vec::new();
        if let Some(c) = &self.conflict {
            p.push(SetProblem::Conflict(c.clone()));
        }
        for r in self.rejected.iter().chain(&self.foreign) {
            p.push(SetProblem::Rejected(r.clone()));
        }
        for d in &self.duplicates {
            p.push(SetProblem::Duplicate(d.clone()));
        }
        p
    }
}
