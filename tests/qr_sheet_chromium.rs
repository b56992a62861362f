//! The printable sheet in a real browser: headless Chromium (Debian package
//! `chromium`) renders it to a screenshot and prints it to PDF, and poppler
//! (`poppler-utils`: pdfinfo, pdftotext, pdftoppm) reads the PDF back:
//! scripts/ensure-chromium.sh installs both. The tests skip, saying why on
//! the terminal, when they are missing, unless KEYCEREMONY_REQUIRE_INTEROP is
//! set (then they fail).
//!
//! Printing checks the page count for t = 2..16 on A4 and Letter with the
//! longest label and names the tool accepts. The test prints a
//! representative subset (each side of the one-page/two-page boundary and the
//! largest code); KEYCEREMONY_SHEET_ALL=1 prints every threshold
//! (scripts/sheet-pages.sh).

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyceremony::qr::{self, sheet};
use keyceremony::shard::ShardFile;

/// Written straight to stderr: the test harness does not capture it, so a
/// skip is visible in every run.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn works(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn find_chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| works(name, "--version"))
}

/// Chromium, or None after saying why the test is skipped (a failure when
/// the test command requires the interop tools).
fn tools(test: &str, need_poppler: bool) -> Option<&'static str> {
    let chromium = find_chromium();
    let poppler = !need_poppler || works("pdfinfo", "-v");
    let missing = match (chromium, poppler) {
        (Some(c), true) => return Some(c),
        (None, _) => "chromium is not installed",
        (Some(_), false) => "poppler-utils (pdfinfo, pdftotext, pdftoppm) is not installed",
    };
    // the test command (KEYCEREMONY_REQUIRE_INTEROP=1) installs them and must not skip
    if std::env::var_os("KEYCEREMONY_REQUIRE_INTEROP").is_some() {
        panic!("{missing} and KEYCEREMONY_REQUIRE_INTEROP is set: run scripts/ensure-chromium.sh");
    }
    say(&format!(
        "SKIPPED {test}: {missing} (run scripts/ensure-chromium.sh)"
    ));
    None
}

fn run_chromium(chromium: &str, args: &[String], html: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", html.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            return;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn output_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("poppler tool runs");
    assert!(out.status.success(), "{cmd:?} failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn sheet_rendered_by_chromium_scans_back() {
    let Some(chromium) = tools("sheet_rendered_by_chromium_scans_back", false) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (t, n) in [(2u16, 3u16), (5, 7), (16, 16)] {
        let shard = support::shard_set(&format!("chromium-{t}"), t, n).remove(n as usize - 1);
        let code = qr::qr_code(&shard).unwrap();
        let html = qr::sheet::render_sheet(&shard, &code).unwrap();
        let html_path = dir.path().join(format!("sheet-{t}.html"));
        let png_path = dir.path().join(format!("sheet-{t}.png"));
        std::fs::write(&html_path, html.as_bytes()).unwrap();
        run_chromium(
            chromium,
            &[
                "--window-size=900,1400".into(),
                format!("--screenshot={}", png_path.display()),
            ],
            &html_path,
        );
        let shards = qr::shards_from_image(&png_path).unwrap();
        assert_eq!(shards.len(), 1, "t={t}");
        assert!(qr::same_share(&shards[0], &shard), "t={t}");
        if let Ok(keep) = std::env::var("QR_KEEP_RENDER") {
            std::fs::copy(&png_path, Path::new(&keep).join(format!("sheet-{t}.png"))).unwrap();
        }
    }
}

/// The longest label and names the tool accepts (record::MAX_NAME_CHARS),
/// in ordinary words, which wrap as real ones do.
fn long_text(start: &str) -> String {
    let words = "Production root certificate authority signing key of the payments \
                 platform, region EU-West, generation 2026, rotated yearly under policy \
                 KC-7, custodians in separate sites, sealed envelopes, witnessed";
    let mut s = format!("{start} {words} {words}");
    s.truncate(keyceremony::record::MAX_NAME_CHARS);
    s
}

/// Nearest any printed text may come to an edge of the paper.
const MIN_CLEARANCE_MM: f64 = 9.5;

/// A Base64 Ed25519 public key, as the ceremony record will show it.
const CEREMONY_KEY: &str = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=";

struct Printed {
    pages: usize,
    page_size: String,
    text: Vec<String>,
    /// Per page: the distance from the paper's edges to the nearest text, in mm
    /// (top, bottom, left, right).
    clearance: Vec<[f64; 4]>,
    pdf: PathBuf,
}

/// Edges to text, per page, from `pdftotext -bbox` (points; 72 a inch).
fn clearances(bbox_html: &str) -> Vec<[f64; 4]> {
    let attr = |tag: &str, name: &str| -> f64 {
        let key = format!("{name}=\"");
        let start = tag.find(&key).expect("bbox attribute") + key.len();
        tag[start..].split('"').next().unwrap().parse().unwrap()
    };
    let mm = |pt: f64| pt * 25.4 / 72.0;
    let mut pages = Vec::new();
    for page in bbox_html.split("<page ").skip(1) {
        let (w, h) = (attr(page, "width"), attr(page, "height"));
        let mut c = [f64::MAX; 4];
        for word in page.split("<word ").skip(1) {
            c[0] = c[0].min(mm(attr(word, "yMin")));
            c[1] = c[1].min(mm(h - attr(word, "yMax")));
            c[2] = c[2].min(mm(attr(word, "xMin")));
            c[3] = c[3].min(mm(w - attr(word, "xMax")));
        }
        pages.push(c);
    }
    pages
}

/// Prints the sheet to PDF as a browser does by default (no flag turning the
/// header and footer off: the sheet's own CSS must keep them out), on the
/// paper given, and reads it back.
fn print_sheet(chromium: &str, html: &str, paper: &str, dir: &Path, name: &str) -> Printed {
    // the printer's paper: what `size: auto` takes from the print dialog
    let sized = html.replacen("size: auto;", &format!("size: {paper};"), 1);
    assert_ne!(sized, html, "the sheet's @page rule says `size: auto;`");
    let html_path = dir.join(format!("{name}.html"));
    let pdf = dir.join(format!("{name}.pdf"));
    std::fs::write(&html_path, sized).unwrap();
    run_chromium(
        chromium,
        &[format!("--print-to-pdf={}", pdf.display())],
        &html_path,
    );
    let info = output_of(Command::new("pdfinfo").arg(&pdf));
    let field = |key: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("pdfinfo gives no {key}: {info}"))
    };
    let pages: usize = field("Pages:").parse().unwrap();
    let page_size = field("Page size:");
    let text = (1..=pages)
        .map(|p| {
            output_of(
                Command::new("pdftotext")
                    .args(["-f", &p.to_string(), "-l", &p.to_string(), "-layout"])
                    .arg(&pdf)
                    .arg("-"),
            )
        })
        .collect();
    let clearance = clearances(&output_of(
        Command::new("pdftotext").arg("-bbox").arg(&pdf).arg("-"),
    ));
    assert_eq!(clearance.len(), pages);
    Printed {
        pages,
        page_size,
        text,
        clearance,
        pdf,
    }
}

/// Label and custodian for a printed sheet.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Names {
    /// The longest the tool accepts, in words.
    Words,
    /// The longest, in the widest letter: the worst case for wrapping.
    Widest,
}

/// The sheet as printed for a share of a t-of-t split with the longest label and names.
fn long_shard(t: u16, names: Names) -> ShardFile {
    let mut shard = support::shard_set(&format!("pages-{t}"), t, t).remove(t as usize - 1);
    let widest = "W".repeat(keyceremony::record::MAX_NAME_CHARS);
    let (label, custodian) = match names {
        Names::Words => (long_text("Label"), long_text("Custodian")),
        Names::Widest => (widest.clone(), widest),
    };
    shard.info.label = label;
    shard.custodian = Some(custodian);
    shard
}

#[test]
fn sheet_prints_on_its_pages_on_a4_and_letter() {
    let test = "sheet_prints_on_its_pages_on_a4_and_letter";
    let Some(chromium) = tools(test, true) else {
        return;
    };
    let all = std::env::var_os("KEYCEREMONY_SHEET_ALL").is_some();
    // both sides of the one-page / two-page boundary, and the largest code;
    // the widest names where the pages are fullest
    let cases: Vec<(u16, Names)> = if all {
        let mut c: Vec<(u16, Names)> = (2..=16).map(|t| (t, Names::Words)).collect();
        c.extend((2..=16).map(|t| (t, Names::Widest)));
        c
    } else {
        vec![
            (2, Names::Words),
            (5, Names::Words),
            (6, Names::Words),
            (16, Names::Words),
            (5, Names::Widest),
            (16, Names::Widest),
        ]
    };
    let dir = tempfile::tempdir().unwrap();
    let mut table = vec![
        "| t | names | QR version | fallback lines | designed | A4 pages | Letter pages | bottom clearance A4 / Letter (mm) |".to_string(),
        "|---:|---|---:|---:|---:|---:|---:|---:|".to_string(),
    ];
    let started = Instant::now();
    for (t, names) in cases {
        let shard = long_shard(t, names);
        let code = qr::qr_code(&shard).unwrap();
        let options = sheet::SheetOptions {
            ceremony_public_key: Some(CEREMONY_KEY.into()),
        };
        let html = sheet::render_sheet_with(&shard, &code, &options).unwrap();
        let lines = qr::typed::fallback_lines(&shard);
        let designed = sheet::page_count(lines.len());
        let mut counts = Vec::new();
        let mut slack = Vec::new();
        for (paper, size_name) in [("A4", "(A4)"), ("letter", "(letter)")] {
            let name = format!("t{t}-{names:?}-{paper}");
            let p = print_sheet(chromium, &html, paper, dir.path(), &name);
            if let Ok(keep) = std::env::var("QR_KEEP_RENDER") {
                std::fs::copy(&p.pdf, Path::new(&keep).join(format!("sheet-{name}.pdf"))).unwrap();
            }
            assert!(p.page_size.ends_with(size_name), "{name}: {}", p.page_size);
            counts.push(p.pages);
            for (page, c) in p.clearance.iter().enumerate() {
                // what most printers cannot reach is 3-6 mm from the edge
                assert!(
                    c.iter().all(|&edge| edge >= MIN_CLEARANCE_MM),
                    "{name}: page {} has text {c:.1?} mm from its edges (top, bottom, left, right)",
                    page + 1
                );
            }
            let bottom = p.clearance.iter().map(|c| c[1]).fold(f64::MAX, f64::min);
            slack.push(format!("{bottom:.0}"));
            assert_eq!(
                p.pages, designed,
                "{name}: {} pages, designed for {designed}",
                p.pages
            );
            check_printed_text(&p, &shard, &lines, designed, t, paper);
            // the printed code scans back (the largest and the smallest)
            if (t == 2 || t == 16) && names == Names::Words {
                scan_printed_page(&p, &shard, t, paper);
            }
        }
        table.push(format!(
            "| {t} | {names:?} | {} | {} | {designed} | {} | {} | {} / {} |",
            qr::version_of(&code),
            lines.len(),
            counts[0],
            counts[1],
            slack[0],
            slack[1]
        ));
    }
    say(&format!(
        "{test}: printed in {:.0} s\n{}",
        started.elapsed().as_secs_f64(),
        table.join("\n")
    ));
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn check_printed_text(
    p: &Printed,
    shard: &ShardFile,
    lines: &[String],
    pages: usize,
    t: u16,
    paper: &str,
) {
    let at = format!("t={t} on {paper}");
    let page1 = squash(&p.text[0]);
    let all = squash(&p.text.join("\n"));
    assert!(
        page1.contains(&format!("page 1 of {pages}")),
        "{at}: {page1}"
    );
    assert!(page1.contains(&format!("Share {t} of {t}")), "{at}");
    assert!(
        page1.contains(&format!("keyceremony {}", env!("CARGO_PKG_VERSION"))),
        "{at}"
    );
    // the key wraps inside its column
    let page1_joined: String = page1.split_whitespace().collect();
    assert!(
        page1_joined.contains(CEREMONY_KEY),
        "{at}: the ceremony key is printed"
    );
    assert!(page1.contains(&shard.info.fingerprint.to_string()), "{at}");
    for signs in [
        "Custodian signature",
        "Witness name, signature",
        "Stored at place, box, safe",
    ] {
        assert!(page1.contains(signs), "{at}: no {signs}");
    }
    assert!(page1.contains("100%"), "{at}: printing instructions");
    // what browsers put in the margins: the title, the file's URL, the date, page numbers
    for margin in ["file:", ".html", "keyceremony share", "1/1", "1/2"] {
        assert!(
            !all.contains(margin),
            "{at}: the margin shows {margin:?}: {all}"
        );
    }
    let today = time::OffsetDateTime::now_utc().date();
    let us_date = format!(
        "{}/{}/{}",
        u8::from(today.month()),
        today.day(),
        today.year() % 100
    );
    assert!(!all.contains(&us_date), "{at}: the margin shows the date");
    // every fallback line is printed whole, on the page designed for it
    let fallback_page = squash(&p.text[pages - 1]);
    for line in lines {
        assert!(
            fallback_page.contains(&squash(line)),
            "{at}: line {line} not on page {pages}"
        );
    }
    if pages == 2 {
        let page2 = squash(&p.text[1]);
        assert!(page1.contains("This sheet has two pages"), "{at}");
        assert!(page2.contains("page 2 of 2"), "{at}");
        assert!(page2.contains("the code is on page 1"), "{at}");
        assert!(page2.contains(shard.info.ceremony_id.as_str()), "{at}");
        for line in lines {
            assert!(
                !page1.contains(&squash(line)),
                "{at}: a fallback line on page 1"
            );
        }
    }
}

fn scan_printed_page(p: &Printed, shard: &ShardFile, t: u16, paper: &str) {
    // page 1 at 150 dpi, grey: an ordinary flatbed scan
    let prefix = p.pdf.with_extension("");
    let status = Command::new("pdftoppm")
        .args([
            "-f",
            "1",
            "-l",
            "1",
            "-r",
            "150",
            "-gray",
            "-png",
            "-singlefile",
        ])
        .arg(&p.pdf)
        .arg(&prefix)
        .status()
        .unwrap();
    assert!(status.success());
    let png = prefix.with_extension("png");
    let shards = qr::shards_from_image(&png).unwrap_or_else(|e| panic!("t={t} {paper}: {e}"));
    assert_eq!(shards.len(), 1, "t={t} {paper}");
    assert!(qr::same_share(&shards[0], shard), "t={t} {paper}");
}

#[test]
fn sheet_is_self_contained() {
    let shard = support::shard_set("self-contained", 3, 5).remove(0);
    let code = qr::qr_code(&shard).unwrap();
    let html = qr::sheet::render_sheet(&shard, &code).unwrap();
    // no external resources: nothing fetched, no scripts
    for needle in ["<script", "<link", "src=", "url(", "@import", "https:"] {
        assert!(!html.contains(needle), "sheet contains {needle}");
    }
    assert!(html.contains("@page { size: auto; margin: 0; }"));
    assert!(html.contains("Share 1 of 5"));
    assert!(html.contains("any 3 recover"));
    assert!(html.contains(&shard.info.fingerprint.to_string()));
    assert!(html.contains("KC-7Q2M-X9RD-4HKT"));
    assert!(html.contains("Custodian 1"));
    assert!(html.contains(&format!("keyceremony {}", env!("CARGO_PKG_VERSION"))));
    assert!(
        !html.contains("Ceremony public key"),
        "no key given, none shown"
    );
    assert!(!html.contains("{{"), "a placeholder was left unfilled");
    for line in qr::typed::fallback_lines(&shard).iter() {
        assert!(html.contains(line.as_str()));
    }
}

#[test]
fn sheet_shows_the_ceremony_key_when_given() {
    let shard = support::shard_set("ceremony-key", 2, 3).remove(0);
    let code = qr::qr_code(&shard).unwrap();
    let options = sheet::SheetOptions {
        ceremony_public_key: Some("<key & \"more\">".into()),
    };
    let html = sheet::render_sheet_with(&shard, &code, &options).unwrap();
    assert!(html.contains("Ceremony public key (Ed25519)"));
    assert!(html.contains("&lt;key &amp; &quot;more&quot;&gt;"));
    assert!(!html.contains("<key"));
}

#[test]
fn sheet_escapes_names() {
    let mut shard = support::shard_set("escape", 2, 2).remove(0);
    shard.custodian = Some("<b>Eve & \"Mallory\"</b>".into());
    shard.info.label = "<script>x</script>".into();
    let code = qr::qr_code(&shard).unwrap();
    let html = qr::sheet::render_sheet(&shard, &code).unwrap();
    assert!(!html.contains("<b>Eve"));
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;b&gt;Eve &amp; &quot;Mallory&quot;&lt;/b&gt;"));
}

#[test]
fn sheet_never_expands_a_placeholder_in_a_value() {
    // a label that names a placeholder must print as text, not as the fallback lines
    let mut shard = support::shard_set("placeholder", 2, 3).remove(0);
    shard.info.label = "{{FALLBACK}} {{QR_SVG}}".into();
    shard.custodian = Some("{{#TWO_PAGES}}".into());
    let code = qr::qr_code(&shard).unwrap();
    let html = qr::sheet::render_sheet(&shard, &code).unwrap();
    assert!(html.contains(">{{FALLBACK}} {{QR_SVG}}</h1>"));
    assert!(html.contains("\">{{#TWO_PAGES}}</dd>"));
    assert_eq!(html.matches("<svg").count(), 1);
    let first = &qr::typed::fallback_lines(&shard)[0];
    assert_eq!(html.matches(first.as_str()).count(), 1);
}

#[test]
fn sheet_pages_are_what_the_layout_says() {
    // one page up to t = 5, the fallback on its own page above (measured by
    // sheet_prints_on_its_pages_on_a4_and_letter)
    for (t, pages) in [(2u16, 1usize), (5, 1), (6, 2), (16, 2)] {
        let shard = support::shard_set(&format!("layout-{t}"), t, t).remove(0);
        let code = qr::qr_code(&shard).unwrap();
        let html = qr::sheet::render_sheet(&shard, &code).unwrap();
        assert_eq!(
            sheet::page_count(qr::typed::fallback_lines(&shard).len()),
            pages,
            "t={t}"
        );
        assert!(html.contains(&format!("page 1 of {pages}")), "t={t}");
        assert_eq!(html.contains("page 2 of 2"), pages == 2, "t={t}");
    }
}
