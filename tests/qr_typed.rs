//! The typed fallback: lines printed on the sheet, typed back.

mod support;

use keyceremony::qr::{self, typed};
use keyceremony::shard::ShardFile;

fn read(input: &str) -> (keyceremony::Result<ShardFile>, String) {
    let mut out = Vec::new();
    let r = qr::read_typed_share(input.as_bytes(), &mut out);
    (r, String::from_utf8(out).unwrap())
}

#[test]
fn printed_lines_read_back() {
    for (t, n) in [(2u16, 3u16), (3, 5), (5, 9)] {
        let s = support::shard_set(&format!("typed-{t}"), t, n).remove(1);
        let lines = typed::fallback_lines(&s);
        let (r, out) = read(&(lines.join("\n") + "\n"));
        let back = r.unwrap();
        assert!(qr::same_share(&back, &s));
        assert!(out.contains(&format!("line 2 of {}", lines.len())), "{out}");
        assert!(lines.iter().all(|l| l.len() <= 31));
    }
}

#[test]
fn vector_lines_read_back() {
    let text = std::fs::read_to_string("testdata/qr/shard-2-of-3.fallback.txt").unwrap();
    let json = std::fs::read("testdata/qr/shard-2-of-3.json").unwrap();
    let (r, _) = read(&text);
    assert!(qr::same_share(
        &r.unwrap(),
        &ShardFile::parse(&json).unwrap()
    ));
}

#[test]
fn case_spacing_and_lookalikes_do_not_matter() {
    let s = support::shard_set("typed-loose", 2, 3).remove(0);
    let lines = typed::fallback_lines(&s);
    // lower case, single spaces, O typed for 0 and l for 1 (not in the line number)
    let loose: Vec<String> = lines
        .iter()
        .map(|l| {
            let (num, rest) = l.split_once(' ').unwrap();
            let rest = rest.trim().replace("  ", " ").to_lowercase();
            format!("{num} {}", rest.replace('0', "o").replace('1', "l"))
        })
        .collect();
    assert_ne!(loose.join(""), lines.join(""));
    let (r, _) = read(&(String::from("# comment\n\n") + &loose.join("\n")));
    assert!(qr::same_share(&r.unwrap(), &s));
}

#[test]
fn a_mistyped_line_is_asked_again() {
    let s = support::shard_set("typed-typo", 2, 3).remove(2);
    let lines = typed::fallback_lines(&s);
    // change one data character of line 3
    let mut bad = lines[2].clone().into_bytes();
    let pos = 5;
    bad[pos] = if bad[pos] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    let mut input: Vec<String> = lines[..2].to_vec();
    input.push(bad);
    input.extend(lines[2..].iter().cloned());
    let (r, out) = read(&input.join("\n"));
    assert!(qr::same_share(&r.unwrap(), &s));
    assert!(
        out.contains("line 3: the check characters do not match"),
        "{out}"
    );
}

#[test]
fn out_of_order_and_garbage_lines_are_asked_again() {
    let s = support::shard_set("typed-order", 2, 3).remove(0);
    let lines = typed::fallback_lines(&s);
    let mut input = vec![lines[1].clone(), "hello there".to_string()];
    input.extend(lines.iter().cloned());
    let (r, out) = read(&input.join("\n"));
    assert!(r.is_ok());
    assert!(
        out.contains("that is line 2; line 1 is expected next"),
        "{out}"
    );
    assert!(out.contains("not shaped like a fallback line"), "{out}");
}

#[test]
fn input_ending_early_is_an_error() {
    let s = support::shard_set("typed-short", 2, 3).remove(0);
    let lines = typed::fallback_lines(&s);
    let (r, _) = read(&lines[..lines.len() - 1].join("\n"));
    let e = r.unwrap_err().to_string();
    assert!(e.contains("input ended before line"), "{e}");
    let (r, _) = read("");
    assert!(r.is_err());
}

#[test]
fn lines_from_two_shards_never_make_a_share() {
    // every line checks out on its own, but the whole fails the share check
    let a = support::shard_set("typed-mix", 2, 3);
    let la = typed::fallback_lines(&a[0]);
    let lb = typed::fallback_lines(&a[1]);
    let mut mixed: Vec<String> = la.to_vec();
    // line 2 holds share-value characters (later lines hold the commitments, the same in both)
    assert_ne!(la[1], lb[1]);
    mixed[1] = lb[1].clone();
    let (r, _) = read(&mixed.join("\n"));
    let e = r.unwrap_err().to_string();
    assert!(e.contains("typed share"), "{e}");
}
