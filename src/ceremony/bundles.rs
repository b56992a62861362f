//! The `bundle` step, per bundle of the plan: written, then verified.
//!
//! - age: decrypted with the plan's `check_identity` when it gives one (every
//!   file hash and the key fingerprint checked); without it only its header
//!   is checked (an age file with one X25519 stanza per recipient), and the
//!   transcript says so;
//! - Nexus backup: decrypted with the passphrase and verified the same way.

use std::path::PathBuf;

use serde_json::json;

use super::handout::sha256_file;
use super::{file_name, Relay, Runner, Stop};
use crate::bundle::{self, BundleMeta, Include, Kind, Options, Passphrase, Sealing, Unsealing};
use crate::digest::Sha256Digest;
use crate::error::Error;
use crate::plan::BundlePlan;
use crate::secret::RootKey;

const STEP: &str = "bundle";

/// One bundle written and how it was verified.
#[derive(Clone, Debug)]
pub struct BundleReport {
    pub path: PathBuf,
    pub kind: Kind,
    pub size: u64,
    pub sha256: Sha256Digest,
    /// True when it was decrypted and every hash and the fingerprint checked.
    pub decrypted: bool,
    /// How it was verified, for a person.
    pub verified: String,
}

impl Runner<'_> {
    pub(super) fn step_bundle(&mut self, key: &RootKey, index: usize) -> Result<(), Stop> {
        let plan = self.plan;
        let b = &plan.bundles[index];
        self.begin(
            STEP,
            &format!(
                "bundle {} of {}: {}",
                index + 1,
                plan.bundles.len(),
                b.kind()
            ),
        )?;
        let info = self
            .info
            .clone()
            .expect("the split comes before the bundles");
        let (include, file) = match b {
            BundlePlan::Age { include, file, .. }
            | BundlePlan::NexusBackup { include, file, .. } => (include, file),
        };
        let base = plan.base_dir();
        let mut includes = Vec::new();
        for p in include {
            includes.extend(Include::collect_in(&base, p).map_err(Runner::failed(STEP))?);
        }
        let (sealing, check): (Sealing, Option<Unsealing>) = match b {
            BundlePlan::Age {
                recipients,
                check_identity,
                ..
            } => {
                let sealing = Sealing::age_recipients(recipients).map_err(Runner::failed(STEP))?;
                let check = check_identity
                    .as_ref()
                    .map(|p| Unsealing::identity_file(&plan.resolve(p)))
                    .transpose()
                    .map_err(Runner::failed(STEP))?;
                (sealing, check)
            }
            BundlePlan::NexusBackup {
                passphrase_file, ..
            } => {
                let pass = match passphrase_file {
                    Some(p) => Passphrase::from_file(&plan.resolve(p)),
                    None => bundle::ask_new_passphrase(&mut *self.console),
                }
                .map_err(Runner::failed(STEP))?;
                let again = Passphrase::new(pass.expose().to_vec()).map_err(|e| Stop::Failed {
                    step: STEP.into(),
                    error: Error::Check(e.into()),
                })?;
                (
                    Sealing::NexusBackup(pass),
                    Some(Unsealing::Passphrase(again)),
                )
            }
        };
        let kind = sealing.kind();
        let out = match file {
            Some(name) => self.opts.out.join(name),
            None => self.opts.out.join(bundle::default_file_name(kind)),
        };
        let mut relay = Relay::new(&mut *self.narrator);
        let sealed = bundle::seal_key(
            key,
            bundle::SealRequest {
                meta: BundleMeta::new(Some(info.ceremony_id.clone()), &self.label),
                includes,
                sealing,
                out,
                force: false,
            },
            &mut relay,
        );
        let mut heard = relay.heard;
        let sealed = sealed.map_err(Runner::failed(STEP))?;
        let path = sealed.created.path.clone();
        let sha256 = sha256_file(&path).map_err(Runner::failed(STEP))?;
        self.line(format!(
            "wrote {} ({} bytes, SHA-256 {})",
            file_name(&path),
            sealed.created.size,
            sha256.to_hex()
        ));
        let options = Options::default();
        let mut check_once = || -> Result<(bool, String), Stop> {
            match &check {
                Some(unsealing) => {
                    let mut relay = Relay::new(&mut *self.narrator);
                    let contents = bundle::verify_bundle(&path, unsealing, &options, &mut relay);
                    heard.extend(relay.heard);
                    let contents = contents.map_err(Runner::failed(STEP))?;
                    let manifest_id = contents
                        .manifest
                        .as_ref()
                        .and_then(|m| m.ceremony_id.clone());
                    if contents.key_fingerprint != Some(info.fingerprint)
                        || manifest_id.as_ref() != Some(&info.ceremony_id)
                    {
                        return Err(Stop::Failed {
                        step: STEP.into(),
                        error: Error::input(
                            &path,
                            "the bundle decrypts, but its key or ceremony is not this ceremony's",
                        ),
                    });
                    }
                    let how = match kind {
                        Kind::Age => "decrypted with the plan's check identity",
                        Kind::NexusBackup => "decrypted with the passphrase",
                    };
                    Ok((
                        true,
                        format!(
                            "{how}: every file hash and the key fingerprint {} check out",
                            info.fingerprint
                        ),
                    ))
                }
                None => {
                    let inspection = bundle::inspect(&path).map_err(Runner::failed(STEP))?;
                    let x25519 = inspection
                        .stanzas
                        .iter()
                        .filter(|s| s.kind == "X25519")
                        .count();
                    if inspection.kind != Kind::Age || x25519 != sealed.recipients.len() {
                        return Err(Stop::Failed {
                        step: STEP.into(),
                        error: Error::input(
                            &path,
                            format!(
                                "the age header names {x25519} X25519 recipient(s), {} were asked for",
                                sealed.recipients.len()
                            ),
                        ),
                    });
                    }
                    Ok((
                    false,
                    format!(
                        "header checked only ({x25519} X25519 recipient stanzas): the plan gives no check_identity, so it was not decrypted"
                    ),
                ))
                }
            }
        };
        let checked = check_once();
        let (decrypted, verified) = match checked {
            Ok(v) => v,
            Err(stop) => {
                // a bundle that does not verify is no output
                let _ = std::fs::remove_file(&path);
                return Err(stop);
            }
        };
        self.line(format!("{}: {verified}", file_name(&path)));
        self.bundles.push(BundleReport {
            path: path.clone(),
            kind,
            size: sealed.created.size,
            sha256,
            decrypted,
            verified: verified.clone(),
        });
        self.conclude(
            STEP,
            json!({
                "format": kind.to_string(),
                "file": file_name(&path),
                "size": sealed.created.size,
                "sha256": sha256.to_hex(),
                "recipients": sealed.recipients,
                "ceremony_id": info.ceremony_id.to_string(),
                "key_fingerprint": info.fingerprint.to_string(),
                "included": sealed.created.manifest.files.iter().map(|f| f.path.clone()).collect::<Vec<_>>(),
                "decrypted": decrypted,
                "verified": verified,
                "events": heard,
            }),
            &format!("Bundle {}: written and verified; go on?", file_name(&path)),
        )
        .map(|_| ())
    }
}
