//! The results as markdown, printed as they come and written out at the end.

use std::fmt::Write as _;

#[derive(Default)]
pub struct Report {
    text: String,
}

impl Report {
    pub fn section(&mut self, title: &str) {
        self.push(&format!("\n### {title}\n\n"));
    }

    pub fn line(&mut self, line: &str) {
        self.push(&format!("{line}\n\n"));
    }

    pub fn table(&mut self, headers: &[&str]) {
        self.push(&format!(
            "| {} |\n|{}\n",
            headers.join(" | "),
            "---|".repeat(headers.len())
        ));
    }

    pub fn row(&mut self, cells: &[String]) {
        self.push(&format!("| {} |\n", cells.join(" | ")));
    }

    fn push(&mut self, text: &str) {
        eprint!("{text}");
        let _ = write!(self.text, "{text}");
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}
