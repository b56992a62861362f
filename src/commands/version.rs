//! `keyceremony version [--json]`: what exactly is running (see
//! [`crate::version`]).

use serde_json::json;

use crate::commands::{Context, Outcome};
use crate::error::{Error, Result};
use crate::version::Identity;

pub fn run(_ctx: &Context) -> Result<Outcome> {
    let id =
        Identity::current().map_err(|e| Error::io(&e.path, "hash the running binary", e.source))?;
    let commit = if id.dirty {
        format!("{} (built with uncommitted changes)", id.commit)
    } else {
        id.commit.to_string()
    };
    let text = vec![
        format!("keyceremony {}", id.version),
        format!("commit:        {commit}"),
        format!("rustc:         {}", id.rustc),
        format!("target:        {}", id.target),
        format!("binary:        {}", id.binary_path.display()),
        format!("binary sha256: {}", id.binary_sha256),
    ];
    let mut doc = serde_json::to_value(&id).expect("identity serialises");
    doc["command"] = json!("version");
    Ok(Outcome::success(text, doc))
}
