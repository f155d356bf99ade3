//! The console's HTML: the page around every screen, and the few pieces screens are
//! made of. Everything outside data is escaped here; screens pass text, not markup,
//! except where a function says it takes markup.

use super::roles::Role;
use accrue_core::mustache::escape_html;
use accrue_store::operators::Operator;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub use accrue_core::mustache::escape_html as esc;

pub const CSS: &str = include_str!("../../assets/console/console.css");
pub const JS: &str = include_str!("../../assets/console/console.js");

/// Whether a role sees a screen in its menu.
type Sees = fn(Role) -> bool;

/// Where each screen lives, for the menu: (path, title, whether the role sees it).
const MENU: &[(&str, &str, Sees)] = &[
    ("/console", "Dashboard", |_| true),
    ("/console/members", "Members", |r| r != Role::Analyst),
    ("/console/referrals", "Referrals", |_| true),
    ("/console/programs", "Program", |r| r != Role::Analyst),
    ("/console/offers", "Offers", |_| true),
    ("/console/tracker", "Tracker", |_| true),
    ("/console/batch", "Batch", |r| r != Role::Analyst),
    ("/console/partners", "Partners", |r| r != Role::Analyst),
    ("/console/webhooks", "Webhooks", |r| r != Role::Analyst),
    ("/console/operators", "Operators", |r| r == Role::Admin),
];

/// What every signed-in page knows: who looks, the program, the form token.
pub struct Frame<'a> {
    pub operator: &'a Operator,
    pub role: Role,
    pub program: &'a str,
    pub csrf: &'a str,
}

impl Frame<'_> {
    /// A hidden field with the form token (every form that changes something has one).
    pub fn csrf_field(&self) -> String {
        format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(self.csrf))
    }

    /// `path` with the program in its query.
    pub fn link(&self, path: &str) -> String {
        let joiner = if path.contains('?') { '&' } else { '?' };
        format!("{path}{joiner}program={}", url_encode(self.program))
    }

    /// A signed-in page: the menu (`current` marked), the program, the body (markup).
    pub fn page(&self, current: &str, title: &str, body: &str) -> Response {
        let menu: String = MENU
            .iter()
            .filter(|(_, _, sees)| sees(self.role))
            .map(|(path, name, _)| {
                let mark = if *path == current { " aria-current=\"page\"" } else { "" };
                format!("<li><a href=\"{}\"{mark}>{name}</a></li>", esc(&self.link(path)))
            })
            .collect();
        let header = format!(
            "<header><a class=\"brand\" href=\"{home}\">Accrue</a>\
             <nav aria-label=\"Main\"><ul>{menu}</ul></nav>\
             <form class=\"who\" method=\"post\" action=\"/console/sign-out\">{csrf}\
             <span>{name} · {role} · program <strong>{program}</strong></span> \
             <a href=\"{password}\">Password</a> <button type=\"submit\">Sign out</button></form></header>",
            home = esc(&self.link("/console")),
            password = esc(&self.link("/console/password")),
            csrf = self.csrf_field(),
            name = esc(&self.operator.name),
            role = self.role.as_str(),
            program = esc(self.program),
        );
        document(
            StatusCode::OK,
            title,
            &format!("{header}<main><h1>{}</h1>{body}</main>", esc(title)),
        )
    }
}

/// A whole HTML document with the console's security headers.
pub fn document(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Accrue</title><link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         <script src=\"/console/assets/console.js\" defer></script></head><body>{body}</body></html>",
        escape_html(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A table of `rows` (each cell markup) under `heads`, or `empty` when there are none.
pub fn table(heads: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}</p>", esc(empty));
    }
    let head: String = heads
        .iter()
        .map(|h| format!("<th scope=\"col\">{}</th>", esc(h)))
        .collect();
    let body: String = rows
        .iter()
        .map(|cells| {
            format!(
                "<tr>{}</tr>",
                cells.iter().map(|c| format!("<td>{c}</td>")).collect::<String>()
            )
        })
        .collect();
    format!("<div class=\"scroll\"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
}

/// A labelled input; `kind` is the input type.
pub fn field(name: &str, label: &str, kind: &str, value: &str, required: bool) -> String {
    let required = if required { " required" } else { "" };
    format!(
        "<label for=\"{name}\">{label}</label><input id=\"{name}\" name=\"{name}\" type=\"{kind}\" value=\"{value}\"{required}>",
        label = esc(label),
        value = esc(value),
    )
}

/// A labelled text area.
pub fn text_area(name: &str, label: &str, value: &str, rows: u32) -> String {
    format!(
        "<label for=\"{name}\">{}</label><textarea id=\"{name}\" name=\"{name}\" rows=\"{rows}\" spellcheck=\"false\">{}</textarea>",
        esc(label),
        esc(value)
    )
}

/// A notice: an error (`role="alert"`) or what was done.
pub fn notice(error: bool, text: &str) -> String {
    if error {
        format!("<p class=\"notice error\" role=\"alert\">{}</p>", esc(text))
    } else {
        format!("<p class=\"notice done\" role=\"status\">{}</p>", esc(text))
    }
}

/// Text with a button that copies it (the text stays selectable without script).
pub fn copyable(id: &str, text: &str) -> String {
    format!(
        "<div class=\"copy\"><code id=\"{id}\">{}</code> <button type=\"button\" data-copy=\"{id}\" aria-label=\"Copy\">Copy</button></div>",
        esc(text)
    )
}

/// Paging links: `offset` rows in, `count` a page, `more` when another page follows.
pub fn pager(base: &str, offset: i64, count: i64, more: bool) -> String {
    pager_of(base, "offset", offset, count, more)
}

/// [`pager`] of a page's second list, whose offset is the parameter `param`.
pub fn pager_of(base: &str, param: &str, offset: i64, count: i64, more: bool) -> String {
    let joiner = if base.contains('?') { '&' } else { '?' };
    let mut links = Vec::new();
    if offset > 0 {
        let previous = (offset - count).max(0);
        links.push(format!(
            "<a href=\"{}\" rel=\"prev\">← Newer</a>",
            esc(&format!("{base}{joiner}{param}={previous}"))
        ));
    }
    if more {
        links.push(format!(
            "<a href=\"{}\" rel=\"next\">Older →</a>",
            esc(&format!("{base}{joiner}{param}={}", offset + count))
        ));
    }
    if links.is_empty() {
        return String::new();
    }
    format!("<nav class=\"pager\" aria-label=\"Pages\">{}</nav>", links.join(" "))
}

/// A bar chart of days (SVG, no script): for each day, a bar per series; the numbers
/// are in a table under it too, for screen readers and for copying.
pub fn bar_chart(title: &str, series: &[&str], days: &[(String, Vec<f64>)]) -> String {
    const HEIGHT: f64 = 160.0;
    let top = days.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0_f64, f64::max);
    let scale = if top > 0.0 { HEIGHT / top } else { 0.0 };
    let slot = 8.0 * series.len() as f64 + 6.0;
    let width = (slot * days.len() as f64).max(slot);
    let mut bars = String::new();
    for (i, (day, values)) in days.iter().enumerate() {
        for (j, value) in values.iter().enumerate() {
            let h = value * scale;
            bars.push_str(&format!(
                "<rect class=\"s{j}\" x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"{h:.1}\"><title>{} {}: {value}</title></rect>",
                i as f64 * slot + j as f64 * 8.0,
                HEIGHT - h,
                esc(day),
                esc(series[j]),
            ));
        }
    }
    let legend: String = series
        .iter()
        .enumerate()
        .map(|(j, name)| format!("<li><span class=\"swatch s{j}\"></span>{}</li>", esc(name)))
        .collect();
    let rows: Vec<Vec<String>> = days
        .iter()
        .map(|(day, values)| {
            std::iter::once(esc(day))
                .chain(values.iter().map(|v| v.to_string()))
                .collect()
        })
        .collect();
    let heads: Vec<&str> = std::iter::once("Day").chain(series.iter().copied()).collect();
    format!(
        "<figure class=\"chart\"><figcaption>{caption}</figcaption>\
         <svg role=\"img\" aria-label=\"{caption}\" viewBox=\"0 0 {width:.0} {HEIGHT}\" preserveAspectRatio=\"none\">{bars}</svg>\
         <ul class=\"legend\">{legend}</ul><details><summary>Numbers</summary>{table}</details></figure>",
        caption = esc(title),
        table = table(&heads, &rows, "Nothing in this period."),
    )
}

/// A funnel (SVG, no script): a bar per step, as long as its count against the largest
/// step's, with the step's name and count as text beside it (ink on white). Callers put
/// the numbers in a table under it too.
pub fn funnel_chart(title: &str, steps: &[(&str, f64)]) -> String {
    const ROW: f64 = 30.0;
    const LABEL: f64 = 190.0;
    const BAR: f64 = 400.0;
    let top = steps.iter().map(|(_, n)| *n).fold(0.0_f64, f64::max);
    let rows: String = steps
        .iter()
        .enumerate()
        .map(|(i, (name, n))| {
            let length = if top > 0.0 { n / top * BAR } else { 0.0 };
            let (y, text_y) = (i as f64 * ROW, i as f64 * ROW + ROW / 2.0 + 5.0);
            format!(
                "<text x=\"0\" y=\"{text_y:.0}\">{name}</text>\
                 <rect class=\"s0\" x=\"{LABEL}\" y=\"{:.0}\" width=\"{length:.1}\" height=\"{:.0}\"><title>{name}: {n}</title></rect>\
                 <text x=\"{:.1}\" y=\"{text_y:.0}\">{n}</text>",
                y + 4.0,
                ROW - 8.0,
                LABEL + length + 6.0,
                name = esc(name),
            )
        })
        .collect();
    format!(
        "<figure class=\"chart funnel\"><figcaption>{caption}</figcaption>\
         <svg role=\"img\" aria-label=\"{caption}\" viewBox=\"0 0 {width} {height}\">{rows}</svg></figure>",
        caption = esc(title),
        width = LABEL + BAR + 80.0,
        height = ROW * steps.len().max(1) as f64,
    )
}

/// A progress bar with its numbers: `done` of `total` `unit`.
pub fn progress(done: i64, total: i64, unit: &str) -> String {
    format!(
        "<progress max=\"{max}\" value=\"{done}\" aria-label=\"{done} of {total} {unit}\"></progress> {done} / {total}",
        max = total.max(1),
        unit = esc(unit),
    )
}

/// Percent-encodes a query value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A JSON value as the text of a cell: a string as it is, null as "—", others as JSON.
pub fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "—".into(),
        serde_json::Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

/// The rows of a JSON array, a cell per key.
pub fn rows_of(items: &serde_json::Value, keys: &[&str]) -> Vec<Vec<String>> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| keys.iter().map(|k| plain(&item[*k])).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{funnel_chart, CSS};

    /// A colour of the stylesheet's palette (`--name: #rrggbb`), or a literal `#rrggbb`.
    fn colour(name: &str) -> [f64; 3] {
        let hex = if let Some(hex) = name.strip_prefix('#') {
            hex.to_string()
        } else {
            let at = CSS
                .find(&format!("--{name}: #"))
                .unwrap_or_else(|| panic!("--{name} in the stylesheet"));
            CSS[at + name.len() + 5..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect()
        };
        let hex = if hex.len() == 3 {
            hex.chars().flat_map(|c| [c, c]).collect()
        } else {
            hex
        };
        let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap() as f64 / 255.0;
        [channel(0), channel(2), channel(4)]
    }

    /// WCAG 2 contrast ratio of two colours.
    fn contrast(a: &str, b: &str) -> f64 {
        let luminance = |c: [f64; 3]| {
            let linear = |v: f64| {
                if v <= 0.03928 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * linear(c[0]) + 0.7152 * linear(c[1]) + 0.0722 * linear(c[2])
        };
        let (x, y) = (luminance(colour(a)), luminance(colour(b)));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    #[test]
    fn a_funnels_bars_follow_its_counts() {
        let chart = funnel_chart("F", &[("Clicks", 4.0), ("Sign-ups <b>", 1.0), ("Paid", 0.0)]);
        assert!(
            chart.contains("width=\"400.0\" height=\"22\"><title>Clicks: 4</title>"),
            "{chart}"
        );
        assert!(
            chart.contains("width=\"100.0\" height=\"22\"><title>Sign-ups &lt;b&gt;: 1</title>"),
            "{chart}"
        );
        assert!(
            chart.contains("width=\"0.0\" height=\"22\"><title>Paid: 0</title>"),
            "{chart}"
        );
        let empty = funnel_chart("F", &[("Clicks", 0.0)]);
        assert!(empty.contains("width=\"0.0\""), "nothing to compare with: no bar");
    }

    #[test]
    fn text_colours_meet_wcag_aa_on_their_backgrounds() {
        // (text, background) as the stylesheet pairs them.
        let pairs = [
            ("ink", "bg"),
            ("ink", "card"),
            ("muted", "bg"),
            ("muted", "card"),
            ("brand", "card"),
            ("brand", "bg"),
            ("brand-ink", "brand"),
            ("#fff", "danger"),
            ("danger", "card"),
            ("ok", "card"),
            ("#fff", "ink"),
            ("ink", "#eceff4"),
            ("muted", "#eceff4"),
        ];
        for (text, background) in pairs {
            let ratio = contrast(text, background);
            assert!(ratio >= 4.5, "{text} on {background}: {ratio:.2}");
        }
        assert!(contrast("#fff", "bg") < 4.5, "the check can fail");
    }
}
