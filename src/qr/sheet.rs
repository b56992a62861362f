//! The printable sheet `shard-<i>.html`, filled from `templates/shard-sheet.html`.
//!
//! The template knows two things besides `{{NAME}}` placeholders: sections
//! `{{#NAME}}...{{/NAME}}`, kept when the flag NAME is set and dropped
//! otherwise (not nested). Values are substituted in one pass over the
//! template, so a value that looks like a placeholder (a label
//! `{{FALLBACK}}`) is printed as it is, never expanded; every value is
//! HTML-escaped except the code's own SVG.

use qrcode::QrCode;
use zeroize::Zeroizing;

use super::typed;
use crate::error::{Error, Result};
use crate::shard::ShardFile;

const TEMPLATE: &str = include_str!("../../templates/shard-sheet.html");

/// Up to this many typed fallback lines (t <= 5) the sheet is one page; above,
/// the code is on page 1 and the fallback on page 2 (measured in Chromium on
/// A4 and Letter with 200-character labels and names: tests/qr_sheet_chromium.rs).
pub const ONE_PAGE_MAX_LINES: usize = 17;
/// The printed code's side (quiet zone included) is one millimetre a module,
/// kept between these bounds: 1.4 mm a module for t = 2, 0.93 mm for t = 16.
const QR_MIN_MM: f64 = 90.0;
const QR_MAX_MM: f64 = 120.0;

/// Labels and names longer than this many characters are set smaller (and
/// twice as long, smaller still).
const LONG_TEXT: usize = 60;

/// What a sheet shows beyond the shard itself.
#[derive(Clone, Debug, Default)]
pub struct SheetOptions {
    /// The ceremony's one-time Ed25519 public key, as the ceremony record
    /// shows it; printed on the sheet when present.
    pub ceremony_public_key: Option<String>,
}

/// How many pages the sheet of a share with `fallback_lines` typed lines has.
pub fn page_count(fallback_lines: usize) -> usize {
    if fallback_lines <= ONE_PAGE_MAX_LINES {
        1
    } else {
        2
    }
}

/// Side of the printed code in millimetres, quiet zone included.
pub fn code_side_mm(code: &QrCode) -> f64 {
    let modules = code.width() as f64 + 2.0 * f64::from(super::QUIET_ZONE);
    modules.clamp(QR_MIN_MM, QR_MAX_MM)
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(text, &mut out);
    out
}

fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// The sheet's HTML (secret: it holds the share as a code and as typed lines).
pub fn render_sheet(shard: &ShardFile, code: &QrCode) -> Result<Zeroizing<String>> {
    render_sheet_with(shard, code, &SheetOptions::default())
}

/// The sheet's HTML with the extra facts of `options`.
pub fn render_sheet_with(
    shard: &ShardFile,
    code: &QrCode,
    options: &SheetOptions,
) -> Result<Zeroizing<String>> {
    let info = &shard.info;
    let lines = typed::fallback_lines(shard);
    let fallback = Zeroizing::new(lines.join("\n"));
    let label = if info.label.is_empty() {
        "(no label)"
    } else {
        info.label.as_str()
    };
    let custodian = shard.custodian.as_deref().unwrap_or("(not named)");
    let svg = Zeroizing::new(super::render_svg(code));
    let pages = page_count(lines.len());
    let ceremony_key = options.ceremony_public_key.as_deref().unwrap_or("");
    let flags = [
        ("ONE_PAGE", pages == 1),
        ("TWO_PAGES", pages == 2),
        ("CEREMONY_KEY", options.ceremony_public_key.is_some()),
    ];
    let id = shard.share.id().to_string();
    let shares = info.params.shares().to_string();
    let threshold = info.params.threshold().to_string();
    let line_count = lines.len().to_string();
    let pages_text = pages.to_string();
    let max_lines = ONE_PAGE_MAX_LINES.to_string();
    let qr_mm = format!("{:.1}", code_side_mm(code));
    let fingerprint = info.fingerprint.to_string();
    // a long label or name is set smaller, so that it never pushes the code off the page
    let (title_size, custodian_size) = (size_class(label), size_class(custodian));
    // (name, value, escaped): only the SVG we drew ourselves goes in as markup
    let values: [(&str, &str, bool); 18] = [
        ("LABEL", label, true),
        ("TITLE_SIZE", title_size, true),
        ("CEREMONY_ID", info.ceremony_id.as_str(), true),
        ("CUSTODIAN", custodian, true),
        ("CUSTODIAN_SIZE", custodian_size, true),
        ("FINGERPRINT", &fingerprint, true),
        ("CREATED", &info.created, true),
        ("ID", &id, true),
        ("SHARES", &shares, true),
        ("THRESHOLD", &threshold, true),
        ("LINE_COUNT", &line_count, true),
        ("PAGES", &pages_text, true),
        ("ONE_PAGE_MAX_LINES", &max_lines, true),
        ("QR_MM", &qr_mm, true),
        ("VERSION", env!("CARGO_PKG_VERSION"), true),
        ("CEREMONY_KEY", ceremony_key, true),
        ("QR_SVG", &svg, false),
        ("FALLBACK", &fallback, true),
    ];
    let template = resolve_sections(TEMPLATE, &flags)?;
    for required in ["QR_SVG", "FALLBACK", "LABEL", "CEREMONY_ID", "ID"] {
        if !template.contains(&format!("{{{{{required}}}}}")) {
            return Err(template_error(format!(
                "lacks the placeholder {{{{{required}}}}}"
            )));
        }
    }
    fill(&template, &values)
}

/// The template's class for a label or name of this length.
fn size_class(text: &str) -> &'static str {
    match text.chars().count() {
        0..=LONG_TEXT => "",
        n if n <= 2 * LONG_TEXT => "long",
        _ => "longer",
    }
}

fn template_error(problem: String) -> Error {
    Error::Check(format!("templates/shard-sheet.html {problem}"))
}

/// Keeps `{{#NAME}}...{{/NAME}}` sections whose flag is set and drops the
/// others. The template holds no secret, so this works on plain strings.
fn resolve_sections(template: &str, flags: &[(&str, bool)]) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{#") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let name_end = after
            .find("}}")
            .ok_or_else(|| template_error("has an unclosed {{#".into()))?;
        let name = &after[..name_end];
        let keep = flags
            .iter()
            .find(|(flag, _)| *flag == name)
            .map(|(_, set)| *set)
            .ok_or_else(|| template_error(format!("has an unknown section {name}")))?;
        let body_and_rest = &after[name_end + 2..];
        let close = format!("{{{{/{name}}}}}");
        let body_end = body_and_rest
            .find(&close)
            .ok_or_else(|| template_error(format!("never closes the section {name}")))?;
        let body = &body_and_rest[..body_end];
        if body.contains("{{#") {
            return Err(template_error(format!("nests a section inside {name}")));
        }
        if keep {
            out.push_str(body);
        }
        rest = &body_and_rest[body_end + close.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One pass over the template: each `{{NAME}}` becomes its value (escaped
/// unless marked otherwise); values are never scanned again. The output is
/// allocated once at its final size, so no copy of the secret is left
/// behind in a freed buffer.
fn fill(template: &str, values: &[(&str, &str, bool)]) -> Result<Zeroizing<String>> {
    let lookup = |name: &str| {
        values
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, v, escaped)| (*v, *escaped))
            .ok_or_else(|| template_error(format!("has an unknown placeholder {{{{{name}}}}}")))
    };
    // pass 1 sizes the output, pass 2 writes it
    let mut size = 0;
    for pass in 0..2 {
        let mut out = Zeroizing::new(String::with_capacity(if pass == 0 { 0 } else { size }));
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            let literal = &rest[..start];
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| template_error("has an unclosed {{".into()))?;
            let (value, escaped) = lookup(&after[..end])?;
            if pass == 0 {
                size += literal.len()
                    + if escaped {
                        escaped_len(value)
                    } else {
                        value.len()
                    };
            } else {
                out.push_str(literal);
                if escaped {
                    escape_into(value, &mut out);
                } else {
                    out.push_str(value);
                }
            }
            rest = &after[end + 2..];
        }
        if pass == 0 {
            size += rest.len();
        } else {
            out.push_str(rest);
            debug_assert_eq!(out.len(), size);
            return Ok(out);
        }
    }
    unreachable!("the second pass returns")
}

fn escaped_len(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            '&' | '\'' => 5,
            '<' | '>' => 4,
            '"' => 6,
            c => c.len_utf8(),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_kept_or_dropped() {
        let t = "a{{#X}}b{{/X}}c{{#Y}}d{{/Y}}e";
        assert_eq!(
            resolve_sections(t, &[("X", true), ("Y", false)]).unwrap(),
            "abce"
        );
        assert!(resolve_sections("{{#X}}b", &[("X", true)]).is_err());
        assert!(resolve_sections("{{#Z}}b{{/Z}}", &[("X", true)]).is_err());
        assert!(resolve_sections("{{#X}}{{#X}}{{/X}}{{/X}}", &[("X", true)]).is_err());
    }

    #[test]
    fn values_are_escaped_once_and_never_expanded() {
        let out = fill(
            "<p>{{A}}|{{B}}|{{A}}</p>",
            &[("A", "{{B}} & <i>", true), ("B", "<svg/>", false)],
        )
        .unwrap();
        assert_eq!(
            *out,
            "<p>{{B}} &amp; &lt;i&gt;|<svg/>|{{B}} &amp; &lt;i&gt;</p>"
        );
        assert!(fill("{{C}}", &[("A", "x", true)]).is_err());
        assert!(fill("{{A", &[("A", "x", true)]).is_err());
    }

    #[test]
    fn escaped_length_is_exact() {
        for s in ["", "plain", "&<>\"'", "Zoë & 日本 <x>"] {
            assert_eq!(escaped_len(s), escape_html(s).len(), "{s}");
        }
    }

    #[test]
    fn pages_follow_the_line_count() {
        assert_eq!(page_count(10), 1);
        assert_eq!(page_count(ONE_PAGE_MAX_LINES), 1);
        assert_eq!(page_count(ONE_PAGE_MAX_LINES + 1), 2);
        assert_eq!(page_count(46), 2);
    }
}
