//! Forms: the one place for the CSRF field, labelled fields, the error shown
//! next to a field, and the submit button, so that every form the pages gain
//! looks and behaves alike.
//!
//! Two kinds of form: [`filter_form`] only asks (a plain GET, bookmarkable,
//! no token, since it changes nothing) and [`post_form`] changes something
//! and carries the CSRF token as a hidden field. The token is a parameter
//! here; the session it comes from is the identity work's.

use maud::{html, Markup};

use super::text::Lang;

/// The name of the hidden field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";

/// A form that changes something: POST, with the CSRF token as its first
/// field.
pub fn post_form(action: &str, csrf_token: &str, body: Markup) -> Markup {
    html! {
        form method="post" action=(action) {
            (hidden(CSRF_FIELD, csrf_token))
            (body)
        }
    }
}

/// A form that only narrows what a page shows: a GET, so it works without
/// JavaScript and its result can be bookmarked.
pub fn filter_form(action: &str, body: Markup) -> Markup {
    html! {
        form class="filters" method="get" action=(action) { (body) }
    }
}

/// A hidden field.
pub fn hidden(name: &str, value: &str) -> Markup {
    html! { input type="hidden" name=(name) value=(value); }
}

/// The submit button.
pub fn submit(label: &str) -> Markup {
    html! { button type="submit" { (label) } }
}

/// Why a field's value was refused, in both languages; the page shows the one
/// it is written in (Chinese unless the reader chose English).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub zh: String,
    pub en: String,
}

impl FieldError {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> FieldError {
        FieldError {
            zh: zh.into(),
            en: en.into(),
        }
    }

    pub fn text(&self, l: Lang) -> &str {
        match l {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }
}

/// The `type` of an `<input>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Text,
    Date,
    Number,
    /// Not echoed back: a refused password is typed again.
    Password,
}

impl InputKind {
    fn as_str(self) -> &'static str {
        match self {
            InputKind::Text => "text",
            InputKind::Date => "date",
            InputKind::Number => "number",
            InputKind::Password => "password",
        }
    }
}

/// What a field is edited with.
#[derive(Debug, Clone, Copy)]
pub enum Control<'a> {
    Input(InputKind),
    /// A choice among `(value, text)` pairs.
    Select(&'a [(&'a str, &'a str)]),
    /// Prose of several lines (`<textarea>`), this many rows high.
    TextArea(u8),
}

/// A labelled field: its name, label, control, value (the selected value for
/// a select) and, when the value was refused, why.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub control: Control<'a>,
    pub value: &'a str,
    pub required: bool,
    pub error: Option<&'a FieldError>,
}

impl<'a> Field<'a> {
    pub fn input(name: &'a str, label: &'a str, kind: InputKind) -> Field<'a> {
        Field {
            name,
            label,
            control: Control::Input(kind),
            value: "",
            required: false,
            error: None,
        }
    }

    pub fn select(name: &'a str, label: &'a str, options: &'a [(&'a str, &'a str)]) -> Field<'a> {
        Field {
            control: Control::Select(options),
            ..Field::input(name, label, InputKind::Text)
        }
    }

    /// A `<textarea>` of `rows` rows, for prose (a verification, a
    /// rectification) that one line would hide.
    pub fn textarea(name: &'a str, label: &'a str, rows: u8) -> Field<'a> {
        Field {
            control: Control::TextArea(rows),
            ..Field::input(name, label, InputKind::Text)
        }
    }

    pub fn value(self, value: &'a str) -> Field<'a> {
        Field { value, ..self }
    }

    pub fn required(self) -> Field<'a> {
        Field {
            required: true,
            ..self
        }
    }

    pub fn error(self, error: Option<&'a FieldError>) -> Field<'a> {
        Field { error, ..self }
    }
}

/// A field as `<label for>` holding its text, its control and, if the value
/// was refused, the error right after the control, which names it through
/// `aria-describedby`.
pub fn field(l: Lang, f: &Field<'_>) -> Markup {
    let id = format!("f-{}", f.name);
    let error_id = format!("{id}-error");
    let invalid = f.error.map(|_| "true");
    let described = f.error.map(|_| error_id.as_str());
    html! {
        label for=(id) {
            (f.label)
            @match f.control {
                Control::Input(kind) => {
                    input id=(id) type=(kind.as_str()) name=(f.name) value=(f.value)
                        required[f.required] aria-invalid=[invalid] aria-describedby=[described];
                }
                Control::TextArea(rows) => {
                    textarea id=(id) name=(f.name) rows=(rows) required[f.required]
                        aria-invalid=[invalid] aria-describedby=[described] { (f.value) }
                }
                Control::Select(options) => {
                    select id=(id) name=(f.name) required[f.required]
                        aria-invalid=[invalid] aria-describedby=[described] {
                        @for (value, text) in options {
                            option value=(value) selected[*value == f.value] { (text) }
                        }
                    }
                }
            }
            @if let Some(e) = f.error {
                span class="field-error" id=(error_id) { (e.text(l)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_textarea_has_its_label_its_text_escaped_and_its_error() {
        let e = FieldError::new("请填写核实情况", "Enter the verification");
        let s = field(
            Lang::Zh,
            &Field::textarea("verification", "核实情况", 4)
                .value("第一行\n<b>第二行</b>")
                .error(Some(&e)),
        )
        .into_string();
        assert_eq!(
            s,
            "<label for=\"f-verification\">核实情况<textarea id=\"f-verification\" \
             name=\"verification\" rows=\"4\" aria-invalid=\"true\" \
             aria-describedby=\"f-verification-error\">第一行\n&lt;b&gt;第二行&lt;/b&gt;</textarea>\
             <span class=\"field-error\" id=\"f-verification-error\">请填写核实情况</span></label>"
        );
    }

    #[test]
    fn a_field_has_its_label_and_its_error_in_chinese() {
        let e = FieldError::new("请输入日期", "Enter a date");
        let s = field(
            Lang::Zh,
            &Field::input("paid_on", "支付日期", InputKind::Date)
                .value("2020-13-01")
                .required()
                .error(Some(&e)),
        )
        .into_string();
        assert_eq!(
            s,
            "<label for=\"f-paid_on\">支付日期<input id=\"f-paid_on\" type=\"date\" \
             name=\"paid_on\" value=\"2020-13-01\" required aria-invalid=\"true\" \
             aria-describedby=\"f-paid_on-error\"><span class=\"field-error\" \
             id=\"f-paid_on-error\">请输入日期</span></label>"
        );
        let en = field(
            Lang::En,
            &Field::input("x", "X", InputKind::Text).error(Some(&e)),
        );
        assert!(en.into_string().contains(">Enter a date</span>"));
    }

    #[test]
    fn a_field_without_error_has_no_error_marks() {
        let s = field(
            Lang::Zh,
            &Field::input("voucher_no", "凭证号", InputKind::Text),
        )
        .into_string();
        assert_eq!(
            s,
            "<label for=\"f-voucher_no\">凭证号<input id=\"f-voucher_no\" type=\"text\" \
             name=\"voucher_no\" value=\"\"></label>"
        );
    }

    #[test]
    fn values_labels_and_errors_are_escaped() {
        let e = FieldError::new("<b>错</b>", "x");
        let s = field(
            Lang::Zh,
            &Field::input("q", "<i>项目</i>", InputKind::Text)
                .value("\"><script>alert(1)</script>")
                .error(Some(&e)),
        )
        .into_string();
        assert!(!s.contains("<script>") && !s.contains("<b>") && !s.contains("<i>"));
        assert!(s.contains("value=\"&quot;&gt;&lt;script&gt;"), "{s}");
        assert!(s.contains("&lt;i&gt;项目") && s.contains("&lt;b&gt;错"));
    }

    #[test]
    fn a_select_marks_its_value() {
        let options = [("node", "按节点"), ("fund_origin", "按资金来源")];
        let s = field(
            Lang::Zh,
            &Field::select("group_by", "分组", &options).value("fund_origin"),
        )
        .into_string();
        assert_eq!(
            s,
            "<label for=\"f-group_by\">分组<select id=\"f-group_by\" name=\"group_by\">\
             <option value=\"node\">按节点</option>\
             <option value=\"fund_origin\" selected>按资金来源</option></select></label>"
        );
    }

    #[test]
    fn a_post_form_carries_the_csrf_token_first() {
        let s = post_form(
            "/payments",
            "tok\"en",
            html! { (field(Lang::Zh, &Field::input("a", "甲", InputKind::Number))) (submit("提交")) },
        )
        .into_string();
        assert!(
            s.starts_with(
                "<form method=\"post\" action=\"/payments\">\
                 <input type=\"hidden\" name=\"csrf_token\" value=\"tok&quot;en\">"
            ),
            "{s}"
        );
        assert!(
            s.ends_with("<button type=\"submit\">提交</button></form>"),
            "{s}"
        );
        assert!(s.contains("type=\"number\""));
    }
}
