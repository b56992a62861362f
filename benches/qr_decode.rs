//! QR decoder benchmark (not a timed test): decode rate per degradation and
//! tier, misreads, and median time per image, for keyceremony's decoder, rqrr
//! alone and, when installed, ZXing-C++ (Python `zxing-cpp`), zbar (Python
//! `pyzbar` over libzbar, the library `zbarimg` uses) and OpenCV
//! (`opencv-python-headless`, its QRCodeDetector), all on the same generated
//! corpus in one run. Run `scripts/qr-bench.sh` (installs the peers), or
//! `cargo bench --bench qr_decode`.
//!
//! Environment:
//! - QR_BENCH_N: samples per degradation and tier (default 10);
//! - QR_BENCH_DIR: where the corpus is written (default target/qr-bench);
//! - QR_BENCH_KINDS: comma-separated degradation names (`Kind` in
//!   tests/support/degrade.rs, lower case) to run only those;
//! - QR_BENCH_PEER_CACHE=1: reuse the peers' answers from an earlier run on
//!   byte-identical images (for iterating on keyceremony's decoder; their
//!   times are then those of the earlier run).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use keyceremony::qr::{self, payload};
use sha2::{Digest, Sha256};
use support::degrade::{self, Sample, KINDS, TIERS};

#[derive(Default, Clone)]
struct Outcome {
    read: bool,
    misread: bool,
    /// The decode call alone (the image already in memory).
    ms: f64,
    /// Reading the file and decoding (keyceremony only).
    file_ms: Option<f64>,
}

struct Decoder {
    name: &'static str,
    outcomes: Vec<Option<Outcome>>,
    peer: bool,
}

/// Peers run through scripts/qr_peer_read.py: (column name, reader argument).
const PEERS: [(&str, &str); 3] = [
    ("ZXing-C++", "zxing"),
    ("zbar", "zbar"),
    ("OpenCV", "opencv"),
];

fn main() {
    let n: usize = std::env::var("QR_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir =
        PathBuf::from(std::env::var("QR_BENCH_DIR").unwrap_or_else(|_| "target/qr-bench".into()));
    let only: Option<Vec<String>> = std::env::var("QR_BENCH_KINDS")
        .ok()
        .map(|v| v.split(',').map(|k| k.trim().to_lowercase()).collect());
    let peer_cache = std::env::var_os("QR_BENCH_PEER_CACHE").is_some();

    let mut texts = Vec::new();
    let mut shards = Vec::new();
    for (t, count) in [(2u16, 3u16), (3, 5), (5, 7)] {
        for s in support::shard_set(&format!("bench-{t}"), t, count) {
            texts.push(payload::encode(&s).to_string());
            shards.push(s);
        }
    }

    // The corpus is a pure function of the generator's source, N and the
    // kinds chosen: kept in a folder named by their hash and reused.
    let corpus_key = {
        let mut h = Sha256::new();
        h.update(include_str!("../tests/support/degrade.rs"));
        h.update(include_str!("../tests/support/mod.rs"));
        h.update(format!("n={n} kinds={only:?}"));
        hex::encode(&h.finalize()[..6])
    };
    let corpus = dir.join(format!("corpus-{corpus_key}"));
    let started = Instant::now();
    let (samples, photos, reused) = match load_corpus(&corpus) {
        Some((s, p)) => (s, p, true),
        None => {
            let (s, p) = make_corpus(n, only.as_deref(), &texts);
            save_corpus(&corpus, &s, &p);
            (s, p, false)
        }
    };
    let paths: Vec<PathBuf> = samples
        .iter()
        .chain(photos.iter())
        .map(|s| corpus.join(format!("{}.{}", s.name, s.ext)))
        .collect();
    eprintln!(
        "corpus: {} images ({} per degradation and tier) + {} 12-MP photos in {}, {} in {:.1} s",
        samples.len(),
        n,
        photos.len(),
        corpus.display(),
        if reused { "reused" } else { "generated" },
        started.elapsed().as_secs_f64()
    );
    let all: Vec<&Sample> = samples.iter().chain(photos.iter()).collect();

    let decoders = decode_all(&all, &paths, &shards, &dir, peer_cache);
    report(&samples, &paths, photos.len(), &decoders);
    if only.is_none() {
        hostile(&dir);
    }
}

/// A memory figure of this process from /proc/self/status, in MiB: `VmRSS`
/// (now) or `VmHWM` (the peak since the last reset, which writing 5 to
/// /proc/self/clear_refs does). Linux only; None elsewhere.
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Images made to cost time or memory: the file's size, its header, flat
/// pictures, and noise (no code, every pass runs). Time and the memory
/// decoding added to the process.
fn hostile(dir: &Path) {
    let dir = dir.join("hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let mut noise = support::TestRng::new("hostile");
    let mut cases: Vec<(&str, PathBuf)> = Vec::new();
    // a 16 x 16 PNG whose header claims 16000 x 16000
    let small = image::GrayImage::from_pixel(16, 16, image::Luma([255]));
    let (mut bytes, _) = degrade::encode(&small, None);
    let ihdr = bytes.windows(4).position(|w| w == b"IHDR").unwrap();
    bytes[ihdr + 4..ihdr + 12].copy_from_slice(&[0, 0, 0x3e, 0x80, 0, 0, 0x3e, 0x80]);
    let mut crc = flate2::Crc::new();
    crc.update(&bytes[ihdr..ihdr + 17]);
    bytes[ihdr + 17..ihdr + 21].copy_from_slice(&crc.sum().to_be_bytes());
    let p = dir.join("header-16000x16000.png");
    std::fs::write(&p, &bytes).unwrap();
    cases.push(("PNG header claiming 16000 x 16000 (refused)", p));
    let mut add = |label: &'static str, name: &str, img: image::GrayImage, jpeg: Option<u8>| {
        let (bytes, _) = degrade::encode(&img, jpeg);
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        cases.push((label, p));
    };
    add(
        "white 8000 x 8000 PNG (64 MP, the largest accepted)",
        "white-8000.png",
        image::GrayImage::from_pixel(8000, 8000, image::Luma([255])),
        None,
    );
    let mut bits = || {
        use rand_core::RngCore;
        noise.next_u32()
    };
    add(
        "random black and white pixels, 4000 x 4000 PNG",
        "bits-4000.png",
        image::GrayImage::from_fn(4000, 4000, |_, _| {
            image::Luma([if bits() & 1 == 0 { 0 } else { 255 }])
        }),
        None,
    );
    add(
        "grey noise, 4000 x 3000 JPEG (a 12-MP photo of nothing)",
        "noise-12mp.jpg",
        image::GrayImage::from_fn(4000, 3000, |_, _| image::Luma([(bits() & 255) as u8])),
        Some(85),
    );
    add(
        "random pixels, 1550 x 1550 PNG (2.4 MP)",
        "bits-1550.png",
        image::GrayImage::from_fn(1550, 1550, |_, _| {
            image::Luma([if bits() & 1 == 0 { 0 } else { 255 }])
        }),
        None,
    );
    println!("\n| hostile image (no code) | result | ms | memory added (MiB) |");
    println!("|---|---|---:|---:|");
    for (label, path) in cases {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let before = status_mib("VmRSS");
        let start = Instant::now();
        let result = qr::decode::decode_image_file(&path);
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let added = match (status_mib("VmHWM"), before) {
            (Some(peak), Some(before)) => format!("{:.0}", (peak - before).max(0.0)),
            _ => "-".into(),
        };
        let what = match result {
            Ok(found) if found.is_empty() => "no code".to_string(),
            Ok(found) => format!("{} code(s)", found.len()),
            Err(e) => {
                let e = e.to_string();
                e.split_once(": ").map(|(_, m)| m.to_string()).unwrap_or(e)
            }
        };
        println!("| {label} | {what} | {ms:.0} | {added} |");
    }
}

fn make_corpus(n: usize, only: Option<&[String]>, texts: &[String]) -> (Vec<Sample>, Vec<Sample>) {
    let mut samples: Vec<Sample> = Vec::new();
    for kind in KINDS {
        let key = format!("{kind:?}").to_lowercase();
        if only.is_some_and(|o| !o.contains(&key)) {
            continue;
        }
        for tier in TIERS {
            for i in 0..n {
                samples.push(degrade::sample(kind, tier, i, texts));
            }
        }
    }
    let photos: Vec<Sample> = if only.is_some() {
        Vec::new()
    } else {
        (0..3).map(|i| degrade::photo_12mp(i, &texts[i])).collect()
    };
    (samples, photos)
}

/// Writes the images and a manifest (written last: its presence marks the corpus complete).
fn save_corpus(dir: &Path, samples: &[Sample], photos: &[Sample]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut manifest = String::new();
    for (s, photo) in samples
        .iter()
        .map(|s| (s, false))
        .chain(photos.iter().map(|s| (s, true)))
    {
        std::fs::write(dir.join(format!("{}.{}", s.name, s.ext)), &s.bytes).unwrap();
        manifest.push_str(
            &serde_json::json!({
                "name": s.name,
                "kind": format!("{:?}", s.kind),
                "tier": s.tier.name(),
                "ext": s.ext,
                "expected": s.expected,
                "photo": photo,
            })
            .to_string(),
        );
        manifest.push('\n');
    }
    std::fs::write(dir.join("manifest.jsonl"), manifest).unwrap();
}

fn load_corpus(dir: &Path) -> Option<(Vec<Sample>, Vec<Sample>)> {
    let manifest = std::fs::read_to_string(dir.join("manifest.jsonl")).ok()?;
    let (mut samples, mut photos) = (Vec::new(), Vec::new());
    for line in manifest.lines() {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let name = v["name"].as_str()?.to_string();
        let ext: &'static str = match v["ext"].as_str()? {
            "png" => "png",
            "jpg" => "jpg",
            _ => return None,
        };
        let kind = KINDS
            .into_iter()
            .find(|k| format!("{k:?}") == v["kind"].as_str().unwrap_or(""))?;
        let tier = TIERS
            .into_iter()
            .find(|t| t.name() == v["tier"].as_str().unwrap_or(""))?;
        let s = Sample {
            bytes: std::fs::read(dir.join(format!("{name}.{ext}"))).ok()?,
            name,
            kind,
            tier,
            ext,
            expected: v["expected"]
                .as_array()?
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
        };
        if v["photo"].as_bool()? {
            photos.push(s);
        } else {
            samples.push(s);
        }
    }
    Some((samples, photos))
}

fn judge(expected: &[String], found: &[String], ms: f64) -> Outcome {
    Outcome {
        read: expected.iter().all(|e| found.contains(e)),
        misread: found.iter().any(|f| !expected.contains(f)),
        ms,
        file_ms: None,
    }
}

/// One peer decoder: a long-running scripts/qr_peer_read.py READER process
/// that answers one JSON line per image path.
struct Peer {
    name: &'static str,
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    /// content key -> (texts, ms), from earlier runs (QR_BENCH_PEER_CACHE)
    cache: BTreeMap<String, (Vec<String>, f64)>,
    cache_file: Option<PathBuf>,
    fresh: String,
}

impl Peer {
    fn start(
        name: &'static str,
        reader: &'static str,
        cache_file: Option<PathBuf>,
    ) -> Result<Peer, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/qr_peer_read.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(reader)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run python3: {e}"))?;
        let stdin = child.stdin.take().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut cache = BTreeMap::new();
        if let Some(text) = cache_file
            .as_ref()
            .and_then(|c| std::fs::read_to_string(c).ok())
        {
            for line in text.lines() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                    if let (Some(key), Some(texts), Some(ms)) =
                        (v["key"].as_str(), v["texts"].as_array(), v["ms"].as_f64())
                    {
                        let texts = texts
                            .iter()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect();
                        cache.insert(key.to_string(), (texts, ms));
                    }
                }
            }
        }
        let mut peer = Peer {
            name,
            child,
            stdin,
            stdout,
            cache,
            cache_file,
            fresh: String::new(),
        };
        // one image first: an import or a missing package shows here
        let probe = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/qr/shard-2-of-3.png");
        peer.ask(&probe).map_err(|e| {
            let mut err = String::new();
            if let Some(mut stderr) = peer.child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
            }
            format!(
                "python3 scripts/qr_peer_read.py {reader} failed (scripts/qr-bench.sh installs the peers): {e} {}",
                err.lines().last().unwrap_or("")
            )
        })?;
        Ok(peer)
    }

    fn ask(&mut self, path: &Path) -> Result<(Vec<String>, f64), String> {
        use std::io::BufRead;
        writeln!(self.stdin, "{}", path.display()).map_err(|e| e.to_string())?;
        self.stdin.flush().map_err(|e| e.to_string())?;
        let mut line = String::new();
        if self
            .stdout
            .read_line(&mut line)
            .map_err(|e| e.to_string())?
            == 0
        {
            return Err("the reader exited".into());
        }
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
        let texts = v["texts"]
            .as_array()
            .ok_or("no texts")?
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        Ok((texts, v["ms"].as_f64().ok_or("no ms")?))
    }

    fn read(&mut self, sample: &Sample, path: &Path) -> Option<Outcome> {
        let key = content_key(&sample.bytes);
        let (found, ms) = match self.cache.get(&key) {
            Some(known) => known.clone(),
            None => {
                let answer = self.ask(path).ok()?;
                if self.cache_file.is_some() {
                    self.fresh.push_str(
                        &serde_json::json!({"key": key, "texts": answer.0, "ms": answer.1})
                            .to_string(),
                    );
                    self.fresh.push('\n');
                }
                answer
            }
        };
        Some(judge(&sample.expected, &found, ms))
    }

    fn finish(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
        if let Some(c) = &self.cache_file {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(c)
            {
                let _ = f.write_all(self.fresh.as_bytes());
            }
        }
    }
}

/// Every decoder on every image, image by image (each image goes to all
/// decoders in turn, so that the load of a shared machine falls on all alike).
fn decode_all(
    all: &[&Sample],
    paths: &[PathBuf],
    shards: &[keyceremony::shard::ShardFile],
    dir: &Path,
    peer_cache: bool,
) -> Vec<Decoder> {
    let mut peers = Vec::new();
    for (name, reader) in PEERS {
        let cache = peer_cache.then(|| dir.join(format!("peer-cache-{reader}.jsonl")));
        match Peer::start(name, reader, cache) {
            Ok(p) => peers.push(p),
            Err(why) => eprintln!("{name} skipped: {why}"),
        }
    }
    let mut decoders = vec![
        Decoder {
            name: "keyceremony",
            outcomes: Vec::new(),
            peer: false,
        },
        Decoder {
            name: "rqrr alone",
            outcomes: Vec::new(),
            peer: false,
        },
    ];
    for p in &peers {
        decoders.push(Decoder {
            name: p.name,
            outcomes: Vec::new(),
            peer: true,
        });
    }
    let started = Instant::now();
    for (i, (s, p)) in all.iter().zip(paths).enumerate() {
        decoders[0].outcomes.push(Some(ours(s, p, shards)));
        decoders[1].outcomes.push(rqrr_only(s, p));
        for (j, peer) in peers.iter_mut().enumerate() {
            decoders[2 + j].outcomes.push(peer.read(s, p));
        }
        if (i + 1) % 100 == 0 {
            eprintln!(
                "{} of {} images, {:.0} s",
                i + 1,
                all.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    for p in peers {
        p.finish();
    }
    decoders
}

fn ours(s: &Sample, p: &Path, shards: &[keyceremony::shard::ShardFile]) -> Outcome {
    let start = Instant::now();
    let (found, decode_ms) = match qr::decode::load_gray(p) {
        Ok(img) => {
            let t = Instant::now();
            let found = qr::decode::decode_gray(&img);
            (found, t.elapsed().as_secs_f64() * 1000.0)
        }
        Err(_) => (Vec::new(), 0.0),
    };
    let file_ms = start.elapsed().as_secs_f64() * 1000.0;
    let mut o = judge(&s.expected, &found, decode_ms);
    o.file_ms = Some(file_ms);
    // a misread at the share level: any code that decodes to a share
    // that is not one of the shards the corpus was made from
    for f in &found {
        if let Ok(share) = payload::decode(f) {
            if !shards.iter().any(|x| qr::same_share(x, &share)) {
                o.misread = true;
            }
        }
    }
    o
}

fn rqrr_only(s: &Sample, p: &Path) -> Option<Outcome> {
    let img = qr::decode::load_gray(p).ok()?;
    let start = Instant::now();
    let found = rqrr_read(&img);
    Some(judge(
        &s.expected,
        &found,
        start.elapsed().as_secs_f64() * 1000.0,
    ))
}

/// rqrr alone on the image as it is: the design card's first choice.
fn rqrr_read(image: &image::GrayImage) -> Vec<String> {
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        image.width() as usize,
        image.height() as usize,
        |x, y| image.get_pixel(x as u32, y as u32).0[0],
    );
    let mut texts = Vec::new();
    for grid in prepared.detect_grids() {
        if let Ok((_, text)) = grid.decode() {
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
    }
    texts
}

fn content_key(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..12])
}

fn rate(outs: &[Outcome]) -> String {
    if outs.is_empty() {
        return "-".into();
    }
    let read = outs.iter().filter(|o| o.read).count();
    format!("{:.0}%", 100.0 * read as f64 / outs.len() as f64)
}

fn reads(outs: &[Outcome]) -> usize {
    outs.iter().filter(|o| o.read).count()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn report(samples: &[Sample], paths: &[PathBuf], photos: usize, decoders: &[Decoder]) {
    let select = |d: &Decoder, f: &dyn Fn(&Sample) -> bool| -> Vec<Outcome> {
        samples
            .iter()
            .zip(&d.outcomes)
            .filter(|(s, _)| f(s))
            .filter_map(|(_, o)| o.clone())
            .collect()
    };
    let kinds: Vec<_> = KINDS
        .iter()
        .copied()
        .filter(|k| samples.iter().any(|s| s.kind == *k))
        .collect();
    let mut behind = Vec::new();
    for tier in TIERS {
        println!("\n**{}**\n", tier.name());
        let mut head = String::from("| degradation |");
        let mut rule = String::from("|---|");
        for d in decoders {
            head.push_str(&format!(" {} |", d.name));
            rule.push_str("---:|");
        }
        println!("{head}\n{rule}");
        let mut row = |label: &str, f: &dyn Fn(&Sample) -> bool| {
            let mut line = format!("| {label} |");
            let ours = reads(&select(&decoders[0], f));
            for d in decoders {
                let outs = select(d, f);
                line.push_str(&format!(" {} |", rate(&outs)));
                if d.peer && reads(&outs) > ours {
                    behind.push(format!(
                        "{label}, {}: {} reads {}, keyceremony {ours}",
                        tier.name(),
                        d.name,
                        reads(&outs)
                    ));
                }
            }
            println!("{line}");
        };
        for &kind in &kinds {
            row(kind.name(), &|s: &Sample| s.kind == kind && s.tier == tier);
        }
        row("**all**", &|s: &Sample| s.tier == tier);
    }

    println!("\n| decoder | all tiers | misreads | median ms/image (decode) | median ms/image (file + decode) | median ms, 12-MP photo (decode) | 12-MP photos read |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut zbar_ms = f64::NAN;
    for d in decoders {
        let outs: Vec<Outcome> = d.outcomes[..samples.len()]
            .iter()
            .filter_map(|o| o.clone())
            .collect();
        let misreads = d.outcomes.iter().flatten().filter(|o| o.misread).count();
        let photo: Vec<Outcome> = d.outcomes[samples.len()..samples.len() + photos]
            .iter()
            .filter_map(|o| o.clone())
            .collect();
        let file_ms: Vec<f64> = outs.iter().filter_map(|o| o.file_ms).collect();
        let decode_ms = median(outs.iter().map(|o| o.ms).collect());
        if d.name == "zbar" {
            zbar_ms = decode_ms;
        }
        println!(
            "| {} | {} | {} | {:.1} | {} | {:.0} | {}/{} |",
            d.name,
            rate(&outs),
            misreads,
            decode_ms,
            if file_ms.is_empty() {
                "-".to_string()
            } else {
                format!("{:.1}", median(file_ms))
            },
            median(photo.iter().map(|o| o.ms).collect()),
            photo.iter().filter(|o| o.read).count(),
            photos
        );
    }
    println!("\n(decode = the decode call alone, the image already in memory; file + decode = reading the PNG or JPEG too.)");

    let ours_ms = median(
        decoders[0].outcomes[..samples.len()]
            .iter()
            .flatten()
            .map(|o| o.ms)
            .collect(),
    );
    let ours_misreads = decoders[0].outcomes.iter().flatten().any(|o| o.misread);
    println!();
    if behind.is_empty() {
        println!("keyceremony reads at least as many as every peer in every degradation and tier");
    } else {
        println!("keyceremony reads fewer than a peer in:");
        for b in &behind {
            println!("  {b}");
        }
    }
    println!(
        "keyceremony misreads: {}; median decode {ours_ms:.1} ms against zbar's {zbar_ms:.1} ms{}",
        if ours_misreads { "SOME" } else { "none" },
        if ours_ms <= zbar_ms {
            ""
        } else if zbar_ms.is_nan() {
            " (zbar not run)"
        } else {
            ": SLOWER"
        }
    );
    // the images a peer reads and keyceremony does not, to look at
    let mut missed = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let ours_read = decoders[0].outcomes[i].as_ref().is_some_and(|o| o.read);
        if ours_read {
            continue;
        }
        let by: Vec<&str> = decoders
            .iter()
            .filter(|d| d.peer && d.outcomes[i].as_ref().is_some_and(|o| o.read))
            .map(|d| d.name)
            .collect();
        if !by.is_empty() {
            missed.push(format!("  {} (read by {})", path.display(), by.join(", ")));
        }
    }
    if !missed.is_empty() {
        eprintln!("read by a peer, missed by keyceremony:");
        for m in missed {
            eprintln!("{m}");
        }
    }
}
