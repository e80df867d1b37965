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
    /// Runs of characters that need no escape are written in one piece (a trace writes one
    /// string per span).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        let text = self.0;
        let mut plain = 0; // start of the run not written yet
        for (at, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..0x20 => "",
                _ => continue,
            };
            // Every byte escaped is ASCII, so `at` is on a character boundary.
            f.write_str(&text[plain..at])?;
            if escape.is_empty() {
                write!(f, "\\u{byte:04x}")?;
            } else {
                f.write_str(escape)?;
            }
            plain = at + 1;
        }
        f.write_str(&text[plain..])?;
        f.write_str("\"")
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

#[cfg(test)]
mod tests {
    use super::JsonStr;

    /// Escapes between, before and after runs of plain text, multi-byte characters kept whole.
    #[test]
    fn strings_are_escaped_around_plain_runs() {
        let cases = [
            ("", r#""""#),
            ("plain", r#""plain""#),
            ("\"", r#""\"""#),
            ("é\u{1f}x\\", r#""é\u001fx\\""#),
            ("a\tb\r\nc→\"", r#""a\tb\r\nc→\"""#),
        ];
        for (text, json) in cases {
            assert_eq!(JsonStr(text).to_string(), json, "{text:?}");
        }
    }
}
