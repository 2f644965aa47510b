//! Putting new ciphertexts into the desired-state file in place of old ones, changing
//! nothing else: comments, order, quoting and layout stay as they were.
//!
//! Two forms are rewritten, the ones `hookwarden encrypt` prints and the age CLI's output
//! pastes into: an `age: |` block, whose lines are replaced with the new block at the same
//! indentation, and a double-quoted string on one line (`age: "-----BEGIN…\n…"`). The
//! result is read back and must hold the new ciphertexts where the old ones were, and
//! everything else unchanged, before anyone writes it.

use super::problem::{Position, Problem, Report};
use super::{Config, Sealed};

const BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
const END: &str = "-----END AGE ENCRYPTED FILE-----";

/// `text` (the file `config` was read from) with each `(secret, armored)` pair's
/// ciphertext replaced by `armored`.
pub fn replace_secrets(config: &Config, replacements: &[(&Sealed, String)]) -> Result<String, Report> {
    let report = |problems| Report {
        file: config.file.clone(),
        problems,
    };
    let mut lines: Vec<String> = config.text.split_inclusive('\n').map(str::to_owned).collect();
    // From the end back, so that a block of another length, or a quoted string on the
    // same line, leaves the ones before it where they were.
    let mut ordered: Vec<&(&Sealed, String)> = replacements.iter().collect();
    ordered.sort_by_key(|(sealed, _)| std::cmp::Reverse((sealed.at.line, sealed.at.column)));
    let mut problems = Vec::new();
    let mut written: Vec<(&Sealed, &str)> = Vec::new();
    for (sealed, armored) in ordered {
        // A secret shared through a YAML alias is written once, and rewritten once.
        if written.iter().any(|(done, _)| done.at == sealed.at) {
            continue;
        }
        match replace_one(&mut lines, sealed, armored) {
            Ok(Replaced::Written) => written.push((sealed, armored)),
            Ok(Replaced::Alias) => {}
            Err(problem) => problems.push(problem),
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| (p.at.line, p.at.column));
        return Err(report(problems));
    }
    let text = lines.concat();
    read_back(config, &text, &written).map_err(|problem| report(vec![problem]))?;
    Ok(text)
}

enum Replaced {
    Written,
    /// `age: *name`: the anchor's block is rewritten, and this follows it.
    Alias,
}

fn replace_one(lines: &mut Vec<String>, sealed: &Sealed, armored: &str) -> Result<Replaced, Problem> {
    let unsupported = || {
        Problem::new(
            "unsupported-secret-form",
            sealed.at,
            format!(
                "`{}.age` is written in a form hookwarden cannot rewrite in place",
                sealed.field
            ),
        )
        .help("write it as the `age: |` block that `hookwarden encrypt --yaml` prints, then run this again")
    };
    let key_line = sealed.at.line.checked_sub(1).ok_or_else(unsupported)?;
    let line = lines.get(key_line).ok_or_else(unsupported)?;
    let after_key = after_colon(line, sealed.at).ok_or_else(unsupported)?;
    let mut value = line[after_key..].trim_start();
    if value.starts_with('*') {
        return Ok(Replaced::Alias);
    }
    // An anchor on the value itself: `age: &name |`.
    if value.starts_with('&') {
        value = value
            .split_once(char::is_whitespace)
            .map_or("", |(_, rest)| rest.trim_start());
    }
    if value.starts_with('|') {
        return replace_block(lines, key_line, armored)
            .map(|()| Replaced::Written)
            .ok_or_else(unsupported);
    }
    if value.starts_with('"') {
        let start = line.len() - value.len();
        let end = closing_quote(value).ok_or_else(unsupported)? + start;
        let quoted = format!("\"{}\"", armored.replace('\n', "\\n"));
        lines[key_line].replace_range(start..=end, &quoted);
        return Ok(Replaced::Written);
    }
    Err(unsupported())
}

/// The byte offset just past the `:` that follows the `age` key at `at`.
fn after_colon(line: &str, at: Position) -> Option<usize> {
    let key_start = line
        .char_indices()
        .nth(at.column.checked_sub(1)?)
        .map(|(i, _)| i)?;
    let rest = &line[key_start..];
    let key_len = if rest.starts_with("age") {
        3
    } else if rest.starts_with("\"age\"") || rest.starts_with("'age'") {
        5
    } else {
        return None;
    };
    let colon = rest[key_len..].trim_start();
    colon.starts_with(':').then(|| line.len() - colon.len() + 1)
}

/// Replaces the block that follows the line `key_line`: its lines from BEGIN to END,
/// at BEGIN's indentation.
fn replace_block(lines: &mut Vec<String>, key_line: usize, armored: &str) -> Option<()> {
    let mut begin = key_line + 1;
    while lines.get(begin)?.trim().is_empty() {
        begin += 1;
    }
    if lines[begin].trim() != BEGIN {
        return None;
    }
    let end = (begin..lines.len()).find(|&i| lines[i].trim() == END)?;
    let indent: String = lines[begin].chars().take_while(|c| *c == ' ').collect();
    let newline = if lines[begin].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    // The END line keeps whatever ended it (the file may end without a newline).
    let last_ending = if lines[end].ends_with('\n') { newline } else { "" };
    let block_lines: Vec<&str> = armored.lines().collect();
    let count = block_lines.len();
    let new: Vec<String> = block_lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let ending = if i + 1 == count { last_ending } else { newline };
            format!("{indent}{l}{ending}")
        })
        .collect();
    lines.splice(begin..=end, new);
    Some(())
}

/// The byte offset of the quote that closes the double-quoted string `value` opens.
fn closing_quote(value: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in value.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// The rewritten file must read as `config` does but for the new ciphertexts: a secret
/// written anew holds its new block, one that shared its old block (an alias) too.
fn read_back(config: &Config, text: &str, written: &[(&Sealed, &str)]) -> Result<(), Problem> {
    let failed = || {
        Problem::new(
            "rewrite-failed",
            Position { line: 1, column: 1 },
            "the rewritten file would not read back as written, so it was left as it was",
        )
        .help("write each secret as the `age: |` block that `hookwarden encrypt --yaml` prints, then run this again")
    };
    let new = super::parse(&config.file, text).map_err(|_| failed())?;
    let expected = |sealed: &Sealed| {
        written
            .iter()
            .find(|(old, _)| old.at == sealed.at)
            .or_else(|| written.iter().find(|(old, _)| old.armored == sealed.armored))
            .map_or(sealed.armored.trim(), |(_, armored)| armored.trim())
            .to_owned()
    };
    let old: Vec<(String, String)> = config.sealed().map(|s| (s.field.clone(), expected(s))).collect();
    let now: Vec<(String, String)> = new
        .sealed()
        .map(|s| (s.field.clone(), s.armored.trim().to_owned()))
        .collect();
    let same_rest = new.recipients == config.recipients && new.webhooks.len() == config.webhooks.len();
    (old == now && same_rest).then_some(()).ok_or_else(failed)
}
