//! Deciding what a pile of inputs is: which shards belong to the ceremony,
//! which are bad and why, and whether enough good ones are there to
//! reconstruct the key. `verify` and `assemble` both stand on this.

use std::collections::BTreeMap;

use crate::inputs::{Item, Loaded};
use crate::record::CeremonyInfo;
use crate::secret::RootKey;
use crate::shamir;
use crate::shard::ShardFile;

/// An input that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub source: String,
    pub reason: String,
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
    pub conflict: Option<String>,
}

/// The facts that make two shards part of one split. Label, time and
/// custodian are descriptive and may be shortened (QR codes), so they do not count.
fn identity(info: &CeremonyInfo) -> (String, u8, u8, Vec<[u8; 33]>) {
    (
        info.ceremony_id.to_string(),
        info.params.threshold(),
        info.params.shares(),
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
            out.conflict = Some(format!(
                "the ceremony records {first_src} and {src} describe different splits; give only the right one"
            ));
            return out;
        }
        out.reference = Some(first.info.clone());
        out.reference_from_record = true;
    } else if !shards.is_empty() {
        let mut groups: BTreeMap<_, Vec<usize>> = BTreeMap::new();
        for (i, (_, s)) in shards.iter().enumerate() {
            groups.entry(identity(&s.info)).or_default().push(i);
        }
        let mut sizes: Vec<(usize, &Vec<usize>)> = groups.values().map(|v| (v.len(), v)).collect();
        sizes.sort_by_key(|s| std::cmp::Reverse(s.0));
        if sizes.len() > 1 && sizes[0].0 == sizes[1].0 {
            let described: Vec<String> = groups
                .values()
                .map(|members| {
                    let info = &shards[members[0]].1.info;
                    let files: Vec<&str> = members.iter().map(|&i| shards[i].0.as_str()).collect();
                    format!(
                        "ceremony {} (fingerprint {}): {}",
                        info.ceremony_id,
                        info.fingerprint,
                        files.join(", ")
                    )
                })
                .collect();
            out.conflict = Some(format!(
                "the shards do not all come from one split, and no group is a majority: {}. \
                 Remove the shards that do not belong, or add the ceremony record (ceremony.json) to decide",
                described.join("; ")
            ));
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
        "the ceremony record"
    } else {
        "the other shards"
    };
    let want = identity(&reference);
    let mut by_id: BTreeMap<u8, Accepted> = BTreeMap::new();
    for (source, shard) in shards {
        if shard.info.ceremony_id != reference.ceremony_id {
            out.foreign.push(Rejected {
                source,
                reason: format!(
                    "belongs to ceremony {} (fingerprint {}), not to ceremony {} of {against}",
                    shard.info.ceremony_id, shard.info.fingerprint, reference.ceremony_id
                ),
            });
            continue;
        }
        if identity(&shard.info) != want {
            out.rejected.push(Rejected {
                source,
                reason: format!(
                    "carries the ceremony id {} but its threshold, share count or commitments differ from {against}: \
                     the file was altered or damaged",
                    reference.ceremony_id
                ),
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
    pub fn assemble(&self) -> Result<RootKey, String> {
        let reference = self
            .reference
            .as_ref()
            .ok_or_else(|| "no shard of any ceremony was readable".to_string())?;
        let shares: Vec<shamir::Share> = self
            .accepted
            .iter()
            .map(|a| a.shard.share.clone())
            .collect();
        let key =
            shamir::combine_checked(&shares, &reference.commitments).map_err(|e| match e {
                shamir::ShamirError::NotEnoughShares { needed, have } => format!(
                    "need {needed} good shards of ceremony {}, have {have}",
                    reference.ceremony_id
                ),
                other => other.to_string(),
            })?;
        if key.fingerprint() != reference.fingerprint {
            return Err(format!(
                "the reconstructed key has fingerprint {}, not the recorded {}; refusing it",
                key.fingerprint(),
                reference.fingerprint
            ));
        }
        Ok(key)
    }

    /// Everything wrong with the set, one line each, for messages.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(c) = &self.conflict {
            p.push(c.clone());
        }
        for r in self.rejected.iter().chain(&self.foreign) {
            p.push(format!("{}: {}", r.source, r.reason));
        }
        for d in &self.duplicates {
            p.push(format!(
                "{} and {} both hold share {} (a share counts once)",
                d.kept, d.repeated, d.id
            ));
        }
        p
    }
}
