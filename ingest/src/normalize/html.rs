//! HTML from job sources made safe to serve, and made readable as plain text.
//!
//! Both walks run over `scraper`'s parsed tree with an explicit stack rather than recursion, so
//! a page nested thousands of levels deep cannot overflow the stack. Before html5ever sees the
//! input it is cut to [`DESCRIPTION_MAX_BYTES`] (saying so, see [`TRUNCATION_NOTE`]) and its
//! nesting is flattened past `html_scan::MAX_NESTING` levels (text kept): html5ever's time grows
//! with the square of the nesting depth, and these run on every description a source sends.

use scraper::{Html, Node};

use crate::sources::html_scan::{MAX_NESTING, MAX_OPEN_FORMATTING, limit_nesting};

/// The most of a description's HTML [`sanitize_html`] reads. Job ads are a few KiB to a few
/// dozen; 512 KiB is far past any real one and parses in milliseconds.
pub const DESCRIPTION_MAX_BYTES: usize = 512 * 1024;

/// The most of its input [`html_to_text`] reads: it is given sanitised HTML, which escaping can
/// make up to five times longer than the description it came from.
const TEXT_MAX_BYTES: usize = 5 * DESCRIPTION_MAX_BYTES;

/// Ends a description cut at the size cap, in its HTML and its text, so readers (and the run's
/// `descriptions_truncated` counter, see [`is_truncated`]) know it is not whole.
pub const TRUNCATION_NOTE: &str = "[Description truncated by jobintel: longer than 512 KiB]";

/// Whether a description (HTML or text) was cut at the size cap.
pub fn is_truncated(description: &str) -> bool {
    description.ends_with(TRUNCATION_NOTE)
        || description
            .strip_suffix("</p>")
            .is_some_and(|d| d.ends_with(TRUNCATION_NOTE))
}

/// `html` cut to at most `max` bytes, on a character boundary and not inside a tag; `None`
/// when it is not longer than that.
fn cut(html: &str, max: usize) -> Option<&str> {
    if html.len() <= max {
        return None;
    }
    let mut end = max;
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let head = &html[..end];
    // A tag cut in two would swallow what follows it (or, for an attribute, the note).
    match (head.rfind('<'), head.rfind('>')) {
        (Some(lt), gt) if gt.is_none_or(|gt| gt < lt) => Some(&head[..lt]),
        _ => Some(head),
    }
}

/// Elements kept (without attributes, except `a[href]`).
const KEPT: &[&str] = &[
    "p",
    "br",
    "ul",
    "ol",
    "li",
    "strong",
    "b",
    "em",
    "i",
    "u",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "blockquote",
    "pre",
    "code",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
    "div",
    "hr",
    "dl",
    "dt",
    "dd",
    "sub",
    "sup",
];

/// Kept elements that have no closing tag.
const VOID: &[&str] = &["br", "hr"];

/// Elements dropped with everything inside them: active content, forms, embedded documents,
/// and the `<head>`-only elements whose text is not part of the description.
const DROPPED: &[&str] = &[
    "script", "style", "iframe", "object", "embed", "form", "input", "button", "noscript",
    "template", "svg", "math", "select", "textarea", "option", "frame", "frameset", "applet",
    "head", "title", "meta", "link", "base",
];

/// Sanitised HTML safe to serve to a browser (no scripts, styles, event handlers, iframes).
///
/// An allow-list: the elements in [`KEPT`] survive without attributes, except `a`, which keeps
/// an `http`, `https` or `mailto` `href` and gains `rel="nofollow noopener"` (a link without a
/// safe `href` is unwrapped). [`DROPPED`] elements vanish with their content; any other element
/// is unwrapped, keeping its children. Comments go. Input that is entirely entity-escaped HTML
/// (Greenhouse's `&lt;p&gt;…`) is unescaped first, and literal `\n` sequences that JSON-LD
/// descriptions carry become whitespace instead of showing as backslashes.
///
/// Input over [`DESCRIPTION_MAX_BYTES`] is cut there and ends with [`TRUNCATION_NOTE`];
/// elements nested deeper than `html_scan::MAX_NESTING` lose their tags (not their text).
pub fn sanitize_html(html: &str) -> String {
    let (html, truncated) = match cut(html, DESCRIPTION_MAX_BYTES) {
        Some(head) => (head, true),
        None => (html, false),
    };
    let source = decode_escaped_markup(html)
        .replace("\\r\\n", "\n")
        .replace("\\n", "\n");
    let source = limit_nesting(&source, MAX_NESTING, MAX_OPEN_FORMATTING);
    let doc = Html::parse_fragment(&source);
    let mut out = String::with_capacity(source.len());
    let root = doc.root_element();
    // Each frame: the closing tag to write when its children are done, and those children.
    let mut stack = vec![(None::<&'static str>, root.children())];
    while let Some(frame) = stack.last_mut() {
        let Some(node) = frame.1.next() else {
            if let Some((Some(tag), _)) = stack.pop() {
                out.push_str("</");
                out.push_str(tag);
                out.push('>');
            }
            continue;
        };
        match node.value() {
            Node::Text(text) => escape_into(&text.text, false, &mut out),
            Node::Element(el) => {
                let name = el.name();
                if DROPPED.contains(&name) {
                    continue;
                }
                let Some(tag) = KEPT.iter().copied().find(|k| *k == name) else {
                    stack.push((None, node.children()));
                    continue;
                };
                if tag == "a" {
                    let Some(href) = el.attr("href").and_then(safe_href) else {
                        stack.push((None, node.children()));
                        continue;
                    };
                    out.push_str("<a href=\"");
                    escape_into(href, true, &mut out);
                    out.push_str("\" rel=\"nofollow noopener\">");
                } else {
                    out.push('<');
                    out.push_str(tag);
                    out.push('>');
                }
                if !VOID.contains(&tag) {
                    stack.push((Some(tag), node.children()));
                }
            }
            _ => {}
        }
    }
    let mut out = out.trim().to_owned();
    if truncated {
        out.push_str("<p>");
        out.push_str(TRUNCATION_NOTE);
        out.push_str("</p>");
    }
    out
}

/// An `href` worth keeping: absolute `http(s)` or `mailto` only, so no `javascript:`,
/// `data:` or relative links that would resolve against our own site.
fn safe_href(href: &str) -> Option<&str> {
    let href = href.trim();
    let lower = href.get(..8).unwrap_or(href).to_ascii_lowercase();
    let allowed = ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme));
    allowed.then_some(href)
}

fn escape_into(text: &str, attribute: bool, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

/// Greenhouse sends its HTML entity-escaped. Markup that has no raw `<` but does have `&lt;`
/// is that case; anything with real tags is left alone so it is never unescaped twice.
fn decode_escaped_markup(html: &str) -> std::borrow::Cow<'_, str> {
    if !html.contains('<') && html.contains("&lt;") {
        std::borrow::Cow::Owned(unescape_entities(html))
    } else {
        std::borrow::Cow::Borrowed(html)
    }
}

/// Named entities beyond the XML five that job ads commonly use.
const NAMED_ENTITIES: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", '\u{a0}'),
    ("ndash", '–'),
    ("mdash", '—'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("hellip", '…'),
    ("bull", '•'),
    ("middot", '·'),
    ("copy", '©'),
    ("reg", '®'),
    ("trade", '™'),
    ("euro", '€'),
    ("pound", '£'),
    ("cent", '¢'),
    ("yen", '¥'),
    ("sect", '§'),
    ("deg", '°'),
    ("times", '×'),
    ("divide", '÷'),
    ("laquo", '«'),
    ("raquo", '»'),
    ("shy", '\u{ad}'),
    ("zwj", '\u{200d}'),
    ("zwnj", '\u{200c}'),
    ("auml", 'ä'),
    ("ouml", 'ö'),
    ("uuml", 'ü'),
    ("Auml", 'Ä'),
    ("Ouml", 'Ö'),
    ("Uuml", 'Ü'),
    ("szlig", 'ß'),
    ("eacute", 'é'),
    ("egrave", 'è'),
    ("ecirc", 'ê'),
    ("aacute", 'á'),
    ("agrave", 'à'),
    ("acirc", 'â'),
    ("iacute", 'í'),
    ("oacute", 'ó'),
    ("uacute", 'ú'),
    ("ccedil", 'ç'),
    ("ntilde", 'ñ'),
    ("Eacute", 'É'),
];

/// Decode HTML character references in one pass (`&amp;lt;` becomes `&lt;`, not `<`): named
/// ones from [`NAMED_ENTITIES`], decimal `&#39;` and hex `&#x27;`. Unknown or malformed
/// references are left as they are; code points that are not characters become U+FFFD.
pub fn unescape_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest[1..]
            .find(';')
            .filter(|end| *end <= 32)
            .and_then(|end| decode_reference(&rest[1..=end]).map(|c| (c, end + 2)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character for a reference body such as `amp`, `#39` or `#x27` (without `&` and `;`).
fn decode_reference(body: &str) -> Option<char> {
    if let Some(num) = body.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                u32::from_str_radix(hex, 16).ok()?
            }
            Some(_) => return None,
            None if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) => {
                num.parse().ok()?
            }
            None => return None,
        };
        return Some(match code {
            0 => '\u{fffd}',
            c => char::from_u32(c).unwrap_or('\u{fffd}'),
        });
    }
    NAMED_ENTITIES
        .iter()
        .find(|(name, _)| *name == body)
        .or_else(|| {
            // Upper-case spellings of the basic ones turn up in hand-written markup.
            NAMED_ENTITIES[..6]
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(body))
        })
        .map(|(_, c)| *c)
}

/// Elements set off by a blank line.
const PARAGRAPHS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "table",
    "dl",
    "section",
    "article",
    "header",
    "footer",
    "aside",
    "nav",
    "figure",
    "address",
    "main",
    "hr",
];

/// Elements that start on a new line.
const LINES: &[&str] = &[
    "div", "tr", "dt", "dd", "thead", "tbody", "tfoot", "caption", "details", "summary",
    "fieldset", "legend", "center",
];

/// Plain text of an HTML fragment, with paragraph and list breaks kept as newlines.
///
/// Blocks and `<br>` become line breaks, list items start with "- ", runs of whitespace inside
/// a line collapse to one space, and there is at most one blank line between blocks. Text with
/// no markup keeps its own line breaks. Literal `\n` sequences (JSON-LD descriptions) are line
/// breaks and `&nbsp;` is a space, also when double-escaped as `&amp;nbsp;`.
///
/// Input over five times [`DESCRIPTION_MAX_BYTES`] is cut there and the text ends with
/// [`TRUNCATION_NOTE`] (once: sanitised HTML that already ends with it keeps just that one).
pub fn html_to_text(html: &str) -> String {
    let (html, truncated) = match cut(html, TEXT_MAX_BYTES) {
        Some(head) => (head, true),
        None => (html, false),
    };
    let source = decode_escaped_markup(html);
    let raw = if has_markup(&source) {
        let source = source.replace("\\r\\n", "<br>").replace("\\n", "<br>");
        markup_text(&limit_nesting(&source, MAX_NESTING, MAX_OPEN_FORMATTING))
    } else {
        unescape_entities(&source.replace("\\r\\n", "\n").replace("\\n", "\n"))
    };
    let mut text = tidy_lines(&raw.replace("&nbsp;", " "));
    if truncated && !text.ends_with(TRUNCATION_NOTE) {
        text.push_str("\n\n");
        text.push_str(TRUNCATION_NOTE);
    }
    text
}

/// Whether `s` has something that parses as a tag or comment.
fn has_markup(s: &str) -> bool {
    s.match_indices('<').any(|(i, _)| {
        s[i + 1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!')
    })
}

/// Text with `\n` at block boundaries; whitespace inside text is flattened except in `<pre>`.
fn markup_text(html: &str) -> String {
    let doc = Html::parse_fragment(html);
    let mut out = String::with_capacity(html.len());
    let root = doc.root_element();
    let mut list_depth = 0usize;
    let mut pre_depth = 0usize;
    // Each frame: line breaks and text to end the element with, whether it opened a list or a
    // pre, and the children still to walk.
    let mut stack = vec![(0usize, "", false, false, root.children())];
    while let Some(frame) = stack.last_mut() {
        let Some(node) = frame.4.next() else {
            if let Some((breaks, text, list, pre, _)) = stack.pop() {
                out.push_str(text);
                ensure_breaks(&mut out, breaks);
                list_depth -= usize::from(list);
                pre_depth -= usize::from(pre);
            }
            continue;
        };
        match node.value() {
            Node::Text(text) => {
                if pre_depth > 0 {
                    out.push_str(&text.text);
                } else {
                    out.extend(
                        text.text
                            .chars()
                            .map(|c| if c.is_whitespace() { ' ' } else { c }),
                    );
                }
            }
            Node::Element(el) => {
                let name = el.name();
                if DROPPED.contains(&name) {
                    continue;
                }
                if name == "br" {
                    out.push('\n');
                    continue;
                }
                let list = matches!(name, "ul" | "ol");
                // (breaks before, text before, breaks after, text after)
                let (before, lead, after, trail) = match name {
                    "li" => (1, "- ", 1, ""),
                    "td" | "th" => (0, " ", 0, " "),
                    "ul" | "ol" => (1, "", if list_depth == 0 { 2 } else { 1 }, ""),
                    n if PARAGRAPHS.contains(&n) => (2, "", 2, ""),
                    n if LINES.contains(&n) => (1, "", 1, ""),
                    _ => (0, "", 0, ""),
                };
                ensure_breaks(&mut out, before);
                out.push_str(lead);
                let pre = name == "pre";
                list_depth += usize::from(list);
                pre_depth += usize::from(pre);
                stack.push((after, trail, list, pre, node.children()));
            }
            _ => {}
        }
    }
    out
}

/// End `out` with at least `n` line breaks (spaces between them do not count as text), so
/// nested blocks closing together do not stack up blank lines. Nothing is added at the start.
fn ensure_breaks(out: &mut String, n: usize) {
    if n == 0 || out.trim().is_empty() {
        return;
    }
    let have = out
        .chars()
        .rev()
        .take_while(|c| *c == '\n' || *c == ' ')
        .filter(|c| *c == '\n')
        .count();
    for _ in have..n {
        out.push('\n');
    }
}

/// Collapse whitespace inside each line, drop empty list bullets, keep at most one blank line
/// in a row, and trim the whole.
fn tidy_lines(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut blank_pending = false;
    for line in raw.lines() {
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == '\u{200b}')
            .filter(|w| !w.is_empty())
            .collect();
        if words == ["-"] {
            continue;
        }
        if words.is_empty() {
            blank_pending = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_pending { "\n\n" } else { "\n" });
        }
        blank_pending = false;
        out.push_str(&words.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_elements_survive_without_their_attributes() {
        let html = r#"<p class="x" style="color:red" onclick="evil()">Hello <strong id="s">world</strong></p><ul><li>One</li></ul>"#;
        assert_eq!(
            sanitize_html(html),
            "<p>Hello <strong>world</strong></p><ul><li>One</li></ul>"
        );
    }

    #[test]
    fn scripts_styles_and_embeds_are_dropped_with_their_content() {
        let html = "<p>Keep</p><script>alert(1)</script><style>p{}</style><iframe src=\"https://x\">f</iframe>\
                    <form><input value=\"v\"><button>Go</button></form><noscript>ns</noscript>\
                    <svg><text>svg text</text></svg><object>o</object><template>t</template>";
        assert_eq!(sanitize_html(html), "<p>Keep</p>");
    }

    #[test]
    fn unknown_elements_are_unwrapped_keeping_their_text() {
        let html = "<section><article><font color=\"red\">Role</font> <img src=x onerror=alert(1)>details</article></section>";
        assert_eq!(sanitize_html(html), "Role details");
    }

    #[test]
    fn links_keep_only_safe_hrefs_and_gain_nofollow() {
        let html = r#"<a href="https://jobs.example.com/apply?id=1&amp;src=2" target="_blank">Apply</a> <a href="javascript:alert(1)">bad</a> <a href="mailto:jobs@example.com">Mail</a> <a href="/relative">rel</a>"#;
        assert_eq!(
            sanitize_html(html),
            "<a href=\"https://jobs.example.com/apply?id=1&amp;src=2\" rel=\"nofollow noopener\">Apply</a> bad <a href=\"mailto:jobs@example.com\" rel=\"nofollow noopener\">Mail</a> rel"
        );
    }

    #[test]
    fn comments_are_removed_and_text_is_escaped() {
        let html = "<p>R&amp;D <!-- internal note --> &lt;script&gt; 5 &gt; 3</p>";
        assert_eq!(
            sanitize_html(html),
            "<p>R&amp;D  &lt;script&gt; 5 &gt; 3</p>"
        );
    }

    #[test]
    fn void_and_table_elements_are_written_correctly() {
        let html = "<table><tr><th>Pay</th><td>$100k</td></tr></table>Line<br/>two<hr>";
        assert_eq!(
            sanitize_html(html),
            "<table><tbody><tr><th>Pay</th><td>$100k</td></tr></tbody></table>Line<br>two<hr>"
        );
    }

    #[test]
    fn greenhouse_entity_escaped_content_is_unescaped_then_sanitised() {
        let content = "&lt;h2&gt;&lt;strong&gt;Who we are&lt;/strong&gt;&lt;/h2&gt;\n&lt;div&gt;&lt;p&gt;&lt;span data-contrast=&quot;auto&quot;&gt;Helsing is a defence AI company.&lt;/span&gt;&lt;/p&gt;&lt;/div&gt;";
        assert_eq!(
            sanitize_html(content),
            "<h2><strong>Who we are</strong></h2>\n<div><p><span>Helsing is a defence AI company.</span></p></div>"
        );
        assert_eq!(
            sanitize_html(&unescape_entities(content)),
            sanitize_html(content)
        );
    }

    #[test]
    fn escaped_script_in_greenhouse_content_is_still_dropped() {
        let content = "&lt;p&gt;Hi&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;";
        assert_eq!(sanitize_html(content), "<p>Hi</p>");
    }

    #[test]
    fn literal_backslash_n_does_not_reach_sanitised_html() {
        let html = "\u{a0}\\n\\n<strong>Your mission &amp; challenges</strong>\n<p>Shape it.</p>";
        let clean = sanitize_html(html);
        assert!(!clean.contains("\\n"), "{clean}");
        assert!(
            clean.ends_with("<strong>Your mission &amp; challenges</strong>\n<p>Shape it.</p>")
        );
    }

    #[test]
    fn deeply_nested_markup_is_walked_without_recursion() {
        // 3,000 levels on a 512 KiB stack would overflow a recursive walk; html5ever's own
        // parse is quadratic in depth, which is why the depth is not larger.
        let html = format!("{}deep{}", "<div>".repeat(3_000), "</div>".repeat(3_000));
        let (clean, text) = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || (sanitize_html(&html), html_to_text(&html)))
            .expect("spawn")
            .join()
            .expect("no stack overflow");
        assert!(clean.starts_with("<div><div>") && clean.contains("deep"));
        assert_eq!(text, "deep");
    }

    #[test]
    fn a_description_over_the_size_cap_is_cut_between_tags_and_says_so() {
        let para = "<p>Make great coffee &amp; serve it with a smile.</p>";
        let html = para.repeat(DESCRIPTION_MAX_BYTES / para.len() + 100);
        let clean = sanitize_html(&html);
        assert!(
            clean.ends_with(&format!("<p>{TRUNCATION_NOTE}</p>")),
            "{}",
            &clean[clean.len() - 200..]
        );
        assert!(is_truncated(&clean));
        assert!(clean.len() < DESCRIPTION_MAX_BYTES + 1024);
        let text = html_to_text(&clean);
        assert!(text.ends_with(TRUNCATION_NOTE));
        assert_eq!(text.matches(TRUNCATION_NOTE).count(), 1);
        assert!(!text.contains('<'), "no half tag leaks into the text");

        let short = sanitize_html(para);
        assert!(!is_truncated(&short) && !is_truncated(&html_to_text(&short)));
    }

    #[test]
    fn cutting_never_splits_a_tag_or_a_character() {
        let html = format!(
            "{}é<a href=\"https://example.com/x\">link</a>",
            "x".repeat(10)
        );
        for max in 0..html.len() {
            if let Some(head) = cut(&html, max) {
                assert!(head.len() <= max);
                assert!(
                    head.rfind('<').is_none_or(|lt| head[lt..].contains('>')),
                    "{head}"
                );
            }
        }
        assert_eq!(cut(&html, html.len()), None);
    }

    #[test]
    fn a_megabyte_of_nested_divs_is_flattened_past_the_nesting_cap() {
        let depth = 1_500_000 / 11;
        let html = format!("{}deep{}", "<div>".repeat(depth), "</div>".repeat(depth));
        let clean = sanitize_html(&html);
        assert!(is_truncated(&clean), "1.5 MB is over the size cap too");
        assert_eq!(clean.matches("<div>").count(), MAX_NESTING);
        assert_eq!(
            html_to_text(&clean),
            TRUNCATION_NOTE,
            "the cut fell among the divs"
        );
        let whole = format!("{}deep{}", "<div>".repeat(20_000), "</div>".repeat(20_000));
        let clean = sanitize_html(&whole);
        assert!(!is_truncated(&clean));
        assert_eq!(clean.matches("<div>").count(), MAX_NESTING);
        assert_eq!(html_to_text(&clean), "deep");
    }

    #[test]
    fn unescape_entities_decodes_named_and_numeric_references() {
        assert_eq!(
            unescape_entities(
                "&lt;p&gt;Tom &amp; Jerry&#39;s &quot;job&quot; &apos;x&apos;&#x27;&#X41;&#8211;&nbsp;end&lt;/p&gt;"
            ),
            "<p>Tom & Jerry's \"job\" 'x''A–\u{a0}end</p>"
        );
    }

    #[test]
    fn unescape_entities_decodes_once_and_leaves_unknown_references() {
        assert_eq!(unescape_entities("&amp;lt;"), "&lt;");
        assert_eq!(
            unescape_entities("AT&T &bogus; & &#xZZ; &#0;"),
            "AT&T &bogus; & &#xZZ; \u{fffd}"
        );
        assert_eq!(unescape_entities("&AMP; caf&eacute;"), "& café");
    }

    #[test]
    fn blocks_and_list_items_become_lines() {
        let html = "<p>As the Manager you play a key role.</p>\n<p>Your main tasks include:</p>\n<ul>\n <li>Integrate partner hardware</li>\n <li>Define   standards</li>\n</ul><p>Apply now</p>";
        assert_eq!(
            html_to_text(html),
            "As the Manager you play a key role.\n\nYour main tasks include:\n\n- Integrate partner hardware\n- Define standards\n\nApply now"
        );
    }

    #[test]
    fn a_list_right_after_a_heading_line_has_no_blank_line_before_it() {
        let html = "<strong>Requirements</strong><ul><li>Rust</li><li>SQL</li></ul>";
        assert_eq!(html_to_text(html), "Requirements\n- Rust\n- SQL");
    }

    #[test]
    fn jsonld_literal_newlines_and_nbsp_become_line_breaks_and_spaces() {
        let description = "\u{a0}\\n\\n<strong>Your mission &amp; challenges</strong>\\nWe&nbsp;build robots.&amp;nbsp;Join us.";
        assert_eq!(
            html_to_text(description),
            "Your mission & challenges\nWe build robots. Join us."
        );
    }

    #[test]
    fn br_breaks_lines_and_blank_lines_never_repeat() {
        let html = "Line one<br>Line two<br><br><br><br><p></p><p>After</p>";
        assert_eq!(html_to_text(html), "Line one\nLine two\n\nAfter");
    }

    #[test]
    fn text_without_markup_keeps_its_own_line_breaks() {
        let text = "First line\n\n\n\nSecond   line &amp; more\r\nThird";
        assert_eq!(
            html_to_text(text),
            "First line\n\nSecond line & more\nThird"
        );
    }

    #[test]
    fn scripts_do_not_leak_into_plain_text() {
        let html = "<div>Visible<script>var hidden = 1;</script><style>.x{}</style></div>";
        assert_eq!(html_to_text(html), "Visible");
    }

    #[test]
    fn greenhouse_escaped_content_converts_to_text() {
        let content =
            "&lt;h2&gt;Who we are&lt;/h2&gt;&lt;p&gt;Helsing is a defence AI company.&lt;/p&gt;";
        assert_eq!(
            html_to_text(content),
            "Who we are\n\nHelsing is a defence AI company."
        );
    }

    #[test]
    fn preformatted_text_keeps_its_lines() {
        let html = "<pre>fn main() {\n    run();\n}</pre>";
        assert_eq!(html_to_text(html), "fn main() {\nrun();\n}");
    }
}
