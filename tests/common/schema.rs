//! The JSON Schemas of docs/schema/ (draft 2020-12), one per `--json`
//! document: [`super::Run`] checks every document a test sees against the
//! one its `command` names (an error document against `error.schema.json`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema")
}

/// An error document: exactly `command`, `ok` and `error`.
pub fn is_error_document(doc: &Value) -> bool {
    doc.as_object().is_some_and(|o| {
        o.len() == 3 && o.contains_key("command") && o.contains_key("ok") && o.contains_key("error")
    })
}

/// The schema file for `doc`: `token status` -> `token-status.schema.json`.
pub fn schema_file_for(doc: &Value) -> Result<String, String> {
    if is_error_document(doc) {
        return Ok("error.schema.json".into());
    }
    match doc.get("command") {
        Some(Value::String(c)) => Ok(format!("{}.schema.json", c.replace(' ', "-"))),
        _ => Err(format!(
            "a document that is no error document names no command: {doc}"
        )),
    }
}

thread_local! {
    static COMPILED: RefCell<(boon::Compiler, boon::Schemas, HashMap<String, boon::SchemaIndex>)> = {
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler.enable_format_assertions();
        RefCell::new((compiler, boon::Schemas::new(), HashMap::new()))
    };
}

/// Validates `doc` against its schema; the error names the schema and every
/// place the document breaks it.
pub fn validate(doc: &Value) -> Result<(), String> {
    let file = schema_file_for(doc)?;
    let path = schema_dir().join(&file);
    if !path.is_file() {
        return Err(format!("no schema {} for {doc}", path.display()));
    }
    COMPILED.with(|c| {
        let (compiler, schemas, index) = &mut *c.borrow_mut();
        let i = match index.get(&file) {
            Some(i) => *i,
            None => {
                let i = compiler
                    .compile(path.to_str().expect("UTF-8 path"), schemas)
                    .map_err(|e| format!("{}: {e:#}", path.display()))?;
                index.insert(file.clone(), i);
                i
            }
        };
        schemas
            .validate(doc, i)
            .map_err(|e| format!("{file}: {e:#}\ndocument: {doc}"))
    })
}

/// What a run printed on stdout, when it is a `--json` document (an object
/// with `command` or `ok`), must pass its schema.
pub fn check_stdout(stdout: &str) {
    let Ok(doc @ Value::Object(_)) = serde_json::from_str::<Value>(stdout) else {
        return;
    };
    if doc.get("command").is_none() && doc.get("ok").is_none() {
        return;
    }
    if let Err(e) = validate(&doc) {
        panic!("a --json document breaks its schema in docs/schema/: {e}");
    }
}
