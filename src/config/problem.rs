//! What can be wrong with a desired-state file, where, and how to fix it.
//!
//! Problems are collected, never thrown: loading reports every one of them in a single
//! run. They render in the `file:line:column: error[code]: message` shape that editors
//! and CI logs turn into links. No source snippet is printed, because the offending line
//! may hold a plaintext secret.

use std::fmt::{self, Write as _};

use serde::Serialize;

/// A position in the desired-state file, 1-based as editors count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One thing wrong with the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Stable, kebab-case identifier of the rule, for scripts and docs.
    pub code: &'static str,
    pub message: String,
    #[serde(flatten)]
    pub at: Position,
    /// A second place that explains the first one (where a duplicate id was first used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<Related>,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Related {
    pub message: String,
    #[serde(flatten)]
    pub at: Position,
}

impl Problem {
    pub fn new(code: &'static str, at: Position, message: impl Into<String>) -> Self {
        Problem {
            code,
            message: message.into(),
            at,
            related: None,
            help: None,
        }
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn related(mut self, at: Position, message: impl Into<String>) -> Self {
        self.related = Some(Related {
            message: message.into(),
            at,
        });
        self
    }
}

/// Every problem found in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl Report {
    /// The problems in file order, each with its location, then nothing else: the
    /// summary line belongs to whoever prints the report.
    pub fn render(&self) -> String {
        self.render_as("error")
    }

    /// [`Report::render`], the problems labelled `severity` (`warning`).
    pub fn render_as(&self, severity: &str) -> String {
        let mut out = String::new();
        for problem in &self.problems {
            let (file, at, code, message) = (&self.file, problem.at, problem.code, &problem.message);
            let _ = writeln!(out, "{file}:{at}: {severity}[{code}]: {message}");
            if let Some(related) = &problem.related {
                let _ = writeln!(out, "  {file}:{}: note: {}", related.at, related.message);
            }
            if let Some(help) = &problem.help {
                let _ = writeln!(out, "  help: {help}");
            }
        }
        out
    }

    /// One line per problem, its help folded in: for logs and `/healthz`.
    pub fn lines(&self) -> Vec<String> {
        self.problems
            .iter()
            .map(|p| {
                let help = p
                    .help
                    .as_deref()
                    .map(|h| format!(" (help: {h})"))
                    .unwrap_or_default();
                format!("{}:{}: error[{}]: {}{help}", self.file, p.at, p.code, p.message)
            })
            .collect()
    }

    pub fn summary(&self) -> String {
        match self.problems.len() {
            1 => format!("{} has 1 problem", self.file),
            n => format!("{} has {n} problems", self.file),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

impl std::error::Error for Report {}
