//! The printable transcript: `ceremony print-transcript` writes
//! self-contained, escaped HTML with signature lines; headless Chromium
//! (Debian `chromium`, scripts/ensure-chromium.sh) prints it to PDF on A4
//! and on Letter, and poppler (scripts/ensure-transcript-tools.sh) reads the pages
//! back. The Chromium test skips, saying why, when the tools are missing,
//! unless KEYCEREMONY_REQUIRE_INTEROP is set (then it fails).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{run, testdata, tools_or_skip, wait_or_kill};
use keyceremony::digest::Sha256Digest;
use keyceremony::plan::Mode;
use keyceremony::transcript::{self, Header, Interruption, TranscriptWriter, VerifyOptions};
use serde_json::json;

fn vector_html(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("transcript.html");
    let r = run([
        "ceremony",
        "print-transcript",
        testdata("ceremony/transcript.jsonl").to_str().unwrap(),
        "--record",
        testdata("ceremony/ceremony.json").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&format!("wrote {}", out.display())));
    out
}

fn expected(key: &str) -> String {
    let text = std::fs::read_to_string(testdata("ceremony/transcript.expected")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap()
        .to_string()
}

fn grouped(hex: &str) -> String {
    hex.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn printable_is_self_contained_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let html = std::fs::read_to_string(vector_html(dir.path())).unwrap();
    for needle in [
        "<script", "<link", "src=", "url(", "@import", "http:", "https:", "<img",
    ] {
        assert!(!html.contains(needle), "printable contains {needle}");
    }
    assert!(html.contains("@page"));
    assert!(!html.contains("{{"), "a placeholder was left unfilled");
    assert!(html.contains(&grouped(&expected("final_hash"))));
    assert!(html.contains(&grouped(&expected("ceremony_public_key"))));
    // the words, in rows of eight
    let words: Vec<String> = expected("final_words")
        .split(' ')
        .map(str::to_string)
        .collect();
    for row in words.chunks(8) {
        assert!(html.contains(&format!("<li>{}</li>", row.join(" "))));
    }
    let plan_hash = std::fs::read_to_string(testdata("ceremony/plan.sha256")).unwrap();
    let plan_hash = plan_hash.split_whitespace().next().unwrap();
    assert!(html.contains(&grouped(plan_hash)));
    assert!(html.contains(
        &Sha256Digest::parse_hex(plan_hash)
            .unwrap()
            .to_words()
            .split(' ')
            .take(8)
            .collect::<Vec<_>>()
            .join(" ")
    ));
    // a signature line for the lead, each custodian and each witness
    for (role, name) in [
        ("Ceremony lead", "Lena Lead"),
        ("Custodian", "Alice Example"),
        ("Custodian", "Erin Example"),
        ("Witness", "Wim Witness"),
        ("Witness", "Wu Witness"),
    ] {
        assert!(
            html.contains(&format!(
                "<td class=\"role\">{role}</td><td class=\"who\">{name}</td><td class=\"line\"></td><td class=\"date\"></td>"
            )),
            "{role} {name}"
        );
    }
    // every step with its time
    let t = transcript::verify_file(
        &testdata("ceremony/transcript.jsonl"),
        &VerifyOptions::default(),
    )
    .unwrap();
    for e in &t.entries {
        let (date, time) = e.time.split_once('T').unwrap();
        assert!(html.contains(&format!(
            "<td class=\"seq\">{}</td><td class=\"time hex\">{date}<br>{time}</td><td class=\"name\">{}</td>",
            e.seq, e.step
        )));
    }
    assert!(!html.contains("REHEARSAL"));
}

#[test]
fn every_value_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let h = Header {
        label: "<script>alert(1)</script>".into(),
        mode: Mode::Rehearsal,
        plan_sha256: None,
        lead: "Lee & \"Co\"".into(),
        custodians: vec!["<b>Ann</b>".into(), "{{FINAL_HASH}}".into()],
        witnesses: vec!["W'es".into()],
    };
    let mut w = TranscriptWriter::create(&path, &h).unwrap();
    w.append(
        "note",
        json!({"<k>": "<img src=x onerror=alert(1)>", "list": ["</td>", {"a": "<i>"}]}),
    )
    .unwrap();
    w.close_interrupted(&Interruption {
        reason: "<stop>".into(),
        handed_out: vec!["<share 1>".into()],
        not_handed_out: vec![],
    })
    .unwrap();
    let out = dir.path().join("t.html");
    let r = run([
        "ceremony",
        "print-transcript",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let html = std::fs::read_to_string(&out).unwrap();
    for raw in [
        "<script>alert",
        "<b>Ann",
        "<img src=x",
        "<k>",
        "<i>",
        "<stop>",
        "<share 1>",
        "Lee & \"Co\"",
    ] {
        assert!(!html.contains(raw), "unescaped: {raw}");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("Lee &amp; &quot;Co&quot;"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    // a name that looks like a placeholder stays text
    assert!(html.contains("<td class=\"who\">{{FINAL_HASH}}</td>"));
    assert!(html.contains("REHEARSAL"));
    assert!(html.contains("<strong>INTERRUPTED</strong>: &lt;stop&gt;"));
}

#[test]
fn a_tampered_transcript_is_not_printed_and_nothing_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    let text = std::fs::read_to_string(testdata("ceremony/transcript.jsonl")).unwrap();
    std::fs::write(&bad, text.replacen("Erin Example", "Eve Example", 1)).unwrap();
    let out = dir.path().join("bad.html");
    let r = run([
        "ceremony",
        "print-transcript",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("line 2: prev does not match the hash of line 1"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());

    let html = vector_html(dir.path());
    let r = run([
        "ceremony",
        "print-transcript",
        testdata("ceremony/transcript.jsonl").to_str().unwrap(),
        "--out",
        html.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("already exists; pass --force"),
        "{}",
        r.stderr
    );
}

fn print_pdf(chromium: &str, html: &Path, pdf: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    wait_or_kill(child, 120, "chromium printing to PDF");
    assert!(pdf.is_file(), "chromium wrote no PDF");
}

fn pdf_info(pdf: &Path) -> (usize, String) {
    let info = Command::new("pdfinfo").arg(pdf).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout).into_owned();
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let size = info
        .lines()
        .find_map(|l| l.strip_prefix("Page size:"))
        .unwrap()
        .trim()
        .to_string();
    (pages, size)
}

fn pdf_text(pdf: &Path, first: Option<usize>) -> String {
    let mut c = Command::new("pdftotext");
    if let Some(p) = first {
        c.args(["-f", &p.to_string(), "-l", &p.to_string()]);
    }
    let o = c.arg(pdf).arg("-").output().unwrap();
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Pages the vector transcript prints to, on A4 and on Letter alike.
const VECTOR_PAGES: usize = 4;

#[test]
fn printable_renders_and_prints_in_chromium_on_a4_and_letter() {
    if !tools_or_skip(
        "printable_renders_and_prints_in_chromium_on_a4_and_letter",
        &[
            ("chromium", "--version"),
            ("pdfinfo", "-v"),
            ("pdftotext", "-v"),
        ],
        "scripts/ensure-chromium.sh and scripts/ensure-transcript-tools.sh",
    ) {
        return;
    }
    let chromium = "chromium";
    let dir = tempfile::tempdir().unwrap();
    let html = std::fs::read_to_string(vector_html(dir.path())).unwrap();
    assert!(html.contains("@page { size: auto;"));
    for (paper, size_css) in [("A4", "A4"), ("letter", "letter")] {
        // the printer's paper size, chosen here as a print dialog would
        let sized = dir.path().join(format!("transcript-{paper}.html"));
        std::fs::write(
            &sized,
            html.replacen(
                "@page { size: auto;",
                &format!("@page {{ size: {size_css};"),
                1,
            ),
        )
        .unwrap();
        let pdf = dir.path().join(format!("transcript-{paper}.pdf"));
        print_pdf(chromium, &sized, &pdf);
        let (pages, size) = pdf_info(&pdf);
        assert!(
            size.contains(&format!("({paper})")),
            "{paper}: page size {size}"
        );
        assert_eq!(pages, VECTOR_PAGES, "{paper}: {pages} pages");
        let text = pdf_text(&pdf, None);
        assert!(
            !text.contains("file://"),
            "{paper}: the browser printed its header or footer"
        );
        assert!(text.contains("Key ceremony transcript: test vector: known key"));
        // the last page holds the whole signature block
        let last = pdf_text(&pdf, Some(pages));
        assert!(last.contains("Signatures"), "{paper}: last page:\n{last}");
        for name in [
            "Lena Lead",
            "Alice Example",
            "Bob Example",
            "Carol Example",
            "Dan Example",
            "Erin Example",
            "Wim Witness",
            "Wu Witness",
        ] {
            assert!(last.contains(name), "{paper}: no signature line for {name}");
        }
        assert!(
            last.contains("Ceremony lead") && last.contains("Witness") && last.contains("Date")
        );
        let hash = grouped(&expected("final_hash"));
        let first_group = hash.split(' ').next().unwrap();
        assert!(
            last.contains(first_group),
            "{paper}: final hash missing on the signature page"
        );
        let words = expected("final_words");
        let first_words: Vec<&str> = words.split(' ').take(4).collect();
        assert!(
            last.contains(&first_words.join(" ")),
            "{paper}: final words missing"
        );
        if let Ok(keep) = std::env::var("TRANSCRIPT_KEEP_PDF") {
            std::fs::copy(
                &pdf,
                Path::new(&keep).join(format!("transcript-{paper}.pdf")),
            )
            .unwrap();
        }
    }
}
