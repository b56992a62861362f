//! Shell completions and manual pages, generated from the clap definitions in
//! [`crate::cli`] (clap_complete, clap_mangen), so they change with the
//! command line and never drift from `--help`. The Debian package ships what
//! the binary it holds generates (`packaging/build-deb.sh`).

use clap::{CommandFactory, ValueEnum};

use crate::cli::Cli;

/// The name the completions and pages are written for.
pub const BIN_NAME: &str = "keyceremony";

/// The shells a completion script can be written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    /// Where a system-wide install puts the script (Debian's layout).
    pub fn install_path(self) -> &'static str {
        match self {
            Shell::Bash => "usr/share/bash-completion/completions/keyceremony",
            Shell::Zsh => "usr/share/zsh/vendor-completions/_keyceremony",
            Shell::Fish => "usr/share/fish/vendor_completions.d/keyceremony.fish",
        }
    }

    fn generator(self) -> clap_complete::Shell {
        match self {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        }
    }
}

/// The completion script for `shell`, to be sourced by that shell.
pub fn completion_script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell.generator(), &mut cmd, BIN_NAME, &mut out);
    String::from_utf8(out).expect("clap_complete writes UTF-8")
}

/// One manual page: its file name (`keyceremony-bundle-open.1`) and roff text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManPage {
    pub file_name: String,
    pub roff: String,
}

/// `keyceremony.1`, then one page per subcommand at every level, depth first
/// in the order of `--help`.
pub fn man_pages() -> Vec<ManPage> {
    // The version only, not the commit: the pages of one release are the
    // same whoever builds them, and say nothing stale about a dev tree.
    let mut cmd = Cli::command()
        .version(crate::version::VERSION)
        .long_version(None::<&str>)
        .disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    collect_pages(cmd, &mut pages);
    pages
}

fn collect_pages(cmd: clap::Command, pages: &mut Vec<ManPage>) {
    let subcommands: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let man = clap_mangen::Man::new(cmd)
        .source(format!("{BIN_NAME} {}", crate::version::VERSION))
        .manual("keyceremony manual");
    let mut roff = Vec::new();
    man.render(&mut roff).expect("rendering into memory");
    pages.push(ManPage {
        file_name: man.get_filename(),
        roff: String::from_utf8(roff).expect("clap_mangen writes UTF-8"),
    });
    for sub in subcommands {
        collect_pages(sub, pages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_subcommand_named_after_its_path() {
        let names: Vec<String> = man_pages().into_iter().map(|p| p.file_name).collect();
        assert_eq!(names[0], "keyceremony.1");
        for expected in [
            "keyceremony-split.1",
            "keyceremony-verify.1",
            "keyceremony-assemble.1",
            "keyceremony-qr.1",
            "keyceremony-qr-decode.1",
            "keyceremony-bundle-open.1",
            "keyceremony-token-status.1",
            "keyceremony-version.1",
            "keyceremony-completions.1",
            "keyceremony-man.1",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }

    #[test]
    fn pages_describe_their_command_and_carry_no_date() {
        let pages = man_pages();
        let split = pages
            .iter()
            .find(|p| p.file_name == "keyceremony-split.1")
            .unwrap();
        assert!(split.roff.starts_with(".ie \\n(.g .ds Aq"), "roff preamble");
        assert!(split.roff.contains("\\-\\-threshold"), "{}", split.roff);
        let top = &pages[0].roff;
        assert!(!top.contains(crate::version::COMMIT), "{top}");
        // .TH title section date source manual: the date stays empty
        let th = split.roff.lines().find(|l| l.starts_with(".TH ")).unwrap();
        assert_eq!(
            th,
            format!(
                ".TH keyceremony-split 1  \"keyceremony {}\" \"keyceremony manual\"",
                crate::version::VERSION
            )
        );
    }

    #[test]
    fn every_shell_gets_a_script_that_names_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = completion_script(shell);
            for word in [
                "split",
                "verify",
                "assemble",
                "bundle",
                "token",
                "completions",
            ] {
                assert!(script.contains(word), "{shell:?} script lacks {word}");
            }
        }
        assert!(completion_script(Shell::Bash).contains("complete -F _keyceremony"));
        assert!(completion_script(Shell::Zsh).starts_with("#compdef keyceremony"));
    }
}
