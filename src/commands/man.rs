//! `keyceremony man [--out DIR]`: the manual pages, from the clap definitions.
//! Without `--out`, `keyceremony.1` on standard output; with it, every page
//! written into DIR, all together or none.

use serde_json::json;

use crate::atomic_file::OutputBatch;
use crate::cli::ManArgs;
use crate::cli_docs;
use crate::commands::{Context, Outcome};
use crate::error::Result;

pub fn run(a: &ManArgs, _ctx: &Context) -> Result<Outcome> {
    let pages = cli_docs::man_pages();
    let Some(dir) = &a.out else {
        let top = pages.into_iter().next().expect("the top page comes first");
        let doc = json!({ "command": "man", "page": top.file_name, "roff": top.roff });
        let text = vec![top.roff.trim_end_matches('\n').to_string()];
        return Ok(Outcome::success(text, doc));
    };
    let mut batch = OutputBatch::in_dir(dir, a.force)?;
    for page in &pages {
        batch.add(&dir.join(&page.file_name), page.roff.as_bytes())?;
    }
    let written = batch.commit()?;
    let names: Vec<&str> = pages.iter().map(|p| p.file_name.as_str()).collect();
    let text = vec![format!(
        "wrote {} manual pages into {}: {}",
        written.len(),
        dir.display(),
        names.join(" ")
    )];
    let doc = json!({ "command": "man", "out": dir.display().to_string(), "pages": names });
    Ok(Outcome::success(text, doc))
}
