//! `keyceremony qr decode IMAGE... [--raw]`: every QR code in each image.
//!
//! Without `--raw`, one summary line per shard found (never the value);
//! with `--raw`, each code's text exactly as encoded, one per line, whatever
//! it is (this prints the share: the user asked for it by name). Every image
//! is read even when one fails; each failure is named on stderr and the exit
//! status is 1.

use std::path::Path;

use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::cli::QrDecodeArgs;
use crate::commands::{Context, Outcome};
use crate::error::Result;
use crate::qr;
use crate::shard::ShardFile;

pub fn decode(a: &QrDecodeArgs, _ctx: &Context) -> Result<Outcome> {
    let mut text = Vec::new();
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for path in &a.images {
        if a.raw {
            match qr::decode_image_file(path) {
                Ok(texts) if texts.is_empty() => {
                    failures.push(format!("{}: no QR code could be read", path.display()))
                }
                Ok(texts) => {
                    for t in texts {
                        found.push(json!({ "source": path.display().to_string(), "text": t }));
                        text.push(t);
                    }
                }
                Err(e) => failures.push(e.to_string()),
            }
            continue;
        }
        match qr::shards_from_image(path) {
            Ok(shards) => {
                for s in shards {
                    text.push(summary_line(path, &s));
                    found.push(summary_json(path, &s));
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    for f in &failures {
        eprintln!("error: {}", crate::terminal::escape_lines(f));
    }
    let key = if a.raw { "codes" } else { "shards" };
    let mut doc = json!({ "command": "qr decode", "failures": failures });
    doc[key] = Value::Array(found);
    Ok(Outcome {
        ok: failures.is_empty(),
        text,
        json: doc,
        revealed: None::<Zeroizing<String>>,
    })
}

fn summary_line(path: &Path, s: &ShardFile) -> String {
    let i = &s.info;
    format!(
        "{}: share {} of {} (any {} recover), ceremony {}, key fingerprint {}, created {}: checks out against its commitments",
        path.display(),
        s.share.id(),
        i.params.shares(),
        i.params.threshold(),
        i.ceremony_id,
        i.fingerprint,
        &i.created[..10.min(i.created.len())],
    )
}

fn summary_json(path: &Path, s: &ShardFile) -> Value {
    let i = &s.info;
    json!({
        "source": path.display().to_string(),
        "ceremony_id": i.ceremony_id.to_string(),
        "id": s.share.id().get(),
        "threshold": i.params.threshold(),
        "shares": i.params.shares(),
        "key_fingerprint": i.fingerprint.to_string(),
        "created": i.created,
        "verified": true,
    })
}
