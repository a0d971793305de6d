//! A minimal, allocation-free JSON reader for Stratum lines.
//!
//! [`Value`] borrows from the line. Strings are returned raw (between the quotes, escapes not
//! decoded) and always delimited correctly; where a string's value matters (a pool's job id,
//! which a PHP pool writes as `"a\/b"`), [`unescape`] decodes it into a bounded string.
//! Nesting depth is capped so hostile input cannot recurse deeply.

use core::fmt;

/// Deepest array/object nesting accepted.
const MAX_DEPTH: u32 = 16;

/// A JSON value borrowing from the input. `Array` and `Object` hold their raw text, brackets
/// included, and are walked lazily.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// Number text as written (validated JSON number syntax).
    Number(&'a str),
    /// Raw string contents, escapes not decoded.
    Str(&'a str),
    Array(&'a str),
    Object(&'a str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Input ended inside a value.
    Truncated,
    /// Unexpected byte at this offset.
    Unexpected(usize),
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Something after the top-level value.
    Trailing(usize),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Truncated => write!(f, "truncated JSON"),
            JsonError::Unexpected(at) => write!(f, "unexpected character at byte {at}"),
            JsonError::TooDeep => write!(f, "JSON nested too deeply"),
            JsonError::Trailing(at) => write!(f, "trailing data at byte {at}"),
        }
    }
}

/// Parse one complete JSON document (surrounding whitespace allowed).
pub fn parse(text: &str) -> Result<Value<'_>, JsonError> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(JsonError::Trailing(p.pos));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\r' | b'\n') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Result<u8, JsonError> {
        self.s.get(self.pos).copied().ok_or(JsonError::Truncated)
    }

    fn lit(&mut self, word: &[u8], v: Value<'a>) -> Result<Value<'a>, JsonError> {
        if self.s.len() < self.pos + word.len() {
            return Err(JsonError::Truncated);
        }
        if &self.s[self.pos..self.pos + word.len()] != word {
            return Err(JsonError::Unexpected(self.pos));
        }
        self.pos += word.len();
        Ok(v)
    }

    fn value(&mut self, depth: u32) -> Result<Value<'a>, JsonError> {
        self.ws();
        match self.peek()? {
            b'n' => self.lit(b"null", Value::Null),
            b't' => self.lit(b"true", Value::Bool(true)),
            b'f' => self.lit(b"false", Value::Bool(false)),
            b'"' => self.string().map(Value::Str),
            b'[' | b'{' => self.container(depth),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(JsonError::Unexpected(self.pos)),
        }
    }

    /// Returns the raw contents between the quotes.
    fn string(&mut self) -> Result<&'a str, JsonError> {
        let start = self.pos + 1;
        let mut i = start;
        loop {
            match self.s.get(i) {
                None => return Err(JsonError::Truncated),
                Some(b'"') => break,
                Some(b'\\') => i += 2,
                Some(c) if *c < 0x20 => return Err(JsonError::Unexpected(i)),
                Some(_) => i += 1,
            }
        }
        self.pos = i + 1;
        // `start` and `i` sit next to ASCII quotes, so they are char boundaries.
        Ok(&self.text[start..i])
    }

    fn number(&mut self) -> Result<Value<'a>, JsonError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.pos < p.s.len() && p.s[p.pos].is_ascii_digit() {
                p.pos += 1;
            }
            p.pos > from
        };
        if self.s[self.pos] == b'-' {
            self.pos += 1;
        }
        if !digits(self) {
            return Err(self.bad_or_truncated());
        }
        if self.s.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if !digits(self) {
                return Err(self.bad_or_truncated());
            }
        }
        if matches!(self.s.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.s.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(self.bad_or_truncated());
            }
        }
        Ok(Value::Number(&self.text[start..self.pos]))
    }

    fn bad_or_truncated(&self) -> JsonError {
        if self.pos >= self.s.len() {
            JsonError::Truncated
        } else {
            JsonError::Unexpected(self.pos)
        }
    }

    fn container(&mut self, depth: u32) -> Result<Value<'a>, JsonError> {
        if depth >= MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        let start = self.pos;
        let open = self.s[self.pos];
        let close = if open == b'[' { b']' } else { b'}' };
        self.pos += 1;
        self.ws();
        if self.peek()? == close {
            self.pos += 1;
        } else {
            loop {
                if open == b'{' {
                    self.ws();
                    if self.peek()? != b'"' {
                        return Err(JsonError::Unexpected(self.pos));
                    }
                    self.string()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return Err(JsonError::Unexpected(self.pos));
                    }
                    self.pos += 1;
                }
                self.value(depth + 1)?;
                self.ws();
                match self.peek()? {
                    b',' => self.pos += 1,
                    c if c == close => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(JsonError::Unexpected(self.pos)),
                }
            }
        }
        let raw = &self.text[start..self.pos];
        Ok(if open == b'[' {
            Value::Array(raw)
        } else {
            Value::Object(raw)
        })
    }
}

impl<'a> Value<'a> {
    /// Elements of an array (empty for any other value). The text was validated when the
    /// value was parsed, so iteration cannot fail.
    pub fn items(&self) -> Items<'a> {
        match *self {
            Value::Array(raw) => Items::new(raw, false),
            _ => Items::new("", false),
        }
    }

    /// Member value of an object by key (raw key comparison).
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        match *self {
            Value::Object(raw) => {
                let mut it = Items::new(raw, true);
                while let Some((k, v)) = it.next_member() {
                    if k == key {
                        return Some(v);
                    }
                }
                None
            }
            _ => None,
        }
    }

    /// Members of an object as (raw key, value); empty for any other value.
    pub fn members(&self) -> impl Iterator<Item = (&'a str, Value<'a>)> {
        let mut it = match *self {
            Value::Object(raw) => Items::new(raw, true),
            _ => Items::new("", true),
        };
        std::iter::from_fn(move || it.next_member())
    }

    /// The `n`th array element.
    pub fn at(&self, n: usize) -> Option<Value<'a>> {
        self.items().nth(n)
    }

    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// A non-negative integer number (no fraction, no exponent).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// Iterator over array elements or object members of validated raw text.
pub struct Items<'a> {
    p: Parser<'a>,
    done: bool,
}

impl<'a> Items<'a> {
    fn new(raw: &'a str, _object: bool) -> Self {
        let done = raw.len() < 2;
        Items {
            p: Parser {
                s: raw.as_bytes(),
                text: raw,
                pos: 1,
            },
            done,
        }
    }

    fn advance_separator(&mut self) {
        self.p.ws();
        match self.p.s.get(self.p.pos) {
            Some(b',') => self.p.pos += 1,
            _ => self.done = true,
        }
    }

    fn next_member(&mut self) -> Option<(&'a str, Value<'a>)> {
        if self.done {
            return None;
        }
        self.p.ws();
        if self.p.peek().ok()? != b'"' {
            self.done = true;
            return None;
        }
        let key = self.p.string().ok()?;
        self.p.ws();
        self.p.pos += 1; // ':'
        let v = self.p.value(0).ok()?;
        self.advance_separator();
        Some((key, v))
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        if self.done {
            return None;
        }
        self.p.ws();
        if matches!(self.p.s.get(self.p.pos), Some(b']') | None) {
            self.done = true;
            return None;
        }
        let v = self.p.value(0).ok()?;
        self.advance_separator();
        Some(v)
    }
}

/// Why a raw JSON string could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnescapeError {
    /// A bad escape (unknown letter, bad `\u` digits, a lone surrogate).
    BadEscape,
    /// The decoded string does not fit the capacity.
    TooLong,
}

impl fmt::Display for UnescapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnescapeError::BadEscape => "bad escape in a string",
            UnescapeError::TooLong => "string too long",
        })
    }
}

/// Decode the raw contents of a JSON string (as [`Value::Str`] holds them) into what it
/// means: `\/` is `/`, `\u00e9` is `é`, surrogate pairs are joined.
pub fn unescape<const N: usize>(raw: &str) -> Result<heapless::String<N>, UnescapeError> {
    let mut out = heapless::String::new();
    let mut push = |c: char| out.push(c).map_err(|_| UnescapeError::TooLong);
    let mut it = raw.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            push(c)?;
            continue;
        }
        let decoded = match it.next().ok_or(UnescapeError::BadEscape)? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let hi = hex4(&mut it)?;
                if (0xd800..0xdc00).contains(&hi) {
                    if (it.next(), it.next()) != (Some('\\'), Some('u')) {
                        return Err(UnescapeError::BadEscape);
                    }
                    let lo = hex4(&mut it)?;
                    if !(0xdc00..0xe000).contains(&lo) {
                        return Err(UnescapeError::BadEscape);
                    }
                    let c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                    char::from_u32(c).ok_or(UnescapeError::BadEscape)?
                } else {
                    char::from_u32(hi).ok_or(UnescapeError::BadEscape)?
                }
            }
            _ => return Err(UnescapeError::BadEscape),
        };
        push(decoded)?;
    }
    Ok(out)
}

fn hex4(it: &mut core::str::Chars<'_>) -> Result<u32, UnescapeError> {
    let mut v = 0;
    for _ in 0..4 {
        let d = it
            .next()
            .and_then(|c| c.to_digit(16))
            .ok_or(UnescapeError::BadEscape)?;
        v = v * 16 + d;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_notify_shape() {
        let v =
            parse(r#"{"id":null,"method":"mining.notify","params":["1","ab",[],true]}"#).unwrap();
        assert_eq!(v.get("id"), Some(Value::Null));
        assert_eq!(
            v.get("method").and_then(|m| m.as_str()),
            Some("mining.notify")
        );
        let p = v.get("params").unwrap();
        assert_eq!(p.items().count(), 4);
        assert_eq!(p.at(2), Some(Value::Array("[]")));
        assert_eq!(p.at(3).and_then(|b| b.as_bool()), Some(true));
    }

    #[test]
    fn test_unescape_decodes_what_the_string_means() {
        assert_eq!(unescape::<16>(r"a\/b").unwrap().as_str(), "a/b");
        assert_eq!(unescape::<16>(r"\u00e9x").unwrap().as_str(), "éx");
        assert_eq!(unescape::<16>(r#"q\"\\\n"#).unwrap().as_str(), "q\"\\\n");
        assert_eq!(unescape::<16>(r"\ud83d\ude00").unwrap().as_str(), "😀");
        assert_eq!(unescape::<16>(r"\ud83d"), Err(UnescapeError::BadEscape));
        assert_eq!(unescape::<16>(r"\x41"), Err(UnescapeError::BadEscape));
        assert_eq!(unescape::<16>(r"\u00g0"), Err(UnescapeError::BadEscape));
        assert_eq!(unescape::<2>("abc"), Err(UnescapeError::TooLong));
        assert_eq!(unescape::<4>("1a2b").unwrap().as_str(), "1a2b");
    }

    #[test]
    fn test_parse_numbers_and_escapes() {
        let v = parse(r#"[0.001, -2, 1e-5, 3E+2, "a\"b"]"#).unwrap();
        let items: Vec<_> = v.items().collect();
        assert_eq!(items[0], Value::Number("0.001"));
        assert_eq!(items[2], Value::Number("1e-5"));
        assert_eq!(items[4], Value::Str(r#"a\"b"#));
    }

    #[test]
    fn test_parse_rejects_garbage() {
        for bad in [
            "",
            "{",
            r#"{"a":}"#,
            "[1,]",
            "[1 2]",
            "tru",
            "01x",
            r#"{"a":1}x"#,
            "\"abc",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn test_parse_depth_is_capped() {
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(parse(&deep), Err(JsonError::TooDeep));
    }

    #[test]
    fn test_get_nested_object_members() {
        let v = parse(r#"{"a":{"x":[1,{"y":2}]},"b":"s"}"#).unwrap();
        assert_eq!(v.get("b").and_then(|s| s.as_str()), Some("s"));
        let a = v.get("a").unwrap();
        assert_eq!(
            a.get("x").unwrap().at(1).unwrap().get("y"),
            Some(Value::Number("2"))
        );
        assert_eq!(v.get("zz"), None);
    }
}
