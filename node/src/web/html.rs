//! Escaping and links: how text from the ledger and the request reaches a page.
//!
//! Every page is a [`maud`] template. The markup written inside `html!` is
//! checked when the crate compiles, and every value spliced into it with
//! `(value)` is escaped (`&`, `<`, `>`, `"`), in text and in attribute values
//! alike; attribute values are always double-quoted. The one way around the
//! escaping, `PreEscaped`, is used for nothing but the style sheet, a constant
//! of this crate, and for `Markup` that a template already built.
//!
//! Links are built here, their query values percent-encoded; the template then
//! escapes the whole URL once more as an attribute value (`&` → `&amp;`).

use std::fmt::Write as _;

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
    use maud::html;

    #[test]
    fn hostile_text_is_escaped_in_text_and_attributes() {
        let evil = "<script>alert('x')</script>\" onmouseover=\"x&";
        let s = html! {
            p title=(evil) { b { (evil) } a href=(evil) { (42) } }
        }
        .into_string();
        assert!(!s.contains("<script>"), "{s}");
        assert!(!s.contains("\" onmouseover"), "{s}");
        assert!(s.contains(
            "title=\"&lt;script&gt;alert('x')&lt;/script&gt;&quot; onmouseover=&quot;x&amp;\""
        ));
        assert!(s.contains("<b>&lt;script&gt;"), "{s}");
        assert!(s.contains("\">42</a>"), "{s}");
    }

    #[test]
    fn urls_encode_their_values_and_are_escaped_as_attributes() {
        let u = url(
            "/payments",
            &[("origin", "652822".into()), ("q", "a b&c=轮".into())],
        );
        assert_eq!(u, "/payments?origin=652822&q=a%20b%26c%3D%E8%BD%AE");
        assert_eq!(url("/", &[]), "/");
        let s = html! { a href=(u) { "x" } }.into_string();
        assert_eq!(
            s,
            "<a href=\"/payments?origin=652822&amp;q=a%20b%26c%3D%E8%BD%AE\">x</a>"
        );
    }
}
