//! Renders a printable sheet in headless Chromium (Debian package
//! `chromium`; scripts/ensure-chromium.sh installs it) and reads the QR code
//! back from the screenshot. Skips, saying why on the terminal, when Chromium
//! is not installed, unless KEYCEREMONY_REQUIRE_INTEROP is set (then it fails).

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyceremony::qr;

/// Written straight to stderr: the test harness does not capture it, so a
/// skip is visible in every run.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn find_chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    })
}

fn screenshot(chromium: &str, html: &Path, png: &Path, profile: &Path) {
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
            "--window-size=900,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
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
            panic!("chromium did not finish the screenshot within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sheet_rendered_by_chromium_scans_back() {
    let Some(chromium) = find_chromium() else {
        // the test command (KEYCEREMONY_REQUIRE_INTEROP=1) installs it and must not skip
        if std::env::var_os("KEYCEREMONY_REQUIRE_INTEROP").is_some() {
            panic!("chromium is not installed and KEYCEREMONY_REQUIRE_INTEROP is set: run scripts/ensure-chromium.sh");
        }
        say("SKIPPED sheet_rendered_by_chromium_scans_back: chromium is not installed (run scripts/ensure-chromium.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (t, n) in [(2u16, 3u16), (5, 7)] {
        let shard = support::shard_set(&format!("chromium-{t}"), t, n).remove(n as usize - 1);
        let code = qr::qr_code(&shard).unwrap();
        let html = qr::sheet::render_sheet(&shard, &code).unwrap();
        let html_path = dir.path().join(format!("sheet-{t}.html"));
        let png_path = dir.path().join(format!("sheet-{t}.png"));
        std::fs::write(&html_path, html.as_bytes()).unwrap();
        let profile = tempfile::tempdir().unwrap();
        screenshot(chromium, &html_path, &png_path, profile.path());
        let shards = qr::shards_from_image(&png_path).unwrap();
        assert_eq!(shards.len(), 1, "t={t}");
        assert!(qr::same_share(&shards[0], &shard), "t={t}");
        if let Ok(keep) = std::env::var("QR_KEEP_RENDER") {
            std::fs::copy(&png_path, Path::new(&keep).join(format!("sheet-{t}.png"))).unwrap();
        }
    }
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
    assert!(html.contains("@page"));
    assert!(html.contains("Share 1 of 5"));
    assert!(html.contains("any 3 recover"));
    assert!(html.contains(&shard.info.fingerprint.to_string()));
    assert!(html.contains("KC-7Q2M-X9RD-4HKT"));
    assert!(html.contains("Custodian 1"));
    assert!(!html.contains("{{"), "a placeholder was left unfilled");
    for line in qr::typed::fallback_lines(&shard).iter() {
        assert!(html.contains(line.as_str()));
    }
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
