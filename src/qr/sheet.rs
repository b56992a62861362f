//! The printable sheet `shard-<i>.html`, filled from `templates/shard-sheet.html`.

use qrcode::QrCode;
use zeroize::Zeroizing;

use super::typed;
use crate::error::{Error, Result};
use crate::shard::ShardFile;

const TEMPLATE: &str = include_str!("../../templates/shard-sheet.html");

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
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
    out
}

/// The sheet's HTML (secret: it holds the share as a code and as typed lines).
pub fn render_sheet(shard: &ShardFile, code: &QrCode) -> Result<Zeroizing<String>> {
    let info = &shard.info;
    let lines = typed::fallback_lines(shard);
    let fallback = Zeroizing::new(lines.join("\n"));
    let label = if info.label.is_empty() {
        "(no label)".to_string()
    } else {
        info.label.clone()
    };
    let custodian = shard
        .custodian
        .clone()
        .unwrap_or_else(|| "(not named)".into());
    let svg = Zeroizing::new(super::render_svg(code));
    let fields: [(&str, &str); 11] = [
        ("{{LABEL}}", &escape_html(&label)),
        ("{{CEREMONY_ID}}", info.ceremony_id.as_str()),
        ("{{CUSTODIAN}}", &escape_html(&custodian)),
        ("{{FINGERPRINT}}", &info.fingerprint.to_string()),
        ("{{CREATED}}", &escape_html(&info.created)),
        ("{{ID}}", &shard.share.id().to_string()),
        ("{{SHARES}}", &info.params.shares().to_string()),
        ("{{THRESHOLD}}", &info.params.threshold().to_string()),
        ("{{LINE_COUNT}}", &lines.len().to_string()),
        ("{{QR_SVG}}", &svg),
        ("{{FALLBACK}}", &fallback),
    ];
    let mut html = Zeroizing::new(TEMPLATE.to_string());
    for (key, value) in fields {
        if !html.contains(key) {
            return Err(Error::Check(format!(
                "templates/shard-sheet.html lacks the placeholder {key}"
            )));
        }
        *html = html.replace(key, value);
    }
    Ok(html)
}
