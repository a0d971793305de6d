//! A strict JSON walker that checks a document against a [`Shape`] before serde-json-core
//! decodes it.
//!
//! serde-json-core reports neither where an error is nor which field it concerns. This walker
//! reads the same bytes, follows the grammar of RFC 8259 exactly, and checks every value
//! against the expected shape, so the first problem comes out with its field path and byte
//! offset. On success it returns where every value it saw sits ([`Spots`]), which the
//! validation pass uses to place its own errors and to read number text serde does not hand out. It only descends into values the shape
//! expects, so nesting depth is bounded by the schema whatever the input.
//!
//! Errors say what a person most likely did: a trailing comma is placed at the comma, a string
//! cut by a line end is called a missing quote, `//` or `/*` gets a note that JSON has no
//! comments, a bare word where a value belongs is told strings need quotes, and an unknown key
//! names the known key of that object it is closest to (an edit distance of at most 2, or a
//! shortened or lengthened form of it).

use core::fmt::Write;
use core::ops::Range;

use super::{ConfigError, Problem};

/// What a JSON value must look like. `null` fits no shape: leave a field out for its default.
pub(super) enum Shape {
    /// A string of at most this many bytes once unescaped.
    Str(usize),
    /// An integer in `0..=u32::MAX`, written without fraction or exponent.
    UInt,
    /// Any number; its value is left to the converter, which reads the text from [`Spots`].
    Num,
    /// An object with exactly these fields (at most 32).
    Obj(&'static [Field]),
    /// An array of at most `max` items; `what` names the items in the "too many" message.
    Arr {
        item: &'static Shape,
        max: usize,
        what: &'static str,
    },
}

pub(super) struct Field {
    pub name: &'static str,
    pub shape: Shape,
    pub required: bool,
}

impl Shape {
    fn expected(&self) -> &'static str {
        match self {
            Shape::Str(_) => "a string",
            Shape::UInt => "an unsigned integer",
            Shape::Num => "a number",
            Shape::Obj(_) => "an object",
            Shape::Arr { .. } => "an array",
        }
    }
}

/// Byte range of each value the walker visited, by field path (`pools[1].weight`).
pub(super) struct Spots(Vec<(String, Range<usize>)>);

impl Spots {
    /// Byte offset where the value at `path` starts.
    pub fn get(&self, path: &str) -> Option<usize> {
        self.span(path).map(|span| span.start)
    }

    /// Byte range of the value at `path`, e.g. the exact text of a number.
    pub fn span(&self, path: &str) -> Option<Range<usize>> {
        self.0
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, span)| span.clone())
    }
}

/// The known field whose name is a small edit away from `key` (a typo), or that `key` is a
/// shortened or lengthened form of, e.g. `wieght` → `weight`, `job_timeout` →
/// `job_timeout_secs`.
fn closest_field(key: &str, fields: &[Field]) -> Option<&'static str> {
    let key = key.to_ascii_lowercase();
    let affix =
        |name: &str| key.len() >= 4 && (name.starts_with(key.as_str()) || key.starts_with(name));
    fields
        .iter()
        .map(|f| (edit_distance(&key, f.name), f.name))
        .filter(|&(d, name)| (d <= 2 && d < key.len()) || affix(name))
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name)
}

/// Edits (insert, delete, replace, swap two neighbours) turning `a` into `b`, byte-wise.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    // Three rows of the table: two rows back (for swaps), the last one, the current one.
    let mut back2: Vec<usize> = vec![0; b.len() + 1];
    let mut back1: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let replace = back1[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = replace.min(back1[j] + 1).min(row[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(back2[j - 2] + 1);
            }
            row[j] = best;
        }
        core::mem::swap(&mut back2, &mut back1);
        core::mem::swap(&mut back1, &mut row);
    }
    back1[b.len()]
}

fn bad(msg: &str) -> Problem {
    Problem::Syntax(msg.into())
}

/// 1-based line and column (counted in characters) of byte offset `at` in `text`.
pub(super) fn line_col(text: &[u8], at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let column = 1 + before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    (line, column)
}

/// Checks that `text` is one JSON value of shape `root`, with nothing but whitespace around it.
pub(super) fn check(text: &[u8], root: &Shape) -> Result<Spots, ConfigError> {
    let mut w = Walker {
        text,
        i: 0,
        path: String::new(),
        spots: Vec::new(),
    };
    w.ws();
    if w.peek().is_none() {
        return w.syntax("a JSON object");
    }
    w.value(root)?;
    w.ws();
    if w.peek().is_some() {
        return w.syntax("the end of the file after the top-level object");
    }
    Ok(Spots(w.spots))
}

struct Walker<'a> {
    text: &'a [u8],
    i: usize,
    path: String,
    spots: Vec<(String, Range<usize>)>,
}

impl Walker<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.i += usize::from(hit);
        hit
    }

    fn fail<T>(&self, at: usize, problem: Problem) -> Result<T, ConfigError> {
        Err(ConfigError::new(&self.path, problem, self.text, Some(at)))
    }

    /// A grammar error at the current position: `expected`, and what is there instead.
    fn syntax<T>(&self, expected: &str) -> Result<T, ConfigError> {
        let found = match self.peek() {
            None => "the end of the file".to_string(),
            Some(b) if b.is_ascii() => format!("{:?}", b as char),
            Some(_) => "a non-ASCII character".to_string(),
        };
        let next = self.text.get(self.i + 1).copied();
        let hint = match (self.peek(), next) {
            (Some(b'/'), Some(b'/' | b'*')) => {
                "; JSON has no comments: remove the `//` or `/* */` text"
            }
            (Some(b'a'..=b'z' | b'A'..=b'Z'), _) if expected == "a value" => {
                "; strings need double quotes (a missing '\"'?)"
            }
            _ => "",
        };
        self.fail(
            self.i,
            Problem::Syntax(format!("expected {expected}, found {found}{hint}")),
        )
    }

    fn value(&mut self, shape: &Shape) -> Result<(), ConfigError> {
        self.ws();
        let start = self.i;
        let spot = self.spots.len();
        self.spots.push((self.path.clone(), start..start));
        let found = match self.peek() {
            Some(b'{') => "an object",
            Some(b'[') => "an array",
            Some(b'"') => "a string",
            Some(b't' | b'f') => "a boolean",
            Some(b'n') => "null",
            Some(b'-' | b'0'..=b'9') => "a number",
            _ => return self.syntax("a value"),
        };
        match shape {
            Shape::Obj(fields) if found == "an object" => self.object(fields)?,
            Shape::Arr { item, max, what } if found == "an array" => {
                self.array(item, *max, what)?
            }
            Shape::Str(max) if found == "a string" => {
                let len = self.string()?.len();
                if len > *max {
                    return self.fail(start, Problem::TooLong { len, max: *max });
                }
            }
            Shape::UInt | Shape::Num if found == "a number" => self.number(shape)?,
            _ => {
                return self.fail(
                    start,
                    Problem::WrongType {
                        expected: shape.expected(),
                        found,
                    },
                )
            }
        }
        self.spots[spot].1.end = self.i;
        Ok(())
    }

    fn object(&mut self, fields: &[Field]) -> Result<(), ConfigError> {
        let open = self.i;
        self.i += 1;
        let mut seen = 0u32;
        self.ws();
        if !self.eat(b'}') {
            loop {
                self.ws();
                let key_at = self.i;
                if self.peek() != Some(b'"') {
                    return self.syntax("a field name in double quotes");
                }
                let key = self.string()?;
                let Some(n) = fields.iter().position(|f| f.name == key) else {
                    let did_you_mean = closest_field(&key, fields);
                    return self.fail(key_at, Problem::UnknownField { key, did_you_mean });
                };
                let base = self.path.len();
                self.push_key(&key);
                if seen & (1 << n) != 0 {
                    return self.fail(key_at, Problem::DuplicateField);
                }
                seen |= 1 << n;
                self.ws();
                if !self.eat(b':') {
                    return self.syntax("':' after the field name");
                }
                self.value(&fields[n].shape)?;
                self.path.truncate(base);
                if self.end_of_item(b'}', "',' or '}' after the field")? {
                    break;
                }
            }
        }
        for (n, field) in fields.iter().enumerate() {
            if field.required && seen & (1 << n) == 0 {
                self.push_key(field.name);
                return self.fail(open, Problem::Missing);
            }
        }
        Ok(())
    }

    fn array(&mut self, item: &Shape, max: usize, what: &'static str) -> Result<(), ConfigError> {
        self.i += 1;
        let (mut count, mut excess_at) = (0, None);
        self.ws();
        if !self.eat(b']') {
            loop {
                self.ws();
                if count == max {
                    excess_at = Some(self.i);
                }
                let base = self.path.len();
                let _ = write!(self.path, "[{count}]");
                self.value(item)?;
                self.path.truncate(base);
                count += 1;
                if self.end_of_item(b']', "',' or ']' after the array item")? {
                    break;
                }
            }
        }
        match excess_at {
            Some(at) => self.fail(at, Problem::TooMany { what, count, max }),
            None => Ok(()),
        }
    }

    /// After an object field or array item: `true` at the closing `close`, `false` after a comma.
    fn end_of_item(&mut self, close: u8, expected: &str) -> Result<bool, ConfigError> {
        self.ws();
        if self.eat(close) {
            return Ok(true);
        }
        let comma = self.i;
        if !self.eat(b',') {
            return self.syntax(expected);
        }
        self.ws();
        if self.peek() == Some(close) {
            let problem = bad("trailing comma: JSON allows no comma before a closing bracket");
            return self.fail(comma, problem);
        }
        Ok(false)
    }

    fn push_key(&mut self, key: &str) {
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(key);
    }

    /// Reads the string starting at the current `"` and returns it unescaped.
    fn string(&mut self) -> Result<String, ConfigError> {
        let start = self.i;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return self.fail(start, bad("unterminated string")),
                Some(b'"') => break,
                Some(b'\n' | b'\r') => {
                    let msg = "string not closed on its line (a missing '\"'?)";
                    return self.fail(start, bad(msg));
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(..0x20) => {
                    return self.fail(
                        self.i,
                        bad("control character in string (escape it, e.g. \\n)"),
                    );
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        self.i += 1;
        String::from_utf8(out).or_else(|_| self.fail(start, bad("string is not valid UTF-8")))
    }

    /// Decodes the escape sequence at the current `\` onto `out`. Like serde-json-core, takes
    /// `\uXXXX` as one character, so surrogate pairs are refused.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), ConfigError> {
        let at = self.i;
        let simple = |c| Some((c, 2));
        let decoded = match self.text.get(at + 1) {
            Some(b'u') => self.text.get(at + 2..at + 6).and_then(|hex| {
                let hex = core::str::from_utf8(hex)
                    .ok()
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
                Some((char::from_u32(u32::from_str_radix(hex, 16).ok()?)?, 6))
            }),
            Some(b'b') => simple('\u{8}'),
            Some(b'f') => simple('\u{c}'),
            Some(b'n') => simple('\n'),
            Some(b'r') => simple('\r'),
            Some(b't') => simple('\t'),
            Some(&c @ (b'"' | b'\\' | b'/')) => simple(c as char),
            _ => None,
        };
        let Some((c, len)) = decoded else {
            let msg = "invalid escape sequence (\\uXXXX surrogate pairs are not supported: write the character itself)";
            return self.fail(at, bad(msg));
        };
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        self.i += len;
        Ok(())
    }

    fn digits(&mut self, after: &str) -> Result<(), ConfigError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return self.syntax(after);
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        Ok(())
    }

    fn number(&mut self, shape: &Shape) -> Result<(), ConfigError> {
        let start = self.i;
        let negative = self.eat(b'-');
        if !self.eat(b'0') {
            self.digits("a digit")?;
        }
        let fraction = self.eat(b'.');
        if fraction {
            self.digits("a digit after '.'")?;
        }
        let exponent = self.eat(b'e') || self.eat(b'E');
        if exponent {
            let _ = self.eat(b'+') || self.eat(b'-');
            self.digits("a digit in the exponent")?;
        }
        let text = core::str::from_utf8(&self.text[start..self.i]).unwrap_or_default();
        let problem = match shape {
            Shape::UInt if negative => Problem::WrongType {
                expected: shape.expected(),
                found: "a negative number",
            },
            Shape::UInt if fraction || exponent => Problem::WrongType {
                expected: shape.expected(),
                found: "a number with a fraction or exponent",
            },
            Shape::UInt if text.parse::<u32>().is_err() => {
                Problem::Invalid(format!("too large (at most {})", u32::MAX))
            }
            _ => return Ok(()),
        };
        self.fail(start, problem)
    }
}
