//! Every command's `--help`, walked from the clap definitions and read from
//! the binary: every option has a help text, every page ends with real
//! examples (each one a command line that parses), and the pages say what
//! people look for (issue 13, point 2).

mod common;

use clap::{CommandFactory, Parser};
use keyceremony::cli::Cli;

use common::run;

/// Every command path below the top (`["token", "status"]`), the top too.
fn command_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    out.push(prefix.to_vec());
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_string());
        command_paths(sub, &path, out);
    }
}

fn find<'a>(cmd: &'a clap::Command, path: &[String]) -> &'a clap::Command {
    path.iter().fold(cmd, |c, name| {
        c.find_subcommand(name).expect("a subcommand of the tree")
    })
}

/// The words of an example line, up to a pipe, redirection or `&&`.
fn example_words(line: &str) -> Vec<String> {
    line.split_whitespace()
        .take_while(|w| !matches!(*w, "|" | ">" | ">>" | "<" | "&&"))
        .map(|w| w.trim_matches('"').to_string())
        .collect()
}

fn help_of(path: &[String]) -> String {
    let mut args = path.to_vec();
    args.push("--help".into());
    let r = run(&args);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    r.stdout
}

#[test]
fn every_help_page_documents_every_option_and_ends_with_examples_that_parse() {
    let mut tree = Cli::command();
    tree.build();
    let mut paths = Vec::new();
    command_paths(&tree, &[], &mut paths);
    assert!(paths.len() > 20, "{paths:?}");
    for path in &paths {
        let cmd = find(&tree, path);
        for arg in cmd.get_arguments() {
            if arg.is_hide_set() || arg.get_id() == "help" || arg.get_id() == "version" {
                continue;
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(
                !help.trim().is_empty(),
                "keyceremony {}: {} has no help text",
                path.join(" "),
                arg.get_id()
            );
        }
        let page = help_of(path);
        let (_, examples) = page.split_once("\nExamples:\n").unwrap_or_else(|| {
            panic!(
                "keyceremony {} --help has no Examples:\n{page}",
                path.join(" ")
            )
        });
        let lines: Vec<&str> = examples
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .collect();
        assert!(
            (2..=3).contains(&lines.len()),
            "keyceremony {}: {} examples:\n{examples}",
            path.join(" "),
            lines.len()
        );
        let ours: Vec<&&str> = lines
            .iter()
            .filter(|l| l.trim_start().starts_with("keyceremony "))
            .collect();
        assert!(
            ours.len() >= 2,
            "keyceremony {}: {examples}",
            path.join(" ")
        );
        for line in ours {
            let words = example_words(line);
            // an example for this page is of this command (or shows its use elsewhere)
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!(
                    "keyceremony {}: example {line:?} does not parse: {e}",
                    path.join(" ")
                );
            }
        }
    }
}

#[test]
fn help_pages_say_what_people_look_for() {
    let top = help_of(&[]);
    let token_line = top
        .lines()
        .find(|l| l.trim_start().starts_with("token "))
        .expect("token in the summary");
    assert!(token_line.contains("attest"), "{token_line}");

    for command in ["verify", "assemble"] {
        let page = help_of(&[command.to_string()]);
        assert!(page.contains("QR images"), "{command}: {page}");
        assert!(page.contains("sealed shares"), "{command}: {page}");
    }

    // --test-tokens only where tokens are used
    for path in [
        vec!["qr", "decode"],
        vec!["bundle", "create"],
        vec!["bundle", "inspect"],
        vec!["bundle", "verify"],
        vec!["bundle", "open"],
        vec!["ceremony", "check-plan"],
    ] {
        let path: Vec<String> = path.into_iter().map(String::from).collect();
        let page = help_of(&path);
        assert!(
            !page.contains("--test-tokens"),
            "{path:?} offers --test-tokens:\n{page}"
        );
    }
    for path in [
        vec!["split"],
        vec!["verify"],
        vec!["assemble"],
        vec!["token", "status"],
        vec!["preflight"],
        vec!["ceremony", "run"],
    ] {
        let path: Vec<String> = path.into_iter().map(String::from).collect();
        assert!(help_of(&path).contains("--test-tokens"), "{path:?}");
    }
}
