//! HTML text built so that nothing from the data reaches the page unescaped.
//!
//! No template crate: the pages are few and small, and a dependency would mean
//! editing the workspace manifests that other work is changing. Instead the
//! only ways to put text into an [`Html`] are:
//! - [`Html::lit`], which takes `&'static str` only, so it can hold markup
//!   written in this source but never a value read from the ledger or the
//!   request;
//! - the `html!` macro, whose format string is a literal and
//!   whose every argument goes through [`Esc`];
//! - [`Html::push`], which appends another `Html` built the same way.

use std::fmt::{self, Display, Write as _};

/// A piece of HTML that is safe to send.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Html(String);

impl Html {
    pub fn new() -> Html {
        Html(String::new())
    }

    /// Appends markup written in the source.
    pub fn lit(&mut self, markup: &'static str) -> &mut Html {
        self.0.push_str(markup);
        self
    }

    /// Appends text, escaped.
    pub fn text(&mut self, text: &str) -> &mut Html {
        escape_into(&mut self.0, text);
        self
    }

    /// Appends another piece of HTML.
    pub fn push(&mut self, other: &Html) -> &mut Html {
        self.0.push_str(&other.0);
        self
    }

    /// Used by `html!`; escaping is done by the arguments' [`Esc`].
    #[doc(hidden)]
    pub fn write_fmt_escaped(&mut self, args: fmt::Arguments<'_>) {
        // Writing into a String cannot fail.
        let _ = self.0.write_fmt(args);
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'`: enough for text and for quoted
/// attribute values.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Escapes a string.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// Displays a value escaped.
#[derive(Debug)]
pub struct Esc<'a, T: Display + ?Sized>(pub &'a T);

impl<T: Display + ?Sized> Display for Esc<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Escaper<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl fmt::Write for Escaper<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let mut buf = String::with_capacity(s.len());
                escape_into(&mut buf, s);
                self.0.write_str(&buf)
            }
        }
        write!(Escaper(f), "{}", self.0)
    }
}

/// `html!(out, "<td title=\"{}\">{}</td>", a, b)`: appends the literal
/// markup with every argument escaped. Arguments are positional only, so each
/// one is seen (and escaped) by the macro.
macro_rules! html {
    ($out:expr, $fmt:literal $(, $arg:expr)* $(,)?) => {
        $out.write_fmt_escaped(format_args!($fmt $(, $crate::web::html::Esc(&$arg))*))
    };
}
pub(crate) use html;

/// Percent-encodes a query-string component (everything but the unreserved
/// characters of RFC 3986).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A URL from a path and query pairs, the values percent-encoded.
pub fn url(path: &str, pairs: &[(&str, String)]) -> String {
    let mut out = path.to_owned();
    for (i, (k, v)) in pairs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(&url_encode(k));
        out.push('=');
        out.push_str(&url_encode(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let evil = "<script>alert('x')</script>\" onmouseover=\"x&";
        let mut h = Html::new();
        h.lit("<p title=\"");
        h.text(evil);
        h.lit("\">");
        html!(h, "<b>{}</b><a href=\"{}\">{}</a>", evil, evil, 42);
        let s = h.into_string();
        assert!(!s.contains("<script>"), "{s}");
        assert!(!s.contains("\" onmouseover"), "{s}");
        assert!(s.contains(
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot; onmouseover=&quot;x&amp;"
        ));
        assert!(s.contains("<b>&lt;script&gt;"));
        assert!(s.contains("\">42</a>"));
    }

    #[test]
    fn urls_encode_their_values() {
        assert_eq!(
            url(
                "/payments",
                &[("origin", "652822".into()), ("q", "a b&c=轮".into())]
            ),
            "/payments?origin=652822&q=a%20b%26c%3D%E8%BD%AE"
        );
        assert_eq!(url("/", &[]), "/");
    }
}
