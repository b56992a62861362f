//! `keyceremony completions SHELL`: the completion script on standard output.

use serde_json::json;

use crate::cli::CompletionsArgs;
use crate::cli_docs;
use crate::commands::{Context, Outcome};
use crate::error::Result;

pub fn run(a: &CompletionsArgs, _ctx: &Context) -> Result<Outcome> {
    let script = cli_docs::completion_script(a.shell);
    let doc = json!({
        "command": "completions",
        "shell": format!("{:?}", a.shell).to_lowercase(),
        "install_path": format!("/{}", a.shell.install_path()),
        "script": script,
    });
    // The script already ends with a newline; the printer adds one per line.
    let text = vec![script.trim_end_matches('\n').to_string()];
    Ok(Outcome::success(text, doc))
}
