//! End to end: `split --qr`, `qr decode`, and images given to verify/assemble.

mod support;

use assert_cmd::Command;
use predicates::prelude::*;

fn kc() -> Command {
    Command::cargo_bin("keyceremony").unwrap()
}

#[test]
fn split_qr_writes_sheets_that_verify_and_assemble() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c");
    kc().args([
        "split",
        "-t",
        "2",
        "-n",
        "3",
        "--generate",
        "--qr",
        "--label",
        "QR test",
    ])
    .args(["--custodian", "Alice & Bob"])
    .arg("--out")
    .arg(&out)
    .assert()
    .success()
    .stdout(predicate::str::contains("scanned back"));
    for i in 1..=3 {
        for ext in ["json", "png", "svg", "html"] {
            let p = out.join(format!("shard-{i}.{ext}"));
            let meta = std::fs::metadata(&p).unwrap();
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{}", p.display());
        }
    }
    let html = std::fs::read_to_string(out.join("shard-1.html")).unwrap();
    assert!(html.contains("Alice &amp; Bob"));
    assert!(html.contains("QR test"));
    assert!(html.contains("Share 1 of 3"));

    // the PNG summarises without the value; --raw prints the payload
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("shard-2.json")).unwrap()).unwrap();
    let value = json["value"].as_str().unwrap().to_string();
    let summary = kc()
        .args(["qr", "decode"])
        .arg(out.join("shard-2.png"))
        .assert()
        .success()
        .stdout(predicate::str::contains("share 2 of 3 (any 2 recover)"))
        .get_output()
        .stdout
        .clone();
    assert!(!String::from_utf8_lossy(&summary).contains(&value));
    kc().args(["qr", "decode", "--raw"])
        .arg(out.join("shard-2.png"))
        .assert()
        .success()
        .stdout(predicate::str::starts_with("KC1"));

    // images and JSON shards mix freely
    kc().arg("verify")
        .arg(out.join("shard-1.png"))
        .arg(out.join("shard-3.json"))
        .arg(out.join("ceremony.json"))
        .assert()
        .success();
    kc().args(["assemble", "--dry-run"])
        .arg(out.join("shard-1.png"))
        .arg(out.join("shard-2.png"))
        .assert()
        .success();
}

#[test]
fn qr_decode_reads_two_codes_in_one_image() {
    let dir = tempfile::tempdir().unwrap();
    let shards = support::shard_set("cli-two", 2, 3);
    let a = keyceremony::qr::render_gray(&keyceremony::qr::qr_code(&shards[0]).unwrap(), 6);
    let b = keyceremony::qr::render_gray(&keyceremony::qr::qr_code(&shards[2]).unwrap(), 6);
    let mut both = image::GrayImage::from_pixel(a.width() * 2 + 20, a.height(), image::Luma([255]));
    image::imageops::replace(&mut both, &a, 0, 0);
    image::imageops::replace(&mut both, &b, a.width() as i64 + 20, 0);
    let path = dir.path().join("two.jpg");
    let (bytes, _) = support::degrade::encode(&both, Some(80));
    std::fs::write(&path, bytes).unwrap();
    kc().args(["qr", "decode"])
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("share 1 of 3"))
        .stdout(predicate::str::contains("share 3 of 3"));
    // two shares from one photo are enough to assemble
    kc().args(["assemble", "--dry-run"])
        .arg(&path)
        .assert()
        .success();
}

#[test]
fn qr_decode_names_images_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(200, 200, image::Luma([255]))
        .save(&blank)
        .unwrap();
    kc().args(["qr", "decode"])
        .arg(&blank)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "blank.png: no QR code could be read",
        ));

    let not_image = dir.path().join("x.png");
    std::fs::write(&not_image, b"\x89PNG\r\n\x1a\nthis is not really a png").unwrap();
    kc().args(["qr", "decode"])
        .arg(&not_image)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("x.png: cannot decode"));

    // a QR code that is not a shard: --raw prints it, the summary refuses it
    let other = dir.path().join("other.png");
    let code = qrcode::QrCode::new(b"hello world").unwrap();
    let img = code.render::<image::Luma<u8>>().build();
    // qrcode's renderer may use a different image version: go through bytes
    let (w, h) = (img.width(), img.height());
    image::GrayImage::from_raw(w, h, img.into_raw())
        .unwrap()
        .save(&other)
        .unwrap();
    kc().args(["qr", "decode", "--raw"])
        .arg(&other)
        .assert()
        .success()
        .stdout("hello world\n");
    kc().args(["qr", "decode"])
        .arg(&other)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("none of them a keyceremony shard"));
    kc().arg("verify")
        .arg(&other)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "other.png: found 1 QR code(s), none of them a keyceremony shard",
        ));
}

#[test]
fn vector_image_decodes_from_the_command_line() {
    kc().args(["qr", "decode", "--raw", "testdata/qr/shard-2-of-3.png"])
        .assert()
        .success()
        .stdout(std::fs::read_to_string("testdata/qr/shard-2-of-3.payload.txt").unwrap());
}

#[test]
fn assemble_type_takes_typed_fallback_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c");
    kc().args(["split", "-t", "2", "-n", "3", "--generate", "--qr"])
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let shard2 =
        keyceremony::shard::ShardFile::parse(&std::fs::read(out.join("shard-2.json")).unwrap())
            .unwrap();
    let mut lines = keyceremony::qr::typed::fallback_lines(&shard2).join("\n");
    lines.push('\n');
    kc().args(["assemble", "--dry-run", "--type"])
        .arg(out.join("shard-1.png"))
        .write_stdin(lines.clone())
        .assert()
        .success()
        .stderr(predicate::str::contains("line 2 of"));
    // one typed line wrong: asked again; the input ends, so it fails, naming the line
    let mut broken: Vec<String> = lines.lines().map(str::to_string).collect();
    let mut line4 = broken[3].clone().into_bytes();
    line4[4] = if line4[4] == b'0' { b'2' } else { b'0' };
    broken[3] = String::from_utf8(line4).unwrap();
    kc().args(["assemble", "--dry-run", "--type"])
        .arg(out.join("shard-1.png"))
        .write_stdin(broken.join("\n"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "line 4: the check characters do not match",
        ))
        .stderr(predicate::str::contains("input ended before line"));
}

#[test]
fn oversized_images_are_refused_before_decoding() {
    // a small real JPEG whose frame header claims 10000 x 10000 pixels
    let img = image::GrayImage::from_pixel(16, 16, image::Luma([200]));
    let (mut bytes, _) = support::degrade::encode(&img, Some(80));
    let sof = bytes
        .windows(2)
        .position(|w| w == [0xff, 0xc0])
        .expect("baseline JPEG has SOF0");
    // marker, length (2), precision (1), height (2), width (2)
    bytes[sof + 5..sof + 9].copy_from_slice(&[0x27, 0x10, 0x27, 0x10]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.jpg");
    std::fs::write(&path, bytes).unwrap();
    kc().args(["qr", "decode"])
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "huge.jpg: image has 100 megapixels",
        ));
}

#[test]
fn split_qr_takes_thresholds_up_to_16() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c17");
    kc().args(["split", "-t", "17", "-n", "17", "--generate", "--qr"])
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--qr: QR sheets hold shares of thresholds up to 16, and this split needs 17",
        ));
    assert!(!out.exists(), "nothing is written");
    // without --qr the same split works
    kc().args(["split", "-t", "17", "-n", "17", "--generate"])
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    // t = 16, the largest: its sheet is two pages and its code scans back
    let out16 = dir.path().join("c16");
    kc().args(["split", "-t", "16", "-n", "16", "--generate", "--qr"])
        .arg("--out")
        .arg(&out16)
        .assert()
        .success()
        .stdout(predicate::str::contains("QR version 26"));
    let html = std::fs::read_to_string(out16.join("shard-16.html")).unwrap();
    assert!(html.contains("page 2 of 2"));
    kc().args(["qr", "decode"])
        .arg(out16.join("shard-16.png"))
        .assert()
        .success()
        .stdout(predicate::str::contains("share 16 of 16 (any 16 recover)"));
}
