//! Armored blocks lifted out of a large file before the YAML parser reads it.
//!
//! The YAML parser reads a block scalar a character at a time, and a file of many
//! webhooks is mostly ciphertext: most of its reading goes there. So the lines between
//! BEGIN and END of each armored block written as a literal block scalar (`age: |`) are
//! replaced by `x`, at the same indentation and on as many lines, so that every other
//! node keeps its line and column. The parser reads that lighter text, and each literal
//! scalar that reads as the next block's stand-in, where that block stands, is given the
//! block's text. Should any block not be found so (a block the parser reads otherwise
//! than this scan does, a problem in the file), the file is read again as it is:
//! lifting only saves time, it never decides anything.

use std::borrow::Cow;

use saphyr_parser::ScalarStyle;

use super::problem::Position;

/// The file size from which blocks are lifted (about 30 webhooks).
pub const FROM: usize = 32 * 1024;

pub const BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
pub const END: &str = "-----END AGE ENCRYPTED FILE-----";

/// A text with its armored blocks lifted out, and the blocks.
pub struct Lifted {
    /// The text with each block's lines replaced.
    pub text: String,
    blocks: Vec<Block>,
    /// How many blocks were given back so far.
    next: usize,
}

struct Block {
    /// The line and column (from 1) of its BEGIN.
    begin: usize,
    column: usize,
    /// How many lines it has between them.
    lines: usize,
    /// The block as the YAML parser reads the scalar: its lines without their
    /// indentation, each ending in a newline.
    text: String,
}

/// The text is left out: it is the user's, and may hold anything.
impl std::fmt::Debug for Lifted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifted")
            .field("text", &format_args!("({} bytes)", self.text.len()))
            .field("blocks", &self.blocks.len())
            .field("next", &self.next)
            .finish()
    }
}

impl Lifted {
    /// `text` with its blocks lifted out; `None` when it has none to lift, or has a
    /// line break this scan does not count as the parser does (a lone `\r`).
    pub fn of(text: &str) -> Option<Lifted> {
        if has_lone_cr(text) {
            return None;
        }
        let mut light = String::with_capacity(text.len() / 4);
        let mut blocks = Vec::new();
        scan(text, |piece| match piece {
            Piece::Line(line) => light.push_str(line),
            Piece::Block(found) => {
                light.push_str(found.begin);
                for _ in &found.inner {
                    light.push_str(found.indent);
                    light.push_str("x\n");
                }
                light.push_str(found.end);
                blocks.push(Block {
                    begin: found.line,
                    column: found.indent.len() + 1,
                    lines: found.inner.len(),
                    text: found.text(),
                });
            }
        });
        (!blocks.is_empty()).then_some(Lifted {
            text: light,
            blocks,
            next: 0,
        })
    }

    /// The text of a scalar of the lighter text, `value` written in `style` from `at`: the
    /// next block's, when this is that block's stand-in where that block stands.
    pub fn take(&mut self, value: Cow<'_, str>, style: ScalarStyle, at: Position) -> String {
        // The parser places a block scalar at its first line.
        if let Some(block) = self.blocks.get_mut(self.next)
            && style == ScalarStyle::Literal
            && at.line == block.begin
            && at.column == block.column
            && stands_in(&value, block.lines)
        {
            self.next += 1;
            return std::mem::take(&mut block.text);
        }
        value.into_owned()
    }

    /// Whether every block was given back.
    pub fn complete(&self) -> bool {
        self.next == self.blocks.len()
    }
}

/// A piece of a text, as [`scan`] reads it.
pub enum Piece<'t> {
    /// A line that is not part of a block, with its line break.
    Line(&'t str),
    Block(Found<'t>),
}

/// An armored block written as a literal block scalar would be: a BEGIN line indented
/// by some spaces, lines of printable ASCII at that indentation, an END line at it too.
pub struct Found<'t> {
    /// The line (from 1) of its BEGIN.
    pub line: usize,
    /// Its lines with their line breaks: BEGIN, those between (with the text of each
    /// after the indentation) and END.
    begin: &'t str,
    inner: Vec<(&'t str, &'t str)>,
    end: &'t str,
    indent: &'t str,
}

impl Found<'_> {
    /// The block as the YAML parser reads the scalar: its lines without their
    /// indentation, each ending in a newline.
    pub fn text(&self) -> String {
        let size = BEGIN.len() + END.len() + 2 + self.inner.iter().map(|(_, l)| l.len() + 1).sum::<usize>();
        let mut text = String::with_capacity(size);
        text.push_str(BEGIN);
        text.push('\n');
        for (_, line) in &self.inner {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(END);
        text.push('\n');
        text
    }
}

/// Reads `text` line by line, giving each block it finds whole and every other line as
/// it is.
pub fn scan<'t>(text: &'t str, mut each: impl FnMut(Piece<'t>)) {
    let mut lines = text.split_inclusive('\n').zip(1..).peekable();
    while let Some((line, number)) = lines.next() {
        let begin = body(line);
        let indent = begin.len() - begin.trim_start_matches(' ').len();
        if indent == 0 || &begin[indent..] != BEGIN {
            each(Piece::Line(line));
            continue;
        }
        let mut inner = Vec::new();
        let mut end = None;
        while let Some(&(next, _)) = lines.peek() {
            let next_body = body(next);
            if next_body.len() == indent + END.len()
                && next_body[..indent].bytes().all(|b| b == b' ')
                && &next_body[indent..] == END
            {
                end = Some(next);
                lines.next();
                break;
            }
            if !content(next_body, indent) {
                break;
            }
            inner.push((next, &next_body[indent..]));
            lines.next();
        }
        match end {
            Some(end) if !inner.is_empty() => each(Piece::Block(Found {
                line: number,
                begin: line,
                inner,
                end,
                indent: &begin[..indent],
            })),
            // Not a block: its lines as they are.
            _ => {
                each(Piece::Line(line));
                for (line, _) in inner {
                    each(Piece::Line(line));
                }
                if let Some(end) = end {
                    each(Piece::Line(end));
                }
            }
        }
    }
}

/// Whether `text` has a `\r` without a `\n` after it: a line break to the YAML parser,
/// which a scan by `\n` does not count.
pub fn has_lone_cr(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices('\r')
        .any(|(i, _)| bytes.get(i + 1) != Some(&b'\n'))
}

/// A line without its line break (`\n` or `\r\n`).
pub fn body(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

/// A line of a block: `indent` spaces, then printable ASCII without a space, as armor
/// is written.
fn content(body: &str, indent: usize) -> bool {
    let bytes = body.as_bytes();
    bytes.len() > indent
        && bytes[..indent].iter().all(|b| *b == b' ')
        && bytes[indent..].iter().all(u8::is_ascii_graphic)
}

/// Whether `value` is the stand-in of a block of `lines` lines.
fn stands_in(value: &str, lines: usize) -> bool {
    let Some(rest) = value.strip_prefix(BEGIN).and_then(|r| r.strip_prefix('\n')) else {
        return false;
    };
    let (xs, end) = rest.split_at_checked(2 * lines).unwrap_or_default();
    xs.len() == 2 * lines
        && xs.as_bytes().chunks(2).all(|pair| pair == b"x\n")
        && end.strip_suffix('\n') == Some(END)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(lines: &[&str], indent: &str) -> String {
        std::iter::once(BEGIN)
            .chain(lines.iter().copied())
            .chain(std::iter::once(END))
            .flat_map(|l| [indent, l, "\n"])
            .collect()
    }

    #[test]
    fn a_block_is_replaced_line_for_line() {
        let text = format!("a:\n  age: |\n{}b: 1\n", block(&["QUJD", "REVG"], "    "));
        let lifted = Lifted::of(&text).expect("a block");
        assert_eq!(
            lifted.text,
            format!("a:\n  age: |\n    {BEGIN}\n    x\n    x\n    {END}\nb: 1\n")
        );
        assert_eq!(lifted.text.lines().count(), text.lines().count());
        assert_eq!(lifted.blocks[0].text, format!("{BEGIN}\nQUJD\nREVG\n{END}\n"));
        assert_eq!(lifted.blocks[0].begin, 3);
    }

    #[test]
    fn lines_that_are_not_a_plain_block_are_kept() {
        for inner in [
            &["QUJD", "  REVG"][..],
            &["QU JD"],
            &["QUJD", ""],
            &["QU\rJD"],
            &[],
        ] {
            let text = format!("age: |\n{}", block(inner, "  "));
            assert!(Lifted::of(&text).is_none(), "{inner:?}");
        }
        let unended = format!("age: |\n  {BEGIN}\n  QUJD\n");
        assert!(Lifted::of(&unended).is_none());
        // A lone CR is a line break to the parser, not to the scan: nothing is lifted.
        let lone = format!("#\r\nage: |\n{}", block(&["QUJD"], "  ")).replace("#\r\n", "#\r");
        assert!(Lifted::of(&lone).is_none());
    }

    #[test]
    fn only_the_stand_in_where_the_block_stands_is_given_back() {
        let text = format!("age: |\n{}", block(&["QUJD"], "  "));
        let stand_in: Cow<'_, str> = Cow::Owned(format!("{BEGIN}\nx\n{END}\n"));
        let at = |line| Position { line, column: 3 };

        let mut lifted = Lifted::of(&text).expect("a block");
        assert_eq!(
            lifted.take(stand_in.clone(), ScalarStyle::Folded, at(2)),
            *stand_in
        );
        assert_eq!(
            lifted.take(stand_in.clone(), ScalarStyle::Literal, at(3)),
            *stand_in
        );
        assert_eq!(lifted.take("x".into(), ScalarStyle::Literal, at(2)), "x");
        assert!(!lifted.complete());
        assert_eq!(
            lifted.take(stand_in.clone(), ScalarStyle::Literal, at(2)),
            format!("{BEGIN}\nQUJD\n{END}\n")
        );
        assert!(lifted.complete());
        assert_eq!(
            lifted.take(stand_in.clone(), ScalarStyle::Literal, at(2)),
            *stand_in
        );
    }

    #[test]
    fn a_stand_in_has_its_block_s_number_of_lines() {
        assert!(stands_in(&format!("{BEGIN}\nx\nx\n{END}\n"), 2));
        assert!(!stands_in(&format!("{BEGIN}\nx\n{END}\n"), 2));
        assert!(!stands_in(&format!("{BEGIN}\nx\nx\n{END}"), 2));
        assert!(!stands_in(&format!("{BEGIN}\nx x\n{END}\n"), 2));
        assert!(!stands_in(&format!("{BEGIN} x {END}\n"), 1));
    }
}
