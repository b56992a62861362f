//! The person at the keyboard: every question keyceremony asks (a PIN, a
//! PUK, a passphrase, a yes/no, a typed line) goes through [`Console`], so a
//! whole guided flow runs in a test with a [`ScriptedConsole`].
//!
//! A console only asks. What keyceremony *says* along the way (warnings,
//! "touch your YubiKey now", which token opened a share) is an
//! [`Event`](crate::events::Event), delivered to an
//! [`EventSink`](crate::events::EventSink).

use std::collections::VecDeque;
use std::io;

use zeroize::Zeroizing;

/// Asks the person for what an operation needs.
pub trait Console {
    /// Reads a secret (PIN, PUK, passphrase) without echo.
    fn read_secret(&mut self, prompt: &str) -> io::Result<Zeroizing<String>>;
    /// Asks a yes/no question; false when there is no one to ask.
    fn confirm(&mut self, question: &str) -> bool;
    /// Reads one typed line (echoed), of at most `max_len` bytes plus one, so
    /// that the caller can tell an overlong line. `None` at the end of input.
    fn read_line(&mut self, prompt: &str, max_len: usize) -> io::Result<Option<Zeroizing<String>>>;
}

/// The real terminal: prompts on standard error, secrets without echo
/// (rpassword), lines and answers from standard input.
pub struct TerminalConsole;

impl Console for TerminalConsole {
    fn read_secret(&mut self, prompt: &str) -> io::Result<Zeroizing<String>> {
        rpassword::prompt_password(crate::terminal::escape_lines(prompt)).map(Zeroizing::new)
    }

    fn confirm(&mut self, question: &str) -> bool {
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            return false;
        }
        eprint!("{} [y/N] ", crate::terminal::escape_lines(question));
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer).is_err() {
            return false;
        }
        matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
    }

    fn read_line(&mut self, prompt: &str, max_len: usize) -> io::Result<Option<Zeroizing<String>>> {
        use std::io::Write;
        eprint!("{}", crate::terminal::escape_lines(prompt));
        std::io::stderr().flush()?;
        read_bounded_line(&mut std::io::stdin().lock(), max_len)
    }
}

/// Reads one line of at most `max_len + 1` bytes from `input` into zeroizing
/// memory; `None` at the end of input.
pub fn read_bounded_line(
    input: &mut dyn io::BufRead,
    max_len: usize,
) -> io::Result<Option<Zeroizing<String>>> {
    use std::io::{BufRead, Read};
    let mut buf = Zeroizing::new(String::new());
    let n = input.take(max_len as u64 + 1).read_line(&mut buf)?;
    Ok((n > 0).then_some(buf))
}

/// What kind of question a prompt was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    Secret,
    Confirm,
    Line,
}

/// One question a [`ScriptedConsole`] was asked (the prompt text holds no
/// secret; the answer given is not kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asked {
    pub kind: PromptKind,
    pub prompt: String,
}

enum Reply {
    Secret(Zeroizing<String>),
    Confirm(bool),
    Line(Option<Zeroizing<String>>),
    Unavailable,
}

struct Expected {
    kind: PromptKind,
    /// Text the prompt must contain.
    contains: String,
    reply: Reply,
}

/// A console whose answers are queued in advance, for tests and rehearsals.
/// Each answer says what kind of prompt it is for and a piece of text the
/// prompt must contain; it records every prompt. A prompt that was not
/// expected, or that does not match the next answer, panics at once with
/// both texts, and so does dropping it with answers never asked for.
///
/// ```
/// use keyceremony::console::{Console, ScriptedConsole};
/// let mut console = ScriptedConsole::new()
///     .expect_secret("PIN for", "123456")
///     .expect_confirm("ONE PIN try left", false);
/// assert_eq!(&*console.read_secret("PIN for TEST TOKEN 1: ").unwrap(), "123456");
/// assert!(!console.confirm("TEST TOKEN 1 has only ONE PIN try left; ..."));
/// assert_eq!(console.asked().len(), 2);
/// console.finish();
/// ```
#[derive(Default)]
pub struct ScriptedConsole {
    queue: VecDeque<Expected>,
    asked: Vec<Asked>,
}

impl ScriptedConsole {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(mut self, kind: PromptKind, contains: &str, reply: Reply) -> Self {
        self.queue.push_back(Expected {
            kind,
            contains: contains.to_string(),
            reply,
        });
        self
    }

    /// Answers the next secret prompt (it must contain `contains`) with `answer`.
    pub fn expect_secret(self, contains: &str, answer: &str) -> Self {
        self.push(
            PromptKind::Secret,
            contains,
            Reply::Secret(Zeroizing::new(answer.to_string())),
        )
    }

    /// Answers the next secret prompt as a console with no terminal would:
    /// with an error.
    pub fn expect_no_terminal(self, contains: &str) -> Self {
        self.push(PromptKind::Secret, contains, Reply::Unavailable)
    }

    /// Answers the next yes/no question.
    pub fn expect_confirm(self, contains: &str, answer: bool) -> Self {
        self.push(PromptKind::Confirm, contains, Reply::Confirm(answer))
    }

    /// Answers the next line prompt with `answer` (a newline is added).
    pub fn expect_line(self, contains: &str, answer: &str) -> Self {
        self.push(
            PromptKind::Line,
            contains,
            Reply::Line(Some(Zeroizing::new(format!("{answer}\n")))),
        )
    }

    /// Answers the next line prompt with the end of input.
    pub fn expect_end_of_input(self, contains: &str) -> Self {
        self.push(PromptKind::Line, contains, Reply::Line(None))
    }

    /// Every prompt asked so far, in order.
    pub fn asked(&self) -> &[Asked] {
        &self.asked
    }

    /// Answers still queued.
    pub fn remaining(&self) -> usize {
        self.queue.len()
    }

    /// Panics unless every queued answer was asked for; returns the prompts.
    pub fn finish(mut self) -> Vec<Asked> {
        let left: Vec<String> = self
            .queue
            .drain(..)
            .map(|e| format!("{:?} containing {:?}", e.kind, e.contains))
            .collect();
        assert!(
            left.is_empty(),
            "ScriptedConsole: these answers were never asked for: {}",
            left.join("; ")
        );
        std::mem::take(&mut self.asked)
    }

    fn next(&mut self, kind: PromptKind, prompt: &str) -> Reply {
        self.asked.push(Asked {
            kind,
            prompt: prompt.to_string(),
        });
        let Some(expected) = self.queue.pop_front() else {
            panic!("ScriptedConsole: unexpected {kind:?} prompt {prompt:?}: no answer was queued");
        };
        if expected.kind != kind || !prompt.contains(&expected.contains) {
            panic!(
                "ScriptedConsole: unexpected {kind:?} prompt {prompt:?}: the next answer is for a {:?} prompt containing {:?}",
                expected.kind, expected.contains
            );
        }
        expected.reply
    }
}

impl Console for ScriptedConsole {
    fn read_secret(&mut self, prompt: &str) -> io::Result<Zeroizing<String>> {
        match self.next(PromptKind::Secret, prompt) {
            Reply::Secret(s) => Ok(s),
            _ => Err(io::Error::other("no terminal (scripted)")),
        }
    }

    fn confirm(&mut self, question: &str) -> bool {
        matches!(
            self.next(PromptKind::Confirm, question),
            Reply::Confirm(true)
        )
    }

    fn read_line(&mut self, prompt: &str, max_len: usize) -> io::Result<Option<Zeroizing<String>>> {
        match self.next(PromptKind::Line, prompt) {
            Reply::Line(Some(mut l)) => {
                if l.len() > max_len + 1 {
                    let mut cut = max_len + 1;
                    while !l.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    l.truncate(cut);
                }
                Ok(Some(l))
            }
            _ => Ok(None),
        }
    }
}

impl Drop for ScriptedConsole {
    fn drop(&mut self) {
        if !self.queue.is_empty() && !std::thread::panicking() {
            let left: Vec<String> = self
                .queue
                .iter()
                .map(|e| format!("{:?} containing {:?}", e.kind, e.contains))
                .collect();
            panic!(
                "ScriptedConsole dropped with answers never asked for: {}",
                left.join("; ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_order_and_records_prompts() {
        let mut c = ScriptedConsole::new()
            .expect_secret("PIN", "123456")
            .expect_line("line 1", "01 ABC")
            .expect_end_of_input("line 2")
            .expect_confirm("sure?", true);
        assert_eq!(&*c.read_secret("PIN for X: ").unwrap(), "123456");
        assert_eq!(&*c.read_line("line 1: ", 200).unwrap().unwrap(), "01 ABC\n");
        assert!(c.read_line("line 2: ", 200).unwrap().is_none());
        assert!(c.confirm("are you sure?"));
        let asked = c.finish();
        assert_eq!(asked.len(), 4);
        assert_eq!(asked[0].kind, PromptKind::Secret);
        assert_eq!(asked[3].prompt, "are you sure?");
    }

    #[test]
    #[should_panic(expected = "unexpected Confirm prompt")]
    fn an_unexpected_prompt_panics() {
        let mut c = ScriptedConsole::new().expect_secret("PIN", "123456");
        c.confirm("spend the last try?");
    }

    #[test]
    #[should_panic(expected = "no answer was queued")]
    fn a_prompt_with_nothing_queued_panics() {
        let mut c = ScriptedConsole::new();
        let _ = c.read_secret("PIN for X: ");
    }

    #[test]
    #[should_panic(expected = "never asked for")]
    fn unused_answers_panic() {
        let c = ScriptedConsole::new().expect_secret("PIN", "123456");
        drop(c);
    }

    #[test]
    fn an_overlong_line_is_cut_to_one_past_the_limit() {
        let mut c = ScriptedConsole::new().expect_line("x", &"A".repeat(50));
        assert_eq!(c.read_line("x", 10).unwrap().unwrap().len(), 11);
    }
}
