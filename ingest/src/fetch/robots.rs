//! A small robots.txt parser and matcher following RFC 9309 (plus the common `Crawl-delay`
//! extension).
//!
//! - Groups start with one or more `User-agent` lines; the groups naming our product token
//!   (case-insensitively) apply, merged; if none does, the `*` groups apply; if there are none of
//!   those either, everything is allowed.
//! - `Allow`/`Disallow` patterns match the path and query as prefixes; `*` matches any sequence
//!   and a trailing `$` anchors the end. The longest matching pattern wins; on a tie between an
//!   allow and a disallow rule, allow wins. An empty `Disallow:` allows everything.
//! - Paths and patterns are compared after percent-encoding normalisation (unreserved characters
//!   decoded, other escapes upper-cased, non-ASCII bytes encoded).

use std::time::Duration;

/// A parsed robots.txt file.
#[derive(Debug, Clone, Default)]
pub struct RobotsTxt {
    groups: Vec<Group>,
}

#[derive(Debug, Clone, Default)]
struct Group {
    /// Lower-cased product tokens (or `*`).
    agents: Vec<String>,
    rules: Vec<Rule>,
    crawl_delay: Option<Duration>,
}

#[derive(Debug, Clone)]
struct Rule {
    allow: bool,
    /// The pattern as written, for messages.
    raw: String,
    /// The normalised pattern without a trailing `$`.
    pattern: Vec<u8>,
    /// Whether the pattern ended in `$`.
    anchored: bool,
}

impl Rule {
    fn new(allow: bool, raw: &str) -> Self {
        let (body, anchored) = match raw.strip_suffix('$') {
            Some(body) => (body, true),
            None => (raw, false),
        };
        Rule {
            allow,
            raw: raw.to_owned(),
            pattern: normalize(body.as_bytes()),
            anchored,
        }
    }

    /// Length used for "longest match wins": the pattern as written.
    fn priority(&self) -> usize {
        self.raw.len()
    }

    fn matches(&self, path: &[u8]) -> bool {
        glob_matches(&self.pattern, self.anchored, path)
    }
}

/// The rules that apply to one crawler, extracted from a [`RobotsTxt`].
#[derive(Debug, Clone, Default)]
pub struct RobotsRules {
    rules: Vec<Rule>,
    crawl_delay: Option<Duration>,
}

impl RobotsTxt {
    /// Parses robots.txt content. Never fails: unknown lines and malformed rules are ignored,
    /// as RFC 9309 asks.
    pub fn parse(text: &str) -> Self {
        let mut groups: Vec<Group> = Vec::new();
        // Whether the previous group-relevant line was a `User-agent` line (consecutive ones
        // belong to the same group).
        let mut in_agent_lines = false;
        for line in text.trim_start_matches('\u{feff}').lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "user-agent" | "useragent" | "user agent" => {
                    if !in_agent_lines || groups.is_empty() {
                        groups.push(Group::default());
                    }
                    in_agent_lines = true;
                    if let Some(group) = groups.last_mut() {
                        group.agents.push(agent_token(value));
                    }
                }
                "allow" | "disallow" => {
                    in_agent_lines = false;
                    if let Some(group) = groups.last_mut()
                        && !value.is_empty()
                    {
                        group.rules.push(Rule::new(key == "allow", value));
                    }
                }
                "crawl-delay" | "crawl_delay" => {
                    in_agent_lines = false;
                    if let Some(group) = groups.last_mut()
                        && let Ok(seconds) = value.parse::<f64>()
                        && seconds.is_finite()
                        && seconds >= 0.0
                    {
                        group.crawl_delay = Some(Duration::from_secs_f64(seconds.min(86_400.0)));
                    }
                }
                // Sitemap and other records are not part of any group.
                _ => {}
            }
        }
        RobotsTxt { groups }
    }

    /// The rules for the crawler whose product token is `product_token` (e.g. `"jobintel"`):
    /// all groups naming it, else all `*` groups, merged.
    pub fn rules_for(&self, product_token: &str) -> RobotsRules {
        let token = product_token.to_ascii_lowercase();
        let named: Vec<&Group> = self
            .groups
            .iter()
            .filter(|g| g.agents.contains(&token))
            .collect();
        let chosen = if named.is_empty() {
            self.groups
                .iter()
                .filter(|g| g.agents.iter().any(|a| a == "*"))
                .collect()
        } else {
            named
        };
        RobotsRules {
            rules: chosen
                .iter()
                .flat_map(|g| g.rules.iter().cloned())
                .collect(),
            crawl_delay: chosen.iter().filter_map(|g| g.crawl_delay).max(),
        }
    }
}

/// The product token of a `User-agent` value: its leading letters, digits, `-` and `_`
/// (so `jobintel/1.0` names `jobintel`), lower-cased; `*` stays `*`.
fn agent_token(value: &str) -> String {
    if value.starts_with('*') {
        return "*".to_owned();
    }
    value
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect::<String>()
        .to_ascii_lowercase()
}

impl RobotsRules {
    /// Rules that allow everything (no robots.txt, or it has nothing for us).
    pub fn allow_all() -> Self {
        RobotsRules::default()
    }

    /// Whether `path_and_query` (e.g. `/jobs?q=rust`) may be fetched.
    pub fn is_allowed(&self, path_and_query: &str) -> bool {
        self.check(path_and_query).is_ok()
    }

    /// Like [`is_allowed`](Self::is_allowed), but on refusal says which rule refused.
    pub fn check(&self, path_and_query: &str) -> Result<(), String> {
        if path_and_query == "/robots.txt" {
            return Ok(());
        }
        let path = normalize(path_and_query.as_bytes());
        let winner = self
            .rules
            .iter()
            .filter(|rule| rule.matches(&path))
            // Longest pattern wins; on equal length, allow beats disallow.
            .max_by_key(|rule| (rule.priority(), rule.allow));
        match winner {
            Some(rule) if !rule.allow => Err(format!("matched `Disallow: {}`", rule.raw)),
            _ => Ok(()),
        }
    }

    /// The `Crawl-delay` that applies to us, if any.
    pub fn crawl_delay(&self) -> Option<Duration> {
        self.crawl_delay
    }
}

/// Percent-encoding normalisation (RFC 9309 §2.2.2): escapes of unreserved characters are
/// decoded, other escapes upper-cased, and bytes outside printable ASCII encoded.
fn normalize(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let byte = input[i];
        if byte == b'%'
            && i + 2 < input.len()
            && let (Some(hi), Some(lo)) = (hex_value(input[i + 1]), hex_value(input[i + 2]))
        {
            let decoded = hi * 16 + lo;
            if decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded) {
                out.push(decoded);
            } else {
                out.push(b'%');
                out.push(input[i + 1].to_ascii_uppercase());
                out.push(input[i + 2].to_ascii_uppercase());
            }
            i += 3;
            continue;
        }
        if byte > 0x7e || byte <= 0x20 {
            out.extend_from_slice(format!("%{byte:02X}").as_bytes());
        } else {
            out.push(byte);
        }
        i += 1;
    }
    out
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// Whether `pattern` (with `*` wildcards) matches a prefix of `path`, or all of it when
/// `anchored`.
fn glob_matches(pattern: &[u8], anchored: bool, path: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    // Where the last `*` was seen in the pattern and how much of the path it has swallowed.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p == pattern.len() {
            if !anchored || s == path.len() {
                return true;
            }
        } else if pattern[p] == b'*' {
            star = Some((p, s));
            p += 1;
            continue;
        } else if s < path.len() && pattern[p] == path[s] {
            p += 1;
            s += 1;
            continue;
        }
        // Mismatch: let the last `*` swallow one more byte, if there is one to swallow.
        match star {
            Some((star_p, star_s)) if star_s < path.len() => {
                star = Some((star_p, star_s + 1));
                p = star_p + 1;
                s = star_s + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> RobotsRules {
        RobotsTxt::parse(text).rules_for("jobintel")
    }

    #[test]
    fn an_empty_file_allows_everything() {
        let r = rules("");
        assert!(r.is_allowed("/"));
        assert!(r.is_allowed("/anything?at=all"));
        assert_eq!(r.crawl_delay(), None);
    }

    #[test]
    fn the_star_group_applies_when_no_group_names_us() {
        let r = rules("User-agent: *\nDisallow: /private\n\nUser-agent: googlebot\nDisallow: /\n");
        assert!(!r.is_allowed("/private/x"));
        assert!(r.is_allowed("/public"));
    }

    #[test]
    fn a_group_naming_us_replaces_the_star_group() {
        let r = rules("User-agent: *\nDisallow: /\n\nUser-agent: jobintel\nDisallow: /viewjob\n");
        assert!(r.is_allowed("/jobs"));
        assert!(!r.is_allowed("/viewjob?jk=1"));
    }

    #[test]
    fn user_agent_matching_is_case_insensitive_and_ignores_the_version() {
        assert!(!rules("User-agent: JobIntel\nDisallow: /a\n").is_allowed("/a"));
        assert!(!rules("User-agent: JOBINTEL/2.0\nDisallow: /a\n").is_allowed("/a"));
        // A different product that merely starts with our name is not us.
        assert!(rules("User-agent: jobintelligence\nDisallow: /a\n").is_allowed("/a"));
    }

    #[test]
    fn consecutive_user_agent_lines_share_one_group() {
        let r = rules("User-agent: googlebot\nUser-agent: jobintel\nDisallow: /shared\n");
        assert!(!r.is_allowed("/shared"));
    }

    #[test]
    fn several_groups_naming_us_are_merged() {
        let r = rules(
            "User-agent: jobintel\nDisallow: /a\n\nUser-agent: *\nDisallow: /c\n\nUser-agent: jobintel\nDisallow: /b\n",
        );
        assert!(!r.is_allowed("/a"));
        assert!(!r.is_allowed("/b"));
        assert!(r.is_allowed("/c"));
    }

    #[test]
    fn rules_before_any_user_agent_line_are_ignored() {
        assert!(rules("Disallow: /\nUser-agent: *\nAllow: /\n").is_allowed("/x"));
    }

    #[test]
    fn the_longest_matching_rule_wins() {
        let r = rules("User-agent: *\nDisallow: /jobs\nAllow: /jobs/public\n");
        assert!(!r.is_allowed("/jobs/secret"));
        assert!(r.is_allowed("/jobs/public/1"));
        let r = rules("User-agent: *\nAllow: /jobs\nDisallow: /jobs/private\n");
        assert!(r.is_allowed("/jobs/1"));
        assert!(!r.is_allowed("/jobs/private/1"));
    }

    #[test]
    fn allow_wins_a_tie_with_disallow() {
        let r = rules("User-agent: *\nDisallow: /page\nAllow: /page\n");
        assert!(r.is_allowed("/page"));
    }

    #[test]
    fn an_empty_disallow_allows_everything() {
        assert!(rules("User-agent: *\nDisallow:\n").is_allowed("/anything"));
    }

    #[test]
    fn star_matches_any_sequence_including_none() {
        let r = rules("User-agent: *\nDisallow: /*/apply\nDisallow: /search*page=\n");
        assert!(!r.is_allowed("/jobs/apply"));
        assert!(!r.is_allowed("/a/b/c/apply/now"));
        assert!(!r.is_allowed("/search?page=2"));
        assert!(!r.is_allowed("/searchpage="));
        assert!(r.is_allowed("/apply"));
        assert!(r.is_allowed("/search?q=rust"));
    }

    #[test]
    fn dollar_anchors_the_end_of_the_path() {
        let r = rules("User-agent: *\nDisallow: /*.pdf$\nDisallow: /exact$\n");
        assert!(!r.is_allowed("/files/cv.pdf"));
        assert!(r.is_allowed("/files/cv.pdf?download=1"));
        assert!(!r.is_allowed("/exact"));
        assert!(r.is_allowed("/exactly"));
    }

    #[test]
    fn query_strings_are_matched() {
        let r = rules("User-agent: *\nDisallow: /viewjob?\n");
        assert!(!r.is_allowed("/viewjob?jk=54f1"));
        assert!(r.is_allowed("/viewjob"));
    }

    #[test]
    fn matching_is_case_sensitive_for_paths() {
        let r = rules("User-agent: *\nDisallow: /Jobs\n");
        assert!(!r.is_allowed("/Jobs"));
        assert!(r.is_allowed("/jobs"));
    }

    #[test]
    fn percent_encoding_is_normalised_on_both_sides() {
        let r = rules("User-agent: *\nDisallow: /%7euser\nDisallow: /café\n");
        assert!(!r.is_allowed("/~user/page"));
        assert!(!r.is_allowed("/caf%C3%A9/menu"));
        assert!(!r.is_allowed("/caf%c3%a9/menu"));
    }

    #[test]
    fn robots_txt_itself_is_always_allowed() {
        assert!(rules("User-agent: *\nDisallow: /\n").is_allowed("/robots.txt"));
    }

    #[test]
    fn crawl_delay_comes_from_the_group_that_applies() {
        let text = "User-agent: *\nCrawl-delay: 10\n\nUser-agent: jobintel\nCrawl-delay: 2.5\nDisallow: /x\n";
        assert_eq!(rules(text).crawl_delay(), Some(Duration::from_millis(2500)));
        assert_eq!(
            RobotsTxt::parse(text).rules_for("otherbot").crawl_delay(),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            rules("User-agent: *\nCrawl-delay: soon\n").crawl_delay(),
            None
        );
        assert_eq!(
            rules("User-agent: *\nCrawl-delay: -1\n").crawl_delay(),
            None
        );
    }

    #[test]
    fn comments_blank_lines_odd_spacing_and_unknown_records_are_tolerated() {
        let text = "\u{feff}# robots\nUSER-AGENT :  *   # everyone\n\nsitemap: https://x/s.xml\nDISALLOW:/private # no\nNoise without colon\nFoo: bar\r\n";
        let r = rules(text);
        assert!(!r.is_allowed("/private"));
        assert!(r.is_allowed("/public"));
    }

    #[test]
    fn refusals_name_the_rule_that_refused() {
        let reason = rules("User-agent: *\nDisallow: /private\n")
            .check("/private/1")
            .unwrap_err();
        assert!(reason.contains("Disallow: /private"), "{reason}");
    }
}
