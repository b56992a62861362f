//! The interactive PIN path: the PIN is read from the terminal without
//! echo (rpassword), and the last try is only spent after a "y". Runs the
//! binary under `script` to give it a terminal; skipped where `script`
//! (util-linux) is missing.

mod common;

use common::{have_script, on_terminal};

#[test]
fn pin_typed_on_the_terminal_and_last_try_confirmed() {
    if !have_script() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let state = tokens.join("token-20260001.json");
    std::fs::copy(
        common::testdata("sealed/tokens/token-20260001.json"),
        &state,
    )
    .unwrap();
    let sealed = common::testdata("sealed/shard-1.age");
    let sealed = sealed.display().to_string();
    let args = ["verify", sealed.as_str()];
    let env = [("KEYCEREMONY_TEST_TOKENS", tokens.as_path())];

    let (code, out) = on_terminal(&args, &env, &[("PIN for", "123456")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PIN for TEST TOKEN 20260001"), "{out}");
    assert!(!out.contains("123456"), "the PIN was echoed: {out}");

    // One try left: "n" leaves the try unspent, "y" spends it.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    v["pin_tries_left"] = 1.into();
    std::fs::write(&state, v.to_string()).unwrap();
    let (code, out) = on_terminal(&args, &env, &[("[y/N]", "n")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("only ONE PIN try left"), "{out}");
    let (code, out) = on_terminal(&args, &env, &[("[y/N]", "y"), ("PIN for", "123456")]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(v["pin_tries_left"], 3, "a right PIN restores the counter");
}
