//! QR decoder benchmark (not a timed test): decode rate per degradation and
//! tier, misreads, and median time per image, for keyceremony's decoder and,
//! when installed, zbar (`zbarimg`) and ZXing-C++ (Python `zxing-cpp`), all
//! on the same generated corpus in one run. Run `scripts/qr-bench.sh`
//! (installs the peers), or `cargo bench --bench qr_decode`.
//!
//! Environment: QR_BENCH_N = samples per degradation and tier (default 10),
//! QR_BENCH_DIR = where the corpus is written (default target/qr-bench).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use keyceremony::qr::{self, payload};
use support::degrade::{self, Sample, Tier, KINDS, TIERS};

#[derive(Default, Clone)]
struct Outcome {
    read: bool,
    misread: bool,
    ms: f64,
    /// Decoding alone, without reading the file (keyceremony only).
    decode_ms: Option<f64>,
}

struct Decoder {
    name: &'static str,
    outcomes: Vec<Option<Outcome>>,
}

fn main() {
    let n: usize = std::env::var("QR_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir =
        PathBuf::from(std::env::var("QR_BENCH_DIR").unwrap_or_else(|_| "target/qr-bench".into()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let mut texts = Vec::new();
    let mut shards = Vec::new();
    for (t, count) in [(2u16, 3u16), (3, 5), (5, 7)] {
        for s in support::shard_set(&format!("bench-{t}"), t, count) {
            texts.push(payload::encode(&s).to_string());
            shards.push(s);
        }
    }

    let started = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    for kind in KINDS {
        for tier in TIERS {
            for i in 0..n {
                samples.push(degrade::sample(kind, tier, i, &texts));
            }
        }
    }
    let photos: Vec<Sample> = (0..3).map(|i| degrade::photo_12mp(i, &texts[i])).collect();
    let mut paths = Vec::new();
    for s in samples.iter().chain(photos.iter()) {
        let p = dir.join(format!("{}.{}", s.name, s.ext));
        std::fs::write(&p, &s.bytes).unwrap();
        paths.push(p);
    }
    eprintln!(
        "corpus: {} images ({} per degradation and tier) + {} 12-MP photos in {}, generated in {:.1} s",
        samples.len(),
        n,
        photos.len(),
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    let all: Vec<&Sample> = samples.iter().chain(photos.iter()).collect();

    let mut decoders = vec![Decoder {
        name: "keyceremony",
        outcomes: ours(&all, &paths, &shards),
    }];
    decoders.push(Decoder {
        name: "rqrr alone",
        outcomes: rqrr_only(&all, &paths),
    });
    match zbar(&all, &paths) {
        Ok(o) => decoders.push(Decoder {
            name: "zbarimg",
            outcomes: o,
        }),
        Err(why) => eprintln!("zbarimg skipped: {why}"),
    }
    match zxing(&all, &paths) {
        Ok(o) => decoders.push(Decoder {
            name: "ZXing-C++",
            outcomes: o,
        }),
        Err(why) => eprintln!("ZXing-C++ skipped: {why}"),
    }
    report(&samples, photos.len(), &decoders);
}

fn judge(expected: &[String], found: &[String], ms: f64) -> Outcome {
    Outcome {
        read: expected.iter().all(|e| found.contains(e)),
        misread: found.iter().any(|f| !expected.contains(f)),
        ms,
        decode_ms: None,
    }
}

fn ours(
    all: &[&Sample],
    paths: &[PathBuf],
    shards: &[keyceremony::shard::ShardFile],
) -> Vec<Option<Outcome>> {
    all.iter()
        .zip(paths)
        .map(|(s, p)| {
            let start = Instant::now();
            let (found, decode_ms) = match qr::decode::load_gray(p) {
                Ok(img) => {
                    let t = Instant::now();
                    let found = qr::decode::decode_gray(&img);
                    (found, t.elapsed().as_secs_f64() * 1000.0)
                }
                Err(_) => (Vec::new(), 0.0),
            };
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            let mut o = judge(&s.expected, &found, ms);
            o.decode_ms = Some(decode_ms);
            // a misread at the share level: any code that decodes to a share
            // that is not one of the shards the corpus was made from
            for f in &found {
                if let Ok(share) = payload::decode(f) {
                    if !shards.iter().any(|x| qr::same_share(x, &share)) {
                        o.misread = true;
                    }
                }
            }
            Some(o)
        })
        .collect()
}

fn rqrr_only(all: &[&Sample], paths: &[PathBuf]) -> Vec<Option<Outcome>> {
    all.iter()
        .zip(paths)
        .map(|(s, p)| {
            let start = Instant::now();
            let found = qr::decode::load_gray(p)
                .map(|img| qr::decode::decode_gray_rqrr_only(&img))
                .unwrap_or_default();
            Some(judge(
                &s.expected,
                &found,
                start.elapsed().as_secs_f64() * 1000.0,
            ))
        })
        .collect()
}

fn zbar(all: &[&Sample], paths: &[PathBuf]) -> Result<Vec<Option<Outcome>>, String> {
    Command::new("zbarimg")
        .arg("--version")
        .output()
        .map_err(|e| format!("not installed ({e}); scripts/qr-bench.sh installs zbar-tools"))?;
    Ok(all
        .iter()
        .zip(paths)
        .map(|(s, p)| {
            let start = Instant::now();
            let out = Command::new("zbarimg")
                .args(["-q", "--raw", "-Sdisable", "-Sqrcode.enable"])
                .arg(p)
                .output()
                .ok()?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            let text = String::from_utf8_lossy(&out.stdout);
            let found: Vec<String> = text.lines().map(str::to_string).collect();
            Some(judge(&s.expected, &found, ms))
        })
        .collect())
}

fn zxing(all: &[&Sample], paths: &[PathBuf]) -> Result<Vec<Option<Outcome>>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/zxing_read.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    {
        let mut stdin = child.stdin.take().unwrap();
        for p in paths {
            writeln!(stdin, "{}", p.display()).unwrap();
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "python3 zxing-cpp reader failed (pip install zxing-cpp pillow): {}",
            err.lines().last().unwrap_or("")
        ));
    }
    let mut by_file: BTreeMap<String, (Vec<String>, f64)> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let texts = v["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        by_file.insert(
            v["file"].as_str().unwrap().to_string(),
            (texts, v["ms"].as_f64().unwrap()),
        );
    }
    Ok(all
        .iter()
        .zip(paths)
        .map(|(s, p)| {
            let (found, ms) = by_file.get(&p.display().to_string())?;
            Some(judge(&s.expected, found, *ms))
        })
        .collect())
}

fn rate(outs: &[&Outcome]) -> String {
    if outs.is_empty() {
        return "-".into();
    }
    let read = outs.iter().filter(|o| o.read).count();
    format!("{:.0}%", 100.0 * read as f64 / outs.len() as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn report(samples: &[Sample], photos: usize, decoders: &[Decoder]) {
    let select = |d: &Decoder, f: &dyn Fn(&Sample) -> bool| -> Vec<Outcome> {
        samples
            .iter()
            .zip(&d.outcomes)
            .filter(|(s, _)| f(s))
            .filter_map(|(_, o)| o.clone())
            .collect()
    };
    let names: Vec<&str> = decoders.iter().map(|d| d.name).collect();
    let mut head = String::from("| degradation |");
    let mut rule = String::from("|---|");
    for tier in TIERS {
        for name in &names {
            head.push_str(&format!(" {} {} |", tier.name(), name));
            rule.push_str("---:|");
        }
    }
    println!("\nDecode rate (share of images whose every code was read)\n");
    println!("{head}\n{rule}");
    let row = |label: &str, f: &dyn Fn(&Sample, Tier) -> bool| {
        let mut line = format!("| {label} |");
        for tier in TIERS {
            for d in decoders {
                let outs = select(d, &|s: &Sample| f(s, tier));
                let refs: Vec<&Outcome> = outs.iter().collect();
                line.push_str(&format!(" {} |", rate(&refs)));
            }
        }
        println!("{line}");
    };
    for kind in KINDS {
        row(kind.name(), &|s: &Sample, t: Tier| {
            s.kind == kind && s.tier == t
        });
    }
    row("**all**", &|s: &Sample, t: Tier| s.tier == t);

    println!("\n| decoder | all tiers | misreads | median ms/image (corpus) | median ms (12-MP photo) | of which decoding | 12-MP photos read |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for d in decoders {
        let outs: Vec<Outcome> = d.outcomes[..samples.len()]
            .iter()
            .filter_map(|o| o.clone())
            .collect();
        let refs: Vec<&Outcome> = outs.iter().collect();
        let misreads = d.outcomes.iter().flatten().filter(|o| o.misread).count();
        let photo: Vec<Outcome> = d.outcomes[samples.len()..samples.len() + photos]
            .iter()
            .filter_map(|o| o.clone())
            .collect();
        let decode_only: Vec<f64> = photo.iter().filter_map(|o| o.decode_ms).collect();
        println!(
            "| {} | {} | {} | {:.1} | {:.0} | {} | {}/{} |",
            d.name,
            rate(&refs),
            misreads,
            median(outs.iter().map(|o| o.ms).collect()),
            median(photo.iter().map(|o| o.ms).collect()),
            if decode_only.is_empty() {
                "-".to_string()
            } else {
                format!("{:.0}", median(decode_only))
            },
            photo.iter().filter(|o| o.read).count(),
            photos
        );
    }
    println!("\n(zbarimg times include starting the process; ZXing-C++ times are the decode call alone; keyceremony times include reading and decoding the file.)");
}
