//! Text from files shown on a terminal, escaped.
//!
//! A name read from a file (a stanza type, a tar entry name, a label, a
//! custodian, a path from a manifest) may hold characters that act on the
//! terminal instead of being shown: ESC and BEL (colours, titles, cursor
//! moves), CR and LF (a line overwritten or a line made up), the other C0 and
//! C1 controls, and the invisible formatting characters (bidirectional
//! overrides, zero-width spaces) that make text read differently than it
//! is. [`escape`] shows each of them as a visible `\u{..}` (`\n`, `\r`, `\t`
//! for the familiar three); everything else is left as it is.
//!
//! Two layers use it: the messages that put a name from a file into a line
//! escape that name ([`Shown`], or [`escape`]), and the command line's
//! printing passes every line through [`escape_lines`], so nothing reaches
//! the terminal raw even where a name was missed.

use std::borrow::Cow;
use std::fmt;

/// Invisible characters that change how the text around them reads:
/// bidirectional controls, zero-width characters, fillers, variation
/// selectors and tags. (Controls proper are told by `char::is_control`.)
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E007F}')
}

/// True for a character [`escape`] rewrites.
pub fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

/// The text with every control and invisible character shown escaped.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_keeping(text, &[])
}

/// As [`escape`], but keeping line breaks and tabs: for whole lines of
/// output that are already laid out.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    escape_keeping(text, &['\n', '\t'])
}

fn escape_keeping<'a>(text: &'a str, keep: &[char]) -> Cow<'a, str> {
    if !text.chars().any(|c| needs_escape(c) && !keep.contains(&c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !needs_escape(c) || keep.contains(&c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => {
                use fmt::Write as _;
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// JSON text for a terminal: serde_json escapes the C0 controls inside
/// strings but writes DEL, C1 controls and invisible characters as they
/// are; this writes them as `\uXXXX` too (still the same JSON). Outside
/// strings JSON text holds only ASCII punctuation and the layout's own
/// spaces and line breaks, which are kept.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(|c| needs_escape(c) && c != '\n') {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if !needs_escape(c) || c == '\n' {
            out.push(c);
            continue;
        }
        let mut units = [0u16; 2];
        for u in c.encode_utf16(&mut units) {
            use fmt::Write as _;
            let _ = write!(out, "\\u{:04x}", u);
        }
    }
    Cow::Owned(out)
}

/// How many characters of a refused value [`glimpse`] shows.
const GLIMPSE_CHARS: usize = 5;

/// A value that was refused but may be a secret given in the wrong place
/// (a key, an age identity, a share pasted as a recipient): never shown
/// whole. Its kind when it looks like a secret, else its first few
/// characters; always its length.
pub fn glimpse(value: &str) -> String {
    let len = value.chars().count();
    let hex = value.chars().all(|c| c.is_ascii_hexdigit());
    if value.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
        format!("an age identity, a SECRET key, {len} characters; not shown")
    } else if hex && len >= 32 {
        format!("{len} hex digits, perhaps a key or share value; not shown")
    } else if len <= GLIMPSE_CHARS {
        format!("\"{}\"", escape(value))
    } else {
        let head: String = value.chars().take(GLIMPSE_CHARS).collect();
        format!("\"{}...\", {len} characters", escape(&head))
    }
}

/// A name from a file, escaped and cut to at most `max_chars` characters of
/// escaped text (a cut name ends in "..."): for messages that must stay
/// short whatever the file holds.
pub fn escape_short(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut shown = 0;
    let mut buf = [0u8; 4];
    for c in text.chars() {
        // Each character escaped alone, so a cut never splits an escape.
        let piece = escape(c.encode_utf8(&mut buf));
        let len = piece.chars().count();
        if shown + len > max_chars {
            out.push_str("...");
            return out;
        }
        shown += len;
        out.push_str(&piece);
    }
    out
}

/// A name from a file, escaped when displayed: `format!("{}", Shown(name))`.
#[derive(Clone, Copy, Debug)]
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// Refuses text that would not read as it is: for names and labels that
/// this tool is asked to write (they are printed on sheets and terminals).
/// Controls are refused by the callers' own rules; this adds the
/// invisible characters.
pub fn check_visible(text: &str) -> Result<(), String> {
    match text.chars().find(|c| is_invisible(*c)) {
        Some(c) => Err(format!(
            "contains the invisible character U+{:04X} (a bidirectional or zero-width control), \
             which makes it read differently than it is",
            c as u32
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_name_is_kept_and_a_long_one_cut_after_escaping() {
        assert_eq!(escape_short("label", 8), "label");
        assert_eq!(escape_short("abcdefghij", 4), "abcd...");
        // The bound counts the escaped text, so a name of controls cannot
        // grow six-fold past it.
        assert_eq!(escape_short(&"\u{7f}".repeat(100), 13), "\\u{7f}\\u{7f}...");
        assert_eq!(escape_short("ab\u{1b}", 4), "ab...");
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(escape("Zoë Ng, share 2"), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_and_invisibles_are_shown() {
        assert_eq!(escape("a\u{1b}[2Jb\u{7}"), "a\\u{1b}[2Jb\\u{7}");
        assert_eq!(escape("x\r\ny\tz"), "x\\r\\ny\\tz");
        assert_eq!(escape("\u{85}\u{9b}"), "\\u{85}\\u{9b}");
        assert_eq!(escape("Ali\u{202e}ecb"), "Ali\\u{202e}ecb");
        assert_eq!(escape("B\u{200b}ob\u{feff}"), "B\\u{200b}ob\\u{feff}");
        assert_eq!(escape("\u{7f}"), "\\u{7f}");
    }

    #[test]
    fn lines_keep_their_breaks() {
        assert_eq!(
            escape_lines("one\n\ttwo\u{1b}]0;x\u{7}"),
            "one\n\ttwo\\u{1b}]0;x\\u{7}"
        );
    }

    #[test]
    fn json_stays_json() {
        let v = serde_json::json!({"name": "Ali\u{202e}ce\u{1b}\u{85}\u{e0041}", "n": 1});
        let text = serde_json::to_string_pretty(&v).unwrap();
        let shown = escape_json(&text);
        assert!(
            !shown.chars().any(|c| needs_escape(c) && c != '\n'),
            "{shown}"
        );
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn glimpses_never_show_a_secret() {
        let id = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
        assert!(!glimpse(id).contains("QQQ"));
        assert!(glimpse(id).contains("SECRET"));
        let hex = "d84020014a385799c718f80975a458ff3298fafd491e8ce0f21eaca73147751e";
        assert!(!glimpse(hex).contains("d8402"));
        assert_eq!(
            glimpse("age1qyqszqgpqyqszqgp"),
            "\"age1q...\", 20 characters"
        );
        assert_eq!(glimpse("x\u{1b}"), "\"x\\u{1b}\"");
    }

    #[test]
    fn visible_check() {
        assert!(check_visible("prod root 2026").is_ok());
        assert!(check_visible("a\u{202e}b").is_err());
        assert!(check_visible("a\u{2066}b").is_err());
    }
}
