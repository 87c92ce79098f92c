//! Finding the few parts of a large HTML page a parser needs without building the page's DOM.
//!
//! A job page is ~550 KB, mostly script bundles, CSS and JSON state, while the parsers read only
//! its JSON-LD scripts, a link or two and (Indeed) one element's subtree. html5ever spends
//! milliseconds building a tree for all of it. [`Tags`] instead walks the page the way the HTML
//! tokenizer does and yields its start and end tags in order: attribute values may hold `>` when
//! quoted, comments / bogus comments / doctypes are skipped, and the raw-text elements (`script`,
//! `style`, `noscript`, `textarea`, …) run to their real end tag, including script data's
//! `<!-- <script>` escapes — so a tag inside a comment, a style sheet or a script string is not
//! mistaken for an element, and a script's text is exactly what the DOM would hold.
//!
//! Known simplifications, none of which affects what is looked for here: inside `<svg>`/`<math>`
//! (foreign content) `style`, `title` and `script` are not raw text and `<![CDATA[…]]>` is a real
//! section, while this scan treats them as in HTML; and the insertion modes that drop a start tag
//! (a `<style>` directly inside `<select>`, anything in a `<frameset>`) are not modelled.

use std::borrow::Cow;
use std::ops::Range;

use scraper::{ElementRef, Html, Node};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagKind {
    Start,
    End,
}

/// One start or end tag of a page.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tag<'a> {
    pub(crate) kind: TagKind,
    html: &'a str,
    /// `html[start..end]` is the whole tag, from `<` to just past `>`.
    pub(crate) start: usize,
    pub(crate) end: usize,
    name_end: usize,
    /// For a `script`, `style` or other raw-text start tag: the element's text, up to its end tag
    /// or the end of the page.
    content: Option<(usize, usize)>,
}

impl<'a> Tag<'a> {
    /// The tag name as written (compare it with [`Tag::is`]).
    pub(crate) fn name(&self) -> &'a str {
        let from = self.start + if self.kind == TagKind::Start { 1 } else { 2 };
        &self.html[from..self.name_end]
    }

    /// Whether the tag is `name` (ASCII case-insensitively, as HTML tag names are).
    pub(crate) fn is(&self, name: &str) -> bool {
        self.name().eq_ignore_ascii_case(name)
    }

    /// The tag as written.
    pub(crate) fn as_str(&self) -> &'a str {
        &self.html[self.start..self.end]
    }

    /// The value of attribute `name` (lower case), as the DOM would hold it: the first of
    /// duplicates, character references decoded, `\r` as `\n`. An attribute without a value is
    /// `""`.
    pub(crate) fn attr(&self, name: &str) -> Option<Cow<'a, str>> {
        let bytes = self.html.as_bytes();
        let mut found = None;
        walk_attributes(bytes, self.name_end, |n, value| {
            if found.is_none() && bytes[n].eq_ignore_ascii_case(name.as_bytes()) {
                found = Some(value);
            }
        });
        let raw = &self.html[found?];
        if !raw.contains(['&', '\r', '\0']) {
            return Some(Cow::Borrowed(raw));
        }
        // Character references in attributes have rules of their own (`&copy=` stays as is, but
        // `&copy;` and `&copy ` do not): let html5ever decode this one tag.
        let decoded = decode_attribute(&self.html[self.name_end..self.end], name);
        Some(decoded.map_or(Cow::Borrowed(raw), Cow::Owned))
    }

    /// A script's (or other raw-text element's) text as the DOM holds it: `\r\n` and `\r` as
    /// `\n`, NUL as U+FFFD. `None` for other tags.
    pub(crate) fn text(&self) -> Option<Cow<'a, str>> {
        let (from, to) = self.content?;
        let raw = &self.html[from..to];
        if !raw.contains(['\r', '\0']) {
            return Some(Cow::Borrowed(raw));
        }
        Some(Cow::Owned(
            raw.replace("\r\n", "\n")
                .replace('\r', "\n")
                .replace('\0', "\u{FFFD}"),
        ))
    }
}

/// `attributes` (everything after a tag's name, up to and including `>`) on a tag html5ever
/// parses, and the value of `name` it reads from them.
fn decode_attribute(attributes: &str, name: &str) -> Option<String> {
    // `<i>` is created wherever it appears in a body, so the fragment always holds it.
    let fragment = Html::parse_fragment(&format!("<i{attributes}"));
    fragment.tree.nodes().find_map(|node| match node.value() {
        Node::Element(e) if e.name() == "i" => Some(e.attr(name).unwrap_or_default().to_owned()),
        _ => None,
    })
}

/// The start and end tags of a page, in order (see the module documentation).
pub(crate) struct Tags<'a> {
    html: &'a str,
    at: usize,
}

impl<'a> Tags<'a> {
    pub(crate) fn new(html: &'a str) -> Self {
        Tags { html, at: 0 }
    }
}

/// How the tokenizer reads the content of an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    ScriptData,
    RawText,
    /// Text with character references (`title`, `textarea`): skipped, never returned.
    RcData,
    /// `plaintext`: the rest of the page is its text.
    PlainText,
}

fn content_of(name: &str) -> Option<Content> {
    let is = |n: &str| name.eq_ignore_ascii_case(n);
    if is("script") {
        Some(Content::ScriptData)
    } else if ["style", "noscript", "xmp", "iframe", "noembed", "noframes"]
        .into_iter()
        .any(is)
    {
        // `noscript` is raw text because html5ever parses with scripting enabled.
        Some(Content::RawText)
    } else if is("textarea") || is("title") {
        Some(Content::RcData)
    } else if is("plaintext") {
        Some(Content::PlainText)
    } else {
        None
    }
}

impl<'a> Iterator for Tags<'a> {
    type Item = Tag<'a>;

    fn next(&mut self) -> Option<Tag<'a>> {
        let html = self.html;
        let bytes = html.as_bytes();
        loop {
            let Some(lt) = find_byte(html, self.at, b'<') else {
                self.at = bytes.len();
                return None;
            };
            match bytes.get(lt + 1) {
                Some(c) if c.is_ascii_alphabetic() => {
                    let name_end = tag_name_end(bytes, lt + 1);
                    // A tag cut off by the end of the page is dropped, like everything after it.
                    let Some(end) = walk_attributes(bytes, name_end, |_, _| {}) else {
                        self.at = bytes.len();
                        return None;
                    };
                    let mut tag = Tag {
                        kind: TagKind::Start,
                        html,
                        start: lt,
                        end,
                        name_end,
                        content: None,
                    };
                    self.at = end;
                    if let Some(content) = content_of(tag.name()) {
                        let close = match content {
                            Content::ScriptData => script_data_end(html, end),
                            Content::RawText | Content::RcData => {
                                end_tag_from(html, end, tag.name().as_bytes())
                            }
                            Content::PlainText => None,
                        }
                        .unwrap_or(bytes.len());
                        if content != Content::RcData {
                            tag.content = Some((end, close));
                        }
                        self.at = close;
                    }
                    return Some(tag);
                }
                Some(b'/') => match bytes.get(lt + 2) {
                    Some(c) if c.is_ascii_alphabetic() => {
                        let name_end = tag_name_end(bytes, lt + 2);
                        let Some(end) = walk_attributes(bytes, name_end, |_, _| {}) else {
                            self.at = bytes.len();
                            return None;
                        };
                        self.at = end;
                        return Some(Tag {
                            kind: TagKind::End,
                            html,
                            start: lt,
                            end,
                            name_end,
                            content: None,
                        });
                    }
                    // `</>` is dropped.
                    Some(b'>') => self.at = lt + 3,
                    Some(_) => self.at = bogus_comment_end(html, lt + 2),
                    None => self.at = bytes.len(),
                },
                Some(b'!') if bytes[lt + 2..].starts_with(b"--") => {
                    self.at = comment_end(html, lt + 4);
                }
                // Doctypes, `<![CDATA[` outside foreign content and other `<!…>` all end at `>`.
                Some(b'!' | b'?') => self.at = bogus_comment_end(html, lt + 2),
                _ => self.at = lt + 1,
            }
        }
    }
}

/// The page's `<script>` start tags, in order; [`Tag::text`] is each one's text.
pub(crate) fn scripts(html: &str) -> impl Iterator<Item = Tag<'_>> {
    Tags::new(html).filter(|tag| tag.kind == TagKind::Start && tag.is("script"))
}

/// Tab, line feed, form feed, carriage return (a line feed once the input is preprocessed) and
/// space.
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// The first `byte` (ASCII) at or after `from`. Through `str::find`, which uses `memchr`.
fn find_byte(html: &str, from: usize, byte: u8) -> Option<usize> {
    html.get(from..)?.find(char::from(byte)).map(|i| from + i)
}

fn tag_name_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && !is_space(bytes[i]) && !matches!(bytes[i], b'/' | b'>') {
        i += 1;
    }
    i
}

/// Walks a tag's attributes from just after its name, calling `visit(name, value)` for each, and
/// returns the offset just past the tag's `>`; `None` when the page ends inside the tag.
fn walk_attributes(
    bytes: &[u8],
    mut i: usize,
    mut visit: impl FnMut(Range<usize>, Range<usize>),
) -> Option<usize> {
    loop {
        // Before an attribute name: spaces and stray `/` are skipped (`/>` ends the tag, since
        // the self-closing flag does not matter here).
        loop {
            match *bytes.get(i)? {
                b'>' => return Some(i + 1),
                b if is_space(b) || b == b'/' => i += 1,
                _ => break,
            }
        }
        let name_start = i;
        // The first character belongs to the name even when it is `=`.
        i += 1;
        while i < bytes.len() && !is_space(bytes[i]) && !matches!(bytes[i], b'/' | b'>' | b'=') {
            i += 1;
        }
        let name = name_start..i;
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        let mut value = i..i;
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            while i < bytes.len() && is_space(bytes[i]) {
                i += 1;
            }
            match *bytes.get(i)? {
                quote @ (b'"' | b'\'') => {
                    let close = i + 1 + bytes[i + 1..].iter().position(|&b| b == quote)?;
                    value = i + 1..close;
                    i = close + 1;
                }
                // `name=>`: an empty value; the `>` ends the tag on the next turn.
                b'>' => value = i..i,
                _ => {
                    let start = i;
                    while i < bytes.len() && !is_space(bytes[i]) && bytes[i] != b'>' {
                        i += 1;
                    }
                    if i == bytes.len() {
                        return None;
                    }
                    value = start..i;
                }
            }
        }
        visit(name, value);
    }
}

/// Whether `bytes[lt..]` starts with `</{name}` followed by a space, `/` or `>` (what ends a
/// raw-text element).
fn is_end_tag(bytes: &[u8], lt: usize, name: &[u8]) -> bool {
    let after = lt + 2 + name.len();
    bytes.get(lt..lt + 2) == Some(b"</")
        && bytes
            .get(lt + 2..after)
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
        && bytes
            .get(after)
            .is_some_and(|&b| is_space(b) || b == b'/' || b == b'>')
}

/// Offset of the `<` of the first `</{name}` end tag at or after `from` (raw text and RCDATA).
fn end_tag_from(html: &str, from: usize, name: &[u8]) -> Option<usize> {
    let bytes = html.as_bytes();
    let mut at = from;
    loop {
        let lt = find_byte(html, at, b'<')?;
        if is_end_tag(bytes, lt, name) {
            return Some(lt);
        }
        at = lt + 1;
    }
}

/// Offset of the `<` of the `</script` that ends script data starting at `from`. Inside an
/// escape (`<!--`), a nested `<script>` starts a double escape in which `</script>` does not end
/// the script; `-->` leaves the escape.
fn script_data_end(html: &str, from: usize) -> Option<usize> {
    let bytes = html.as_bytes();
    let mut at = from;
    loop {
        let lt = find_byte(html, at, b'<')?;
        if is_end_tag(bytes, lt, b"script") {
            return Some(lt);
        }
        if bytes[lt + 1..].starts_with(b"!--") {
            match escaped_script_data(bytes, lt + 4)? {
                Escape::Ended(lt) => return Some(lt),
                Escape::Left(resume) => at = resume,
            }
        } else {
            at = lt + 1;
        }
    }
}

enum Escape {
    /// The script ends at this `</script`.
    Ended(usize),
    /// `-->` left the escape; script data resumes here.
    Left(usize),
}

/// The script data escaped states of the HTML tokenizer, from just after `<!--`. Rare in practice,
/// so this goes byte by byte.
fn escaped_script_data(bytes: &[u8], mut i: usize) -> Option<Escape> {
    let mut double = false;
    // `<!--` leaves the tokenizer in the "escaped dash dash" state: `<!-->` is already closed.
    let mut dashes = 2u8;
    while i < bytes.len() {
        match bytes[i] {
            b'-' => {
                dashes = (dashes + 1).min(2);
                i += 1;
            }
            b'>' if dashes == 2 => return Some(Escape::Left(i + 1)),
            b'<' => {
                dashes = 0;
                if !double && is_end_tag(bytes, i, b"script") {
                    return Some(Escape::Ended(i));
                }
                // `<script` (escaped) starts a double escape, `</script` (double escaped) ends it,
                // when followed by a space, `/` or `>`.
                let word = match (double, bytes.get(i + 1)) {
                    (false, _) => i + 1,
                    (true, Some(b'/')) => i + 2,
                    (true, _) => {
                        i += 1;
                        continue;
                    }
                };
                let mut end = word;
                while end < bytes.len() && bytes[end].is_ascii_alphabetic() {
                    end += 1;
                }
                let delimited = bytes
                    .get(end)
                    .is_some_and(|&b| is_space(b) || b == b'/' || b == b'>');
                if delimited && bytes[word..end].eq_ignore_ascii_case(b"script") {
                    double = !double;
                }
                // The delimiter is consumed by the same state, so it is not a `>` that closes.
                i = if delimited { end + 1 } else { end.max(i + 1) };
            }
            _ => {
                dashes = 0;
                i += 1;
            }
        }
    }
    None
}

/// Just past the `-->` (or `--!>`, `<!-->`, `<!--->`) of a comment whose text starts at `from`;
/// the end of the page when it never closes.
fn comment_end(html: &str, from: usize) -> usize {
    let bytes = html.as_bytes();
    match bytes.get(from..) {
        Some([b'>', ..]) => return from + 1,
        Some([b'-', b'>', ..]) => return from + 2,
        _ => {}
    }
    let mut at = from;
    while let Some(dashes) = html.get(at..).and_then(|rest| rest.find("--")) {
        let dashes = at + dashes;
        match bytes.get(dashes + 2..) {
            Some([b'>', ..]) => return dashes + 3,
            Some([b'!', b'>', ..]) => return dashes + 4,
            _ => at = dashes + 1,
        }
    }
    bytes.len()
}

/// Just past the `>` that ends a bogus comment (or doctype) started before `from`.
fn bogus_comment_end(html: &str, from: usize) -> usize {
    find_byte(html, from, b'>').map_or(html.len(), |gt| gt + 1)
}

/// How deep elements may nest in HTML handed to html5ever (see [`limit_nesting`]). Job pages
/// and descriptions nest a few dozen levels at most.
pub(crate) const MAX_NESTING: usize = 100;

/// How many formatting elements (`b`, `i`, `a`, `font`, …) may be open at once (see
/// [`limit_nesting`]).
pub(crate) const MAX_OPEN_FORMATTING: usize = 16;

/// Elements without an end tag: they never stay open.
const VOID_ELEMENTS: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input",
    "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// The formatting elements html5ever keeps in its list of active formatting elements and
/// reopens at every new block while they are open.
const FORMATTING_ELEMENTS: &[&str] = &[
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
];

/// Phrasing elements that are not "special" to the HTML tree builder: closing one never
/// closes a special element above it (html5ever gives up instead).
const PHRASING: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em", "font", "i",
    "ins", "kbd", "label", "mark", "nobr", "q", "s", "samp", "small", "span", "strike", "strong",
    "sub", "sup", "time", "tt", "u", "var",
];

/// The boundaries of html5ever's default scope: an end tag does not close an element below one.
const DEFAULT_SCOPE: &[&str] = &[
    "applet", "caption", "html", "table", "td", "th", "marquee", "object", "template",
];

/// Parts of a table whose end (or start) tags close everything open inside the table.
const TABLE_PARTS: &[&str] = &[
    "caption", "colgroup", "tbody", "thead", "tfoot", "tr", "td", "th",
];

/// End tags html5ever does not close anything for.
const NOTHING_CLOSED: &[&str] = &["body", "html", "br", "head"];

/// Start tags html5ever does not open an element for once the body has started (their
/// attributes go to the existing element).
const IGNORED_START: &[&str] = &["html", "head", "body", "frameset", "frame"];

/// Elements that put a marker on the list of active formatting elements: formatting elements
/// opened inside one are not reopened outside it.
const FORMATTING_MARKERS: &[&str] = &[
    "applet", "caption", "marquee", "object", "td", "th", "template",
];

/// How far down the open elements a tag looks for the element it closes; past that the tag is
/// taken to close nothing, which can only make the count deeper than html5ever's tree.
const CLOSE_SEARCH: usize = 64;

fn is_one_of(name: &str, names: &[&str]) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Looking down the open elements for what a tag closes: this one, or go on, or stop.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Match,
    Next,
    Stop,
}

/// What a start tag `tag` does to the open element `open` on its way down the stack: the
/// elements that a start tag closes when one is open (`<li>a<li>b`, `<p>a<p>b`, `<td>a<td>`,
/// `<a>` in `<a>`, `<option>` in `<option>`), and how far it looks, approximately as html5ever.
/// `None` when `tag` closes nothing.
fn start_tag_closes(tag: &str, open: &str) -> Option<Step> {
    let is = |names: &[&str], n: &str| is_one_of(n, names);
    let same = |names: &[&str]| is(names, tag) && is(names, open);
    let step = |matched: bool, go_on: bool| {
        if matched {
            Step::Match
        } else if go_on {
            Step::Next
        } else {
            Step::Stop
        }
    };
    let table_edge = |n: &str| is(&["table", "html", "template"], n);
    Some(if is(&["li"], tag) {
        step(
            same(&["li"]),
            is(PHRASING, open) || is(&["div", "p", "address"], open),
        )
    } else if is(&["dt", "dd"], tag) {
        step(
            same(&["dt", "dd"]),
            is(PHRASING, open) || is(&["div", "p", "address"], open),
        )
    } else if is(&["p"], tag) {
        step(
            same(&["p"]),
            !is(DEFAULT_SCOPE, open) && !is(&["button"], open),
        )
    } else if is(&["td", "th"], tag) {
        step(same(&["td", "th"]), !table_edge(open))
    } else if is(&["tr"], tag) {
        step(same(&["tr"]), !table_edge(open))
    } else if is(&["tbody", "thead", "tfoot"], tag) {
        step(same(&["tbody", "thead", "tfoot"]), !table_edge(open))
    } else if is(&["a"], tag) {
        step(same(&["a"]), is(PHRASING, open))
    } else if is(&["option", "optgroup"], tag) {
        step(is(&["option"], open), false)
    } else if is(&["h1", "h2", "h3", "h4", "h5", "h6"], tag) {
        step(same(&["h1", "h2", "h3", "h4", "h5", "h6"]), false)
    } else {
        return None;
    })
}

/// What an end tag `</tag>` does to the open element `open` on its way down the stack,
/// approximately as html5ever: a table's parts close everything inside the table, a special
/// element everything within html5ever's default scope, a phrasing element only other phrasing
/// elements.
fn end_tag_closes(tag: &str, open: &str) -> Step {
    let is = |names: &[&str], n: &str| is_one_of(n, names);
    if open.eq_ignore_ascii_case(tag) {
        return Step::Match;
    }
    let go_on = if is(&["table"], tag) {
        !is(&["html", "template"], open)
    } else if is(TABLE_PARTS, tag) {
        !is(&["html", "template", "table"], open)
    } else if is(PHRASING, tag) {
        is(PHRASING, open)
    } else {
        // html5ever's default scope, plus lists for `</li>` and buttons for `</p>`.
        let boundary = is(DEFAULT_SCOPE, open)
            || (is(&["li"], tag) && is(&["ul", "ol"], open))
            || (is(&["p"], tag) && is(&["button"], open));
        !boundary
    };
    if go_on { Step::Next } else { Step::Stop }
}

/// `html` with the start and end tags of elements nested deeper than `max_depth` (or opened
/// while `max_formatting` formatting elements are already open) left out, keeping all text; the
/// page itself (borrowed) when nothing is that deep.
///
/// html5ever looks through its stack of open elements for most start tags, and reopens every
/// open formatting element at each new block, so markup nested N deep costs O(N²) to parse:
/// 1.5 MB of nested `<div>`s took seconds. This pass is linear (one [`Tags`] scan; each open
/// element is pushed and popped once; a tag looks at most [`CLOSE_SEARCH`] elements
/// down) and keeps its own stack of open elements, approximately as html5ever builds it: void
/// elements never open; an end tag closes up to the nearest open element of its name when
/// html5ever would (see [`end_tag_closes`]) and nothing otherwise; `<li>`, `<p>`, `<td>` and the
/// like close an open sibling (see [`start_tag_closes`]). Each rule errs towards closing less
/// than html5ever, so the count is deeper than the tree where they differ; what it
/// does not count are the elements html5ever adds by itself (`html`, `body`, a table's `tbody`
/// and `tr`, the formatting elements it reopens at each block) and a raw-text element such as a
/// `<script>` (kept with its text whatever the depth): the tree html5ever builds is a small
/// multiple of `max_depth` deep at most, however long the page.
pub(crate) fn limit_nesting(html: &str, max_depth: usize, max_formatting: usize) -> Cow<'_, str> {
    let mut model = OpenElements::default();
    let mut out = String::new();
    let mut copied = 0;
    let mut leave_out = |tag: &Tag<'_>| {
        out.push_str(&html[copied..tag.start]);
        copied = tag.end;
    };
    for tag in Tags::new(html) {
        let name = tag.name();
        match tag.kind {
            TagKind::Start => {
                if is_one_of(name, VOID_ELEMENTS) || is_one_of(name, IGNORED_START) {
                    continue;
                }
                // Outside a table html5ever ignores the table's parts.
                if is_one_of(name, TABLE_PARTS) && !model.is_open("table") {
                    continue;
                }
                model.close_for_start_tag(name);
                let formatting = is_one_of(name, FORMATTING_ELEMENTS);
                let kept = content_of(name).is_some()
                    || (model.depth < max_depth
                        && !(formatting && model.active_formatting() >= max_formatting));
                if !kept {
                    leave_out(&tag);
                }
                model.open(name, kept);
                if kept && formatting {
                    model.activate_formatting(&tag);
                }
            }
            TagKind::End => {
                if is_one_of(name, FORMATTING_ELEMENTS) {
                    model.deactivate_formatting(name);
                }
                if let Some(false) = model.close_for_end_tag(name) {
                    leave_out(&tag);
                }
            }
        }
    }
    if copied == 0 {
        return Cow::Borrowed(html);
    }
    out.push_str(&html[copied..]);
    Cow::Owned(out)
}

/// [`limit_nesting`]'s model of html5ever's stack of open elements and list of active
/// formatting elements.
#[derive(Default)]
struct OpenElements<'a> {
    /// Open elements, innermost last: name, and whether its tags were kept.
    stack: Vec<(&'a str, bool)>,
    /// Open elements by [`name_key`], so an end tag with nothing to close costs nothing.
    by_name: std::collections::HashMap<u64, usize>,
    /// Kept elements on the stack.
    depth: usize,
    /// Formatting elements html5ever would reopen at the next block (as written, so identical
    /// ones can be told apart), with `None` for the markers table cells and the like put down.
    formatting: Vec<Option<&'a str>>,
}

impl<'a> OpenElements<'a> {
    fn is_open(&self, name: &str) -> bool {
        self.by_name.get(&name_key(name)).is_some_and(|n| *n > 0)
    }

    fn open(&mut self, name: &'a str, kept: bool) {
        self.stack.push((name, kept));
        *self.by_name.entry(name_key(name)).or_default() += 1;
        self.depth += usize::from(kept);
        if is_one_of(name, FORMATTING_MARKERS) {
            self.formatting.push(None);
        }
    }

    fn pop(&mut self) -> Option<(&'a str, bool)> {
        let (name, kept) = self.stack.pop()?;
        if let Some(n) = self.by_name.get_mut(&name_key(name)) {
            *n = n.saturating_sub(1);
        }
        self.depth -= usize::from(kept);
        if is_one_of(name, FORMATTING_MARKERS)
            && let Some(marker) = self.formatting.iter().rposition(Option::is_none)
        {
            self.formatting.truncate(marker);
        }
        Some((name, kept))
    }

    /// Closes what the start tag `name` closes (see [`start_tag_closes`]).
    fn close_for_start_tag(&mut self, name: &str) {
        if start_tag_closes(name, "").is_none() {
            return;
        }
        let closed = self
            .stack
            .iter()
            .rev()
            .take(CLOSE_SEARCH)
            .map(|(open, _)| start_tag_closes(name, open).unwrap_or(Step::Stop))
            .take_while(|step| *step != Step::Stop)
            .position(|step| step == Step::Match);
        if let Some(above) = closed {
            for _ in 0..=above {
                self.pop();
            }
        }
    }

    /// Closes what the end tag `name` closes (see [`end_tag_closes`]); whether the element it
    /// closed was kept, `None` when it closes nothing.
    fn close_for_end_tag(&mut self, name: &str) -> Option<bool> {
        if !self.is_open(name) || is_one_of(name, NOTHING_CLOSED) {
            return None;
        }
        let at = self
            .stack
            .iter()
            .rev()
            .take(CLOSE_SEARCH)
            .map(|(open, _)| end_tag_closes(name, open))
            .take_while(|step| *step != Step::Stop)
            .position(|step| step == Step::Match)?;
        if name.eq_ignore_ascii_case("form") {
            // html5ever takes the form off the stack and leaves what is open inside it open.
            let (_, kept) = self.stack.remove(self.stack.len() - 1 - at);
            if let Some(n) = self.by_name.get_mut(&name_key("form")) {
                *n = n.saturating_sub(1);
            }
            self.depth -= usize::from(kept);
            return Some(kept);
        }
        for _ in 0..at {
            self.pop();
        }
        self.pop().map(|(_, kept)| kept)
    }

    /// Formatting elements after the last marker: those html5ever would reopen.
    fn active_formatting(&self) -> usize {
        self.formatting
            .iter()
            .rev()
            .take_while(|f| f.is_some())
            .count()
    }

    /// A formatting element opens; as in html5ever, a fourth identical one (same tag as
    /// written) since the last marker pushes the earliest out.
    fn activate_formatting(&mut self, tag: &Tag<'a>) {
        let written = tag.as_str();
        let since_marker = self
            .formatting
            .iter()
            .rposition(Option::is_none)
            .map_or(0, |m| m + 1);
        let identical: Vec<usize> = (since_marker..self.formatting.len())
            .filter(|&i| self.formatting[i].is_some_and(|f| f.eq_ignore_ascii_case(written)))
            .collect();
        if identical.len() >= 3 {
            self.formatting.remove(identical[0]);
        }
        self.formatting.push(Some(written));
    }

    /// The end tag of a formatting element takes the latest one of its name since the last
    /// marker off the list (html5ever's adoption agency does, whatever else it does).
    fn deactivate_formatting(&mut self, name: &str) {
        let found = self
            .formatting
            .iter()
            .rev()
            .take_while(|f| f.is_some())
            .position(|f| f.is_some_and(|f| tag_name_is(f, name)));
        if let Some(from_end) = found {
            self.formatting.remove(self.formatting.len() - 1 - from_end);
        }
    }
}

/// A tag name's key, ASCII case-insensitively (FNV-1a, without allocating): two names sharing
/// a key only make [`OpenElements::is_open`] look further than it needs to.
fn name_key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Whether `written` (a start tag as written) is a tag named `name`.
fn tag_name_is(written: &str, name: &str) -> bool {
    let bytes = written.as_bytes();
    let end = tag_name_end(bytes, 1);
    written[1..end].eq_ignore_ascii_case(name)
}

/// Text appended after the element looked for by [`inner_html_by_id`]: where the parser puts it
/// tells whether the element was closed before it.
const SENTINEL: &str = "\u{E000}jobintel-end-of-slice\u{E000}";

/// The inner HTML of the first element whose `id` is `id`, exactly as
/// `Html::parse_document(html)` would give it (`select("#id").next()?.inner_html()`), without
/// parsing the whole page.
///
/// The element's subtree depends on everything before it (open elements, formatting elements to
/// reconstruct, tables) but on nothing after its end tag, and a raw-text element's body affects
/// nothing but its own text. So html5ever parses a skeleton: the page up to the element with the
/// bodies of scripts and styles left out, the element as written, and a sentinel text after the
/// end tag that closes it by count. If that end tag really closed the element the sentinel lands
/// outside it and the element's subtree is the one the full page gives; otherwise (misnested
/// markup that the count got wrong, an element that never closes) the whole page is parsed.
pub(crate) fn inner_html_by_id(html: &str, id: &str) -> Option<String> {
    let mut tags = Tags::new(html);
    let mut skeleton = String::new();
    let mut copied = 0;
    let element = loop {
        let tag = tags.next()?;
        let might_be_it = tag.kind == TagKind::Start && {
            let written = tag.as_str();
            written.contains(id) || written.contains('&')
        };
        if might_be_it && tag.attr("id").as_deref() == Some(id) {
            break tag;
        }
        if let Some((from, to)) = tag.content {
            skeleton.push_str(&html[copied..from]);
            copied = to;
        }
    };
    let Some(end) = end_by_count(&mut tags, element.name()) else {
        return inner_html_in_document(&Html::parse_document(html), id);
    };
    // A later `<body>` or `<html>` start tag adds its attributes to the element created long
    // before: with this `id`, that element would be the first to have it.
    if tags.any(|tag| {
        tag.kind == TagKind::Start
            && (tag.is("body") || tag.is("html"))
            && tag.attr("id").as_deref() == Some(id)
    }) {
        return inner_html_in_document(&Html::parse_document(html), id);
    }
    skeleton.push_str(&html[copied..end]);
    skeleton.push_str(SENTINEL);
    let document = Html::parse_document(&skeleton);
    let found = first_with_id(&document, id);
    let sentinel_outside = document.tree.nodes().any(|node| {
        matches!(node.value(), Node::Text(t) if t.contains(SENTINEL))
            && !found.is_some_and(|e| node.ancestors().any(|a| a.id() == e.id()))
    });
    let sentinel_inside = found.is_some_and(|e| {
        e.descendants()
            .any(|node| matches!(node.value(), Node::Text(t) if t.contains(SENTINEL)))
    });
    if sentinel_outside && !sentinel_inside {
        found.map(|e| e.inner_html())
    } else {
        inner_html_in_document(&Html::parse_document(html), id)
    }
}

/// Just past the end tag that brings the count of `name` start and end tags after an element's
/// start tag back to zero; `None` when the page ends first. Void elements end at once.
fn end_by_count(tags: &mut Tags<'_>, name: &str) -> Option<usize> {
    const VOID: &[&str] = &[
        "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input",
        "keygen", "link", "meta", "param", "source", "track", "wbr",
    ];
    if VOID.iter().any(|v| v.eq_ignore_ascii_case(name)) {
        return Some(tags.at);
    }
    let mut depth = 1usize;
    for tag in tags {
        if !tag.is(name) {
            continue;
        }
        match tag.kind {
            TagKind::Start => depth += 1,
            TagKind::End => {
                depth -= 1;
                if depth == 0 {
                    return Some(tag.end);
                }
            }
        }
    }
    None
}

fn first_with_id<'a>(document: &'a Html, id: &str) -> Option<ElementRef<'a>> {
    // `Html::select` walks the nodes in this (creation) order too.
    document
        .tree
        .nodes()
        .filter_map(ElementRef::wrap)
        .find(|e| e.value().id() == Some(id))
}

fn inner_html_in_document(document: &Html, id: &str) -> Option<String> {
    first_with_id(document, id).map(|e| e.inner_html())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::Selector;

    /// `(name, kind)` of every tag.
    fn tags(html: &str) -> Vec<(String, TagKind)> {
        Tags::new(html)
            .map(|t| (t.name().to_ascii_lowercase(), t.kind))
            .collect()
    }

    fn start_names(html: &str) -> Vec<String> {
        tags(html)
            .into_iter()
            .filter(|(_, k)| *k == TagKind::Start)
            .map(|(n, _)| n)
            .collect()
    }

    /// The text of every script, as the scan gives it.
    fn script_texts(html: &str) -> Vec<String> {
        Tags::new(html)
            .filter(|t| t.kind == TagKind::Start && t.is("script"))
            .map(|t| t.text().unwrap().into_owned())
            .collect()
    }

    /// The text of every script, as the DOM gives it.
    fn dom_script_texts(html: &str) -> Vec<String> {
        let document = Html::parse_document(html);
        let scripts = Selector::parse("script").unwrap();
        document
            .select(&scripts)
            .map(|s| s.text().collect())
            .collect()
    }

    /// Pages on which the scan and html5ever must agree about scripts and attributes.
    const TRICKY: &[&str] = &[
        r#"<script type="application/ld+json">{"a":1}</script>"#,
        r#"<SCRIPT TYPE="application/ld+json">{"a":1}</SCRIPT >"#,
        r#"<script type='application/ld+json'>1</script><script type=application/ld+json>2</script>"#,
        r#"<script data-x="a>b" type="t">x</script>"#,
        "<script>a</ScRiPt\n>b",
        "<script>a</scripts>b</script>c",
        "<script>never closed",
        "<!-- <script>in a comment</script> --><script>real</script>",
        "<!--> <script>after an empty comment</script>",
        "<!---> <script>after an empty comment</script>",
        "<!-- a --!> <script>after --!></script>",
        "<style><script>not a script</script></style><script>s</script>",
        "<textarea><script>not a script</script></textarea><title><script>no</script></title>",
        "<noscript><script>raw text</script></noscript><script>yes</script>",
        "<script>if (a<b) x = '<!--'; y = '-->'</script><script>2</script>",
        "<script><!-- document.write('<script>x</script>'); --></script><script>2</script>",
        "<script><!-- <script> </script> --></script>tail<script>3</script>",
        "<script><!--<script></script>--><script>4</script>",
        "<script>a\r\nb\rc\0d</script>",
        r#"<div title="<script>no</script>"><script>yes</script></div>"#,
        "<p>a < b and c<d</p><script>s</script>",
        "<?xml version=\"1.0\"?><!DOCTYPE html><script>s</script>",
        "</ div><script>s</script></>",
        "<script/type=x>s</script><script type=x/>t</script>",
        "<script type=\"x\"y=\"z\">s</script>",
        "<scrip>x</scrip><scripts>y</scripts><script>z</script>",
        "<xmp><script>x</script></xmp><iframe><script>y</script></iframe>",
        "<script ",
        "<plaintext><script>x</script>",
    ];

    #[test]
    fn script_texts_match_the_dom() {
        for html in TRICKY {
            assert_eq!(script_texts(html), dom_script_texts(html), "{html}");
        }
    }

    #[test]
    fn type_attributes_match_the_dom() {
        let pages = [
            r#"<script type="a&amp;b">x</script>"#,
            r#"<script type="a&ampb">x</script>"#,
            r#"<script type=a&copy=b>x</script>"#,
            "<script type=\"l1\r\nl2\">x</script>",
            r#"<script type="first" type="second">x</script>"#,
            r#"<script TYPE = "spaced" >x</script>"#,
            "<script type>x</script>",
            r#"<script type="application&#47;ld+json">x</script>"#,
        ];
        let scripts = Selector::parse("script").unwrap();
        for html in TRICKY.iter().chain(&pages) {
            let document = Html::parse_document(html);
            let dom: Vec<Option<String>> = document
                .select(&scripts)
                .map(|s| s.value().attr("type").map(str::to_owned))
                .collect();
            let scanned: Vec<Option<String>> = Tags::new(html)
                .filter(|t| t.kind == TagKind::Start && t.is("script"))
                .map(|t| t.attr("type").map(Cow::into_owned))
                .collect();
            assert_eq!(scanned, dom, "{html}");
        }
    }

    #[test]
    fn tags_come_in_order_with_their_kind() {
        assert_eq!(
            tags("<A href=x>t</a><br/>"),
            [
                ("a".into(), TagKind::Start),
                ("a".into(), TagKind::End),
                ("br".into(), TagKind::Start)
            ]
        );
    }

    #[test]
    fn a_quoted_greater_than_sign_does_not_end_a_tag() {
        assert_eq!(
            start_names(r#"<a title="1 > 0" href='>'>x</a><b>"#),
            ["a", "b"]
        );
    }

    #[test]
    fn comments_doctypes_and_bogus_comments_hide_their_contents() {
        // A bogus comment ends at the first `>`, even one that looks like it closes a tag inside;
        // `<e` is an attribute of the end tag `</x`.
        let html = "<!DOCTYPE html><!-- <a> --><!-- --!><b><!x <c>><? <d> ?><i></x <e>>";
        assert_eq!(start_names(html), ["b", "i"]);
        assert_eq!(start_names("<!-- never closed <a>"), Vec::<String>::new());
    }

    #[test]
    fn a_tag_cut_off_by_the_end_of_the_page_is_dropped() {
        assert_eq!(start_names(r#"<a><b title="x>"#), ["a"]);
        assert_eq!(start_names("<a><b c=d"), ["a"]);
    }

    #[test]
    fn attributes_are_found_by_lower_case_name_first_one_winning() {
        let tag = Tags::new(r#"<div ID="one" id="two" Data-X=y empty>"#)
            .next()
            .unwrap();
        assert_eq!(tag.attr("id").as_deref(), Some("one"));
        assert_eq!(tag.attr("data-x").as_deref(), Some("y"));
        assert_eq!(tag.attr("empty").as_deref(), Some(""));
        assert_eq!(tag.attr("missing"), None);
    }

    #[test]
    fn only_raw_text_elements_have_text() {
        let mut tags = Tags::new("<div>x</div><style>a{}</style><title>t</title>");
        assert_eq!(tags.next().unwrap().text(), None);
        assert_eq!(tags.next().unwrap().text(), None, "the end tag");
        assert_eq!(tags.next().unwrap().text().as_deref(), Some("a{}"));
        assert_eq!(tags.next().unwrap().text(), None, "the end tag");
        assert_eq!(tags.next().unwrap().text(), None, "RCDATA is not returned");
    }

    fn dom_inner_html(html: &str, id: &str) -> Option<String> {
        inner_html_in_document(&Html::parse_document(html), id)
    }

    #[test]
    fn inner_html_by_id_matches_the_dom() {
        let pages = [
            r#"<div id="d"><p>a<b>b</b></p></div><div id="d">second</div>"#,
            r#"<html><head><script>var s = '<div id="d">not this</div>';</script>
               <style>#d { x: "<div id=d>" }</style></head>
               <body><!-- <div id="d">nor this</div> --><div class=x id="d"><div>in</div>
               <script>inside()</script><style>p{}</style>tail</div><p>after</p></body></html>"#,
            // Nested elements of the same name, unclosed children, misnesting.
            r#"<div id="d"><div><div>x</div></div><p>unclosed<li>item</div>after"#,
            r#"<div id="d"><b>bold<div>block</b>more</div>rest</div>tail"#,
            // A formatting element left open before the element is reconstructed inside it.
            r#"<p><b>x</p><div id="d">text</div>"#,
            // Inside a table cell; a stray cell start and end inside the element.
            r#"<table><tr><td><div id="d">a</td><td>b</div></td></tr></table>"#,
            // Inside a list item, a bare li in the element closes it.
            r#"<ul><li><div id="d">a<li>b</div></ul>"#,
            // Never closed.
            r#"<div id="d">a<div>b"#,
            // Another element, a void element, an entity in the id.
            r#"<p id="d">one<p>two"#,
            r#"<br id="d"><div id="d">x</div>"#,
            r#"<section id="d&#x20;">no</section><section id="&#100;">yes</section>"#,
            "<div>no id here</div>",
            // A textarea before the element (RCDATA stays in the skeleton).
            r#"<textarea></textarea><div id="d">x</div><textarea><div id="d"></textarea>"#,
        ];
        for html in pages {
            assert_eq!(
                inner_html_by_id(html, "d"),
                dom_inner_html(html, "d"),
                "{html}"
            );
        }
    }

    /// Pages stitched at random from pieces that change how HTML is tokenised or built (foreign
    /// content, the known simplification, is left out): the scan must agree with html5ever on
    /// every one.
    #[test]
    fn random_pages_are_read_like_the_dom() {
        const PIECES: &[&str] = &[
            "<script>",
            "</script>",
            "<script type=\"application/ld+json\">",
            "<SCRIPT type=a&amp;b>",
            "</script ",
            "<!--",
            "-->",
            "--!>",
            "<!-",
            "<style>",
            "</style>",
            "<div id=\"d\">",
            "<div id=d class='x>y'>",
            "<div>",
            "</div>",
            "</DIV>",
            "<p>",
            "</p>",
            "<b>",
            "</b>",
            "<i>",
            "<table>",
            "<tr>",
            "<td>",
            "</td>",
            "</table>",
            "<ul>",
            "<li>",
            "</ul>",
            "<textarea>",
            "</textarea>",
            "<title>",
            "</title>",
            "<noscript>",
            "</noscript>",
            "<template>",
            "</template>",
            "<a href=x>",
            "</a>",
            "<form>",
            "<button>",
            "<h2>",
            "</h2>",
            "<span>",
            "</span>",
            "<br>",
            "<xmp>",
            "</xmp>",
            "<!DOCTYPE html>",
            "<body id=\"d\">",
            "x",
            "{\"a\":1}",
            "\"",
            "'",
            ">",
            "<",
            "</",
            "<!",
            "-",
            "=",
            " ",
            "\r\n",
            "&amp;",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..3000 {
            let len = 1 + next(24);
            let html: String = (0..len).map(|_| PIECES[next(PIECES.len())]).collect();
            assert_eq!(script_texts(&html), dom_script_texts(&html), "{html:?}");
            assert_eq!(
                inner_html_by_id(&html, "d"),
                dom_inner_html(&html, "d"),
                "{html:?}"
            );
        }
    }

    /// The deepest element of `html` as html5ever parses it (walked without recursion).
    fn dom_depth(html: &str) -> usize {
        let document = Html::parse_document(html);
        document
            .tree
            .nodes()
            .filter(|n| n.value().is_element())
            .map(|n| n.ancestors().count())
            .max()
            .unwrap_or(0)
    }

    fn dom_text(html: &str) -> String {
        Html::parse_document(html).root_element().text().collect()
    }

    #[test]
    fn ordinary_markup_is_not_touched() {
        let pages = [
            "<html><body><div><p>a<p>b<ul><li>x<li>y</ul><table><tr><td>1<td>2</table></div>",
            &format!("<ul>{}</ul>", "<li>item".repeat(1_000)),
            &"<p>paragraph".repeat(1_000),
            &format!("<select>{}</select>", "<option>o".repeat(500)),
            &"<br><img src=x><hr>".repeat(500),
            &"<div></div>".repeat(1_000),
        ];
        for html in pages {
            assert!(
                matches!(limit_nesting(html, 20, 8), Cow::Borrowed(_)),
                "{}",
                &html[..80.min(html.len())]
            );
        }
    }

    #[test]
    fn elements_past_the_depth_cap_lose_their_tags_but_not_their_text() {
        let html = format!(
            "{}deep{}<p>after</p>",
            "<div class=x>".repeat(300),
            "</div>".repeat(300)
        );
        let limited = limit_nesting(&html, 100, 16);
        assert_eq!(limited.matches("<div").count(), 100);
        assert_eq!(limited.matches("</div>").count(), 100);
        assert!(limited.ends_with("</div><p>after</p>"), "{limited}");
        assert_eq!(dom_text(&limited), dom_text(&html));
        assert!(dom_depth(&limited) <= 100 + 3, "{}", dom_depth(&limited));
    }

    #[test]
    fn open_formatting_elements_are_capped() {
        let html = format!(
            "{}{}",
            (0..50).map(|i| format!("<b id=b{i}>")).collect::<String>(),
            "<p>x</p>".repeat(10)
        );
        let limited = limit_nesting(&html, 100, 16);
        assert_eq!(limited.matches("<b ").count(), 16);
        assert_eq!(limited.matches("<p>").count(), 10);
    }

    #[test]
    fn scripts_past_the_cap_keep_their_tags_and_text() {
        let html = format!(
            "{}<script>if (a<b) {{ x('<div>') }}</script>{}",
            "<div>".repeat(10),
            "</div>".repeat(10)
        );
        let limited = limit_nesting(&html, 5, 4);
        assert_eq!(script_texts(&limited), script_texts(&html));
        assert_eq!(limited.matches("<div>").count(), 5 + 1, "{limited}");
    }

    #[test]
    fn stray_and_misnested_end_tags_keep_the_count_right() {
        // `</span>` with no open span is ignored; `</div>` closes the `b` left open inside it.
        let html = format!("{}{}", "</span><div><b>x</div>".repeat(200), "<i>y</i>");
        assert!(matches!(limit_nesting(&html, 3, 16), Cow::Borrowed(_)));
    }

    #[test]
    fn random_pages_parse_no_deeper_than_a_small_multiple_of_the_cap() {
        const PIECES: &[&str] = &[
            "<div>",
            "</div>",
            "<p>",
            "</p>",
            "<b>",
            "</b>",
            "<i class=x>",
            "<table>",
            "<tr>",
            "<td>",
            "</td>",
            "</table>",
            "<ul>",
            "<li>",
            "</ul>",
            "<span>",
            "</span>",
            "<a href=x>",
            "</a>",
            "<h2>",
            "<section>",
            "<script>",
            "</script>",
            "<!--",
            "-->",
            "x",
            " ",
            "<br>",
            "<select>",
            "<option>",
            "<dl>",
            "<dt>",
            "<dd>",
            "<font>",
            "<em>",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut deepest = 0;
        for _ in 0..300 {
            let len = 50 + next(2_000);
            let html: String = (0..len).map(|_| PIECES[next(PIECES.len())]).collect();
            let limited = limit_nesting(&html, 10, 4);
            let depth = dom_depth(&limited);
            deepest = deepest.max(depth);
            // html5ever adds `html`, `body`, tables' `tbody`/`tr` and reopens formatting
            // elements at each block: none of that grows with the page.
            assert!(depth <= 3 * 10 + 4, "depth {depth}: {html:?}");
            assert!(
                matches!(limit_nesting(&html, 10_000, 10_000), Cow::Borrowed(_)),
                "nothing is left out under caps the page cannot reach"
            );
        }
        assert!(deepest > 10, "the pages do nest past the cap ({deepest})");
    }

    #[test]
    fn the_indeed_fixture_description_matches_the_dom() {
        let html = String::from_utf8(crate::sources::test_support::read_fixture(
            "indeed/indeed_viewjob_page.html",
        ))
        .unwrap();
        let id = "jobDescriptionText";
        let inner = inner_html_by_id(&html, id);
        assert!(inner.as_deref().is_some_and(|h| h.contains("Keep p99")));
        assert_eq!(inner, dom_inner_html(&html, id));
    }
}
