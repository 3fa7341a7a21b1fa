//! Text as the HTML standard's tokenizer reads it: character references decoded, line
//! breaks normalised, NUL characters dropped or replaced.
//!
//! The references are the standard's table (`web_atoms`, html5ever's own copy of it),
//! matched the way the standard matches them: the longest name that is in the table,
//! with or without its `;`, and in an attribute value a name without its `;` followed by
//! `=` or a letter or digit left alone (`?a=1&copy=2` is a query, not `©=2`).

use std::borrow::Cow;

use web_atoms::{C1_REPLACEMENTS, NAMED_ENTITIES};

/// Where the text is, which decides how it is read.
#[derive(Clone, Copy, PartialEq)]
pub enum Context {
    /// Between tags: references decoded, NUL dropped.
    Data,
    /// An attribute value: references decoded by the attribute rule, NUL replaced.
    Attribute,
    /// `textarea` and `title`: references decoded, NUL replaced.
    EscapableRawText,
    /// `xmp`, `script`, `plaintext` and the like: nothing decoded, NUL replaced.
    RawText,
}

/// `text` read in `context`. Borrowed when nothing in it changes, the common case.
pub fn decode(text: &str, context: Context) -> Cow<'_, str> {
    let b = text.as_bytes();
    let special = |c: &u8| match c {
        b'&' => context != Context::RawText,
        b'\r' | b'\0' => true,
        _ => false,
    };
    let Some(first) = b.iter().position(special) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    let mut i = first;
    while i < b.len() {
        match b[i] {
            b'&' if context != Context::RawText => {
                if let Some((len, chars)) = reference(&b[i..], context == Context::Attribute) {
                    out.push_str(&text[done..i]);
                    out.extend(chars);
                    i += len;
                    done = i;
                    continue;
                }
            }
            b'\r' => {
                // CR LF and a lone CR are both one LF, before anything else is read.
                out.push_str(&text[done..i]);
                out.push('\n');
                i += if b.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                done = i;
                continue;
            }
            b'\0' => {
                out.push_str(&text[done..i]);
                if context != Context::Data {
                    out.push('\u{fffd}');
                }
                i += 1;
                done = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&text[done..]);
    Cow::Owned(out)
}

/// The reference at the start of `b` (which starts with `&`): its length and the one or
/// two characters it stands for, or `None` if the `&` is just an ampersand.
fn reference(b: &[u8], in_attribute: bool) -> Option<(usize, impl Iterator<Item = char>)> {
    let (len, first, second) = match b.get(1) {
        Some(b'#') => numeric(b)?,
        Some(c) if c.is_ascii_alphanumeric() => named(b, in_attribute)?,
        _ => return None,
    };
    Some((len, [Some(first), second].into_iter().flatten()))
}

/// `&#…;`, decimal or hex, with the standard's replacements for values that are no
/// character (and for the C1 controls that Windows code pages used for punctuation).
fn numeric(b: &[u8]) -> Option<(usize, char, Option<char>)> {
    let hex = matches!(b.get(2), Some(b'x' | b'X'));
    let start = if hex { 3 } else { 2 };
    let digits = b[start.min(b.len())..]
        .iter()
        .take_while(|c| {
            if hex {
                c.is_ascii_hexdigit()
            } else {
                c.is_ascii_digit()
            }
        })
        .count();
    if digits == 0 {
        return None; // `&#` and `&#x` stay as they are
    }
    let radix = if hex { 16 } else { 10 };
    // Past U+10FFFF every value reads the same, so stop counting there.
    let value = b[start..start + digits].iter().fold(0u32, |n, &c| {
        let digit = (c as char).to_digit(radix).unwrap_or(0);
        n.saturating_mul(radix).saturating_add(digit).min(0x11_0000)
    });
    let mut len = start + digits;
    if b.get(len) == Some(&b';') {
        len += 1;
    }
    let c = match value {
        0 | 0xD800..=0xDFFF | 0x11_0000.. => '\u{fffd}',
        0x80..=0x9F => C1_REPLACEMENTS[(value - 0x80) as usize].unwrap_or(char::from_u32(value)?),
        n => char::from_u32(n).unwrap_or('\u{fffd}'),
    };
    Some((len, c, None))
}

/// The longest name in the table at `b[1..]`.
fn named(b: &[u8], in_attribute: bool) -> Option<(usize, char, Option<char>)> {
    // The four comrak writes, and most pages use, without a walk through the table.
    for (name, c) in [
        (&b"&amp;"[..], '&'),
        (b"&lt;", '<'),
        (b"&gt;", '>'),
        (b"&quot;", '"'),
    ] {
        if b.starts_with(name) {
            return Some((name.len(), c, None));
        }
    }
    // The table holds every prefix of every name, so the walk stops at the first
    // character that no name continues with; the longest full name seen is the match.
    let mut matched = None;
    let mut end = 1;
    while end < b.len() && b[end].is_ascii() {
        let Ok(name) = std::str::from_utf8(&b[1..=end]) else {
            break;
        };
        match NAMED_ENTITIES.get(name) {
            Some(&(0, _)) => {}
            Some(&codepoints) => matched = Some((end + 1, codepoints)),
            None => break,
        }
        end += 1;
    }
    let (len, (first, second)) = matched?;
    if in_attribute
        && b[len - 1] != b';'
        && b.get(len)
            .is_some_and(|&c| c == b'=' || c.is_ascii_alphanumeric())
    {
        return None;
    }
    let first = char::from_u32(first)?;
    let second = if second == 0 {
        None
    } else {
        char::from_u32(second)
    };
    Some((len, first, second))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(s: &str) -> String {
        decode(s, Context::Data).into_owned()
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(decode("a b c", Context::Data), Cow::Borrowed(_)));
        assert!(matches!(
            decode("a & b", Context::RawText),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn named_references_take_the_longest_name() {
        assert_eq!(data("&amp;&lt;&gt;&quot;&copy;&copy"), "&<>\"©©");
        assert_eq!(data("&notit; &notin; &not"), "¬it; ∉ ¬");
        assert_eq!(data("&nosuch; & &; &amp"), "&nosuch; & &; &");
        assert_eq!(data("&NotNestedLessLess;"), "\u{2aa1}\u{338}");
    }

    #[test]
    fn numeric_references_follow_the_standard() {
        assert_eq!(data("&#65;&#x42;&#X43&#x;&#;"), "ABC&#x;&#;");
        assert_eq!(
            data("&#0;&#xD800;&#1114112;&#99999999999999;"),
            "\u{fffd}".repeat(4)
        );
        assert_eq!(data("&#x80;&#x81;&#13;"), "\u{20ac}\u{81}\r");
    }

    #[test]
    fn attributes_keep_query_strings() {
        let attr = |s| decode(s, Context::Attribute).into_owned();
        assert_eq!(attr("?a=1&copy=2&not;x&amp=3"), "?a=1&copy=2¬x&amp=3");
        assert_eq!(attr("&copy x"), "© x");
        assert_eq!(data("?a=1&copy=2"), "?a=1©=2");
    }

    #[test]
    fn line_breaks_and_nul() {
        assert_eq!(data("a\r\nb\rc\0d"), "a\nb\ncd");
        assert_eq!(decode("a\0&amp;", Context::RawText), "a\u{fffd}&amp;");
        assert_eq!(decode("a\0&amp;", Context::EscapableRawText), "a\u{fffd}&");
    }
}
