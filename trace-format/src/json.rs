//! The little JSON a writer needs without a JSON library: string literals and lists.

use std::fmt;

/// A string written as a JSON string literal, quotes and escapes included.
///
/// ```
/// use jobs_trace_format::JsonStr;
/// assert_eq!(JsonStr("a\"b\\c\nd\u{1}").to_string(), r#""a\"b\\c\nd\u0001""#);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct JsonStr<'a>(pub &'a str);

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// Items written one after the other, separated by commas (the inside of a JSON array).
///
/// ```
/// use jobs_trace_format::{JsonList, JsonStr};
/// assert_eq!(JsonList(|| ["a", "b"].into_iter().map(JsonStr)).to_string(), r#""a","b""#);
/// ```
pub struct JsonList<F>(pub F);

impl<F, I> fmt::Display for JsonList<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: fmt::Display,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in (self.0)().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}
