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

/// A grey PNG of `w` x `h` pixels written row by row (never whole in memory),
/// each row's value given by `row`.
fn write_big_png(path: &std::path::Path, w: u32, h: u32, row: impl Fn(u32) -> u8) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut stream = enc.write_header().unwrap().into_stream_writer().unwrap();
    let mut line = vec![0u8; w as usize];
    for y in 0..h {
        line.fill(row(y));
        std::io::Write::write_all(&mut stream, &line).unwrap();
    }
    stream.finish().unwrap();
}

/// Runs `keyceremony ARGS` with its address space limited to `mib` MiB, so
/// that a decoder holding more than that fails instead of passing.
fn kc_with_memory_limit(mib: u64, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("keyceremony");
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {} && exec \"$0\" \"$@\"", mib * 1024))
        .arg(bin)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn png_pixels_are_refused_by_the_header_and_decoding_memory_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // 16000 x 16000 (256 megapixels): refused from the header, before any
    // pixel is inflated (this one has a 16 x 16 picture behind its header)
    let small = image::GrayImage::from_pixel(16, 16, image::Luma([255]));
    let mut bytes = Vec::new();
    small
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    // IHDR: length (4), "IHDR", width (4), height (4), ..., CRC over type and data
    let ihdr = bytes.windows(4).position(|w| w == b"IHDR").unwrap();
    bytes[ihdr + 4..ihdr + 12].copy_from_slice(&[0, 0, 0x3e, 0x80, 0, 0, 0x3e, 0x80]);
    let mut crc = flate2::Crc::new();
    crc.update(&bytes[ihdr..ihdr + 17]);
    bytes[ihdr + 17..ihdr + 21].copy_from_slice(&crc.sum().to_be_bytes());
    let huge = dir.path().join("huge.png");
    std::fs::write(&huge, &bytes).unwrap();
    kc().args(["qr", "decode"])
        .arg(&huge)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "huge.png: image has 256 megapixels, more than the 64 this tool reads",
        ));

    // the largest accepted (8000 x 8000, 64 megapixels; the grey picture
    // takes 61 MiB), white, and one just over what the passes work on
    // (4500 x 4000, striped: shrunk to 4.5 megapixels first), each read in
    // an address space of 256 MiB: no code found (the decoder before these
    // bounds needed over a gigabyte for the white one)
    for (name, w, h, row) in [
        ("white.png", 8000, 8000, (|_| 255) as fn(u32) -> u8),
        ("stripes.png", 4500, 4000, |y| {
            if (y / 9) % 2 == 0 {
                40
            } else {
                220
            }
        }),
    ] {
        let path = dir.path().join(name);
        write_big_png(&path, w, h, row);
        let out = kc_with_memory_limit(256, &["qr".as_ref(), "decode".as_ref(), path.as_os_str()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{name}: no QR code could be read")),
            "{name}: {stderr}"
        );
    }
}
