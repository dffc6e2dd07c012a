//! Escaping for the OpenMetrics text format: prometheus-client writes label values and help
//! texts as they are, so a `"`, `\` or line break in one would break the whole exposition.

use std::borrow::Cow;

/// `s` with `\`, `"` and line breaks escaped (`\\`, `\"`, `\n`), as label values and help
/// texts must be.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_what_the_format_requires() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
