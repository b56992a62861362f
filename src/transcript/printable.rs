//! The printable transcript: `templates/transcript.html` filled from a
//! verified transcript. Self-contained (no scripts, fonts or images from
//! anywhere), A4 and Letter alike. Every value from the transcript is
//! HTML-escaped, and the template is filled in one pass, so nothing a
//! transcript holds is ever read as a placeholder.

use serde_json::Value;

use super::verify::{Outcome, VerifiedTranscript};
use crate::error::{Error, Result};
use crate::plan::Mode;
use crate::qr::sheet::escape_html;

/// The template, built into the binary.
pub const PRINTABLE_TEMPLATE: &str = include_str!("../../templates/transcript.html");

/// Longest fact value printed in full; longer ones are cut (the file has them whole).
const MAX_PRINTED_VALUE: usize = 2000;

/// Fills `template`'s `{{NAME}}` placeholders from `fields` in a single pass.
/// Every placeholder must have a field and every field must be used.
fn fill(template: &str, fields: &[(&str, String)]) -> Result<String> {
    let mut out = String::with_capacity(template.len() * 2);
    let mut used = vec![false; fields.len()];
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after
            .find("}}")
            .ok_or_else(|| Error::Check("templates/transcript.html has an unclosed {{".into()))?;
        let name = &after[..j];
        let k = fields.iter().position(|(n, _)| *n == name).ok_or_else(|| {
            Error::Check(format!(
                "templates/transcript.html has an unknown placeholder {{{{{name}}}}}"
            ))
        })?;
        out.push_str(&fields[k].1);
        used[k] = true;
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    if let Some(k) = used.iter().position(|u| !u) {
        return Err(Error::Check(format!(
            "templates/transcript.html lacks the placeholder {{{{{}}}}}",
            fields[k].0
        )));
    }
    Ok(out)
}

fn esc(text: &str) -> String {
    let t: String = if text.chars().count() > MAX_PRINTED_VALUE {
        let mut s: String = text.chars().take(MAX_PRINTED_VALUE).collect();
        s.push_str(" [...]");
        s
    } else {
        text.to_string()
    };
    // controls and invisible formatting characters shown by code point
    let shown: String = t
        .chars()
        .map(|c| {
            if crate::terminal::needs_escape(c) {
                format!("[U+{:04X}]", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect();
    escape_html(&shown)
}

/// Hex in groups of four, for reading and comparing.
fn grouped_hex(hex: &str) -> String {
    hex.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("hex is ascii"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Words in numbered rows of eight.
fn word_rows(words: &str) -> String {
    let w: Vec<&str> = words.split(' ').collect();
    let mut out = String::from("<ol class=\"words\">");
    for row in w.chunks(8) {
        out.push_str("<li>");
        out.push_str(&esc(&row.join(" ")));
        out.push_str("</li>");
    }
    out.push_str("</ol>");
    out
}

fn render_value(v: &Value, out: &mut String, depth: usize) {
    match v {
        Value::Null => out.push_str("<span class=\"none\">none</span>"),
        Value::Bool(b) => out.push_str(if *b { "yes" } else { "no" }),
        Value::Number(n) => out.push_str(&esc(&n.to_string())),
        Value::String(s) => {
            let long_token = s.len() > 24 && !s.contains(' ');
            if long_token {
                out.push_str("<span class=\"mono\">");
                out.push_str(&esc(s));
                out.push_str("</span>");
            } else {
                out.push_str(&esc(s));
            }
        }
        Value::Array(a) if a.is_empty() => out.push_str("<span class=\"none\">none</span>"),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_value(x, out, depth + 1);
            }
        }
        Value::Array(a) => {
            out.push_str("<ol class=\"items\">");
            for x in a {
                out.push_str("<li>");
                render_value(x, out, depth + 1);
                out.push_str("</li>");
            }
            out.push_str("</ol>");
        }
        Value::Object(m) if depth > 8 => {
            out.push_str(&esc(&super::canonical_json(&Value::Object(m.clone()))));
        }
        Value::Object(m) => render_facts(m, out, depth + 1),
    }
}

fn render_facts(m: &serde_json::Map<String, Value>, out: &mut String, depth: usize) {
    if m.is_empty() {
        out.push_str("<span class=\"none\">none</span>");
        return;
    }
    out.push_str("<table class=\"facts\">");
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in keys {
        out.push_str("<tr><th>");
        out.push_str(&esc(k));
        out.push_str("</th><td>");
        render_value(&m[k.as_str()], out, depth);
        out.push_str("</td></tr>");
    }
    out.push_str("</table>");
}

fn signature_row(role: &str, name: &str) -> String {
    format!(
        "<tr><td class=\"role\">{}</td><td class=\"who\">{}</td><td class=\"line\"></td><td class=\"date\"></td></tr>\n",
        esc(role),
        esc(name)
    )
}

/// The printable transcript's HTML.
pub fn render_html(t: &VerifiedTranscript) -> Result<String> {
    let h = &t.header;
    let rehearsal = h.mode == Mode::Rehearsal;
    let banner = if rehearsal {
        "<p class=\"rehearsal\">REHEARSAL &mdash; test tokens allowed; not a real ceremony, and no output of it guards a real key.</p>".to_string()
    } else {
        String::new()
    };
    let outcome = match &t.outcome {
        Outcome::Completed => "completed".to_string(),
        Outcome::Interrupted {
            reason,
            handed_out,
            not_handed_out,
        } => {
            let list = |v: &Vec<String>| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.iter().map(|s| esc(s)).collect::<Vec<_>>().join("; ")
                }
            };
            format!(
                "<strong>INTERRUPTED</strong>: {}<br>handed out: {}<br>not handed out: {}",
                esc(reason),
                list(handed_out),
                list(not_handed_out)
            )
        }
    };
    let (plan_hex, plan_words) = match &h.plan_sha256 {
        Some(d) => (
            format!("<span class=\"hex\">{}</span>", grouped_hex(&d.to_hex())),
            word_rows(&d.to_words()),
        ),
        None => ("(no plan)".to_string(), String::new()),
    };
    let chained = if t.chained_to.is_zero() {
        "nothing (first line's prev is zero)".to_string()
    } else {
        format!(
            "<span class=\"hex\">{}</span>",
            grouped_hex(&t.chained_to.to_hex())
        )
    };
    let ceremony_ids = if t.ceremony_ids.is_empty() {
        "(none recorded)".to_string()
    } else {
        t.ceremony_ids
            .iter()
            .map(|s| esc(s))
            .collect::<Vec<_>>()
            .join(", ")
    };

    let mut steps = String::new();
    for e in &t.entries {
        steps.push_str(&format!(
            "<tr class=\"step\"><td class=\"seq\">{}</td><td class=\"time hex\">{}</td><td class=\"name\">{}</td><td>",
            e.seq,
            match e.time.split_once('T') {
                Some((date, time)) => format!("{}<br>{}", esc(date), esc(time)),
                None => esc(&e.time),
            },
            esc(&e.step)
        ));
        render_facts(&e.facts, &mut steps, 0);
        steps.push_str("</td></tr>\n");
    }

    let mut signatures = signature_row("Ceremony lead", &h.lead);
    for c in &h.custodians {
        signatures.push_str(&signature_row("Custodian", c));
    }
    for w in &h.witnesses {
        signatures.push_str(&signature_row("Witness", w));
    }

    let first_time = t
        .entries
        .first()
        .map(|e| e.time.clone())
        .unwrap_or_default();
    let last_time = t.entries.last().map(|e| e.time.clone()).unwrap_or_default();
    let fields: Vec<(&str, String)> = vec![
        ("TITLE", esc(&h.label)),
        ("LABEL", esc(&h.label)),
        (
            "MODE",
            if rehearsal {
                "REHEARSAL".into()
            } else {
                "production".into()
            },
        ),
        ("REHEARSAL_BANNER", banner),
        ("CEREMONY_IDS", ceremony_ids),
        ("STARTED", esc(&first_time)),
        ("ENDED", esc(&last_time)),
        ("OUTCOME", outcome),
        ("LINES", t.entries.len().to_string()),
        ("PUBLIC_KEY", grouped_hex(&hex::encode(t.public_key))),
        ("PLAN_HASH", plan_hex),
        ("PLAN_WORDS", plan_words),
        ("CHAINED_TO", chained),
        ("FINAL_SEQ", t.final_seq.to_string()),
        ("FINAL_HASH", grouped_hex(&t.final_hash.to_hex())),
        ("FINAL_WORDS", word_rows(&t.final_hash.to_words())),
        ("STEPS", steps),
        ("SIGNATURES", signatures),
    ];
    fill(PRINTABLE_TEMPLATE, &fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_is_single_pass_and_complete() {
        let t = "a {{X}} b {{Y}}";
        let out = fill(t, &[("X", "{{Y}}".into()), ("Y", "y".into())]).unwrap();
        assert_eq!(out, "a {{Y}} b y");
        assert!(fill(t, &[("X", "x".into())]).is_err());
        assert!(fill(
            t,
            &[("X", "x".into()), ("Y", "y".into()), ("Z", "z".into())]
        )
        .is_err());
        assert!(fill("{{X", &[("X", "x".into())]).is_err());
    }

    #[test]
    fn values_are_escaped_and_controls_shown() {
        assert_eq!(esc("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
        assert_eq!(esc("a\u{1b}[2Jb\u{202e}"), "a[U+001B][2Jb[U+202E]");
    }
}
