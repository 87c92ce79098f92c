//! The fetcher's error type and URL redaction for messages.

use url::Url;

/// Why a fetch failed. Every message names the (redacted) URL it is about.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL cannot be fetched at all (not http/https, no host, …). Not retried.
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// The server answered with a status we do not accept (after any retries).
    #[error("HTTP {status} from {url}")]
    Status { url: String, status: u16 },

    /// The request (connect + response + body) took longer than the configured total timeout,
    /// on the last attempt.
    #[error("request to {url} timed out")]
    Timeout { url: String },

    /// The response body is larger than the configured cap; reading stopped at the cap.
    #[error("response from {url} is larger than the {limit}-byte limit")]
    TooLarge { url: String, limit: usize },

    /// A transport error (DNS, connection refused/reset, TLS, broken body, …) on the last attempt.
    #[error("network error fetching {url}: {message}")]
    Network { url: String, message: String },

    /// The server asked us (via `Retry-After`) to wait longer than we are willing to.
    #[error(
        "{url} asked to retry after {seconds} s, longer than the {cap_seconds} s we are willing to wait; giving up"
    )]
    RetryAfterTooLong {
        url: String,
        seconds: u64,
        cap_seconds: u64,
    },

    /// The response is a bot challenge (e.g. Cloudflare "Just a moment..."). Not retried:
    /// retrying into a challenge prolongs it; stop and try again on the next schedule.
    #[error("{url} answered with a bot challenge ({reason}); not retrying")]
    Blocked { url: String, reason: String },

    /// The site's robots.txt does not allow us to fetch this URL. `temporary` when that is only
    /// because robots.txt itself is unavailable (5xx, 429, unreachable), which RFC 9309 treats
    /// as "disallow everything" until it is back.
    #[error("robots.txt does not allow fetching {url}: {reason}")]
    RobotsDisallowed {
        url: String,
        reason: String,
        temporary: bool,
    },

    /// The URL (or a redirect hop, or every address its host resolves to) is a private,
    /// loopback, link-local or otherwise non-public address.
    #[error(
        "refusing to fetch {url}: {reason}; set JOBINTEL_ALLOW_PRIVATE_NETWORK=true to allow private network addresses"
    )]
    PrivateNetwork { url: String, reason: String },

    /// More redirects than the fetcher follows.
    #[error("too many redirects (more than {limit}) fetching {url}")]
    TooManyRedirects { url: String, limit: usize },

    /// The caller's cancellation token fired while the fetch was waiting or in flight.
    #[error("fetch of {url} was cancelled")]
    Cancelled { url: String },

    /// The HTTP client could not be built (a configuration or environment problem).
    #[error("cannot build the HTTP client: {message}")]
    Client { message: String },
}

impl FetchError {
    /// Whether trying again later (for example on the next scheduled run) may succeed:
    /// timeouts, transport errors, 429 and 5xx, and robots.txt being unavailable. Robots rules,
    /// challenge, size, URL and guard errors are not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Timeout { .. } | FetchError::Network { .. } => true,
            FetchError::RobotsDisallowed { temporary, .. } => *temporary,
            FetchError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// The (redacted) URL the error is about, if it is about one.
    pub fn url(&self) -> Option<&str> {
        match self {
            FetchError::InvalidUrl { url, .. }
            | FetchError::Status { url, .. }
            | FetchError::Timeout { url }
            | FetchError::TooLarge { url, .. }
            | FetchError::Network { url, .. }
            | FetchError::RetryAfterTooLong { url, .. }
            | FetchError::Blocked { url, .. }
            | FetchError::RobotsDisallowed { url, .. }
            | FetchError::PrivateNetwork { url, .. }
            | FetchError::TooManyRedirects { url, .. }
            | FetchError::Cancelled { url } => Some(url),
            FetchError::Client { .. } => None,
        }
    }
}

/// Query parameter names whose values are secrets (API keys, and the passwords a database URL
/// may carry), matched case-insensitively; names ending in `_key`, `_token`, `_secret`,
/// `_password`, `-key`, `-token` also count.
const SECRET_QUERY_PARAMS: &[&str] = &[
    "key",
    "apikey",
    "api_key",
    "app_key",
    "token",
    "access_token",
    "auth",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "sslpassword",
    "sig",
    "signature",
];

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_QUERY_PARAMS.contains(&name.as_str())
        || ["_key", "_token", "_secret", "_password", "-key", "-token"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
}

/// The URL as it may appear in logs and error messages: user name and password are replaced by
/// `***`, and so are the values of query parameters that look like secrets (`api_key`,
/// `app_key`, `token`, …).
pub fn redact_url(url: &Url) -> String {
    let mut redacted = url.clone();
    if !url.username().is_empty() {
        // Only fails for URLs that cannot have credentials, which then have none to hide.
        let _ = redacted.set_username("***");
    }
    if url.password().is_some() {
        let _ = redacted.set_password(Some("***"));
    }
    if url.query_pairs().any(|(name, _)| is_secret_param(&name)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if is_secret_param(&name) {
                    "***".to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        redacted.query_pairs_mut().clear().extend_pairs(pairs);
    }
    redacted.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(s: &str) -> String {
        redact_url(&Url::parse(s).unwrap())
    }

    #[test]
    fn redact_url_hides_user_name_and_password() {
        assert_eq!(
            redact("https://alice:hunter2@example.com/jobs?q=rust"),
            "https://***:***@example.com/jobs?q=rust"
        );
        assert_eq!(
            redact("https://alice@example.com/"),
            "https://***@example.com/"
        );
    }

    #[test]
    fn redact_url_hides_secret_query_values_but_keeps_keywords() {
        let shown = redact("https://api.example.com/search?app_id=1&app_key=abc&keywords=rust");
        assert!(shown.contains("app_key=***"), "{shown}");
        assert!(shown.contains("keywords=rust"), "{shown}");
        assert!(shown.contains("app_id=1"), "{shown}");
        assert!(!shown.contains("abc"), "{shown}");
    }

    #[test]
    fn redact_url_hides_the_credentials_of_database_urls() {
        let shown = redact(
            "postgres://app:hunter2@db:5432/jobs?sslmode=require&sslpassword=k&db_password=p",
        );
        assert_eq!(
            shown,
            "postgres://***:***@db:5432/jobs?sslmode=require&sslpassword=***&db_password=***"
        );
    }

    #[test]
    fn redact_url_leaves_ordinary_urls_unchanged() {
        let plain = "https://www.seek.com.au/api/jobsearch/v5/search?where=Sydney&page=2";
        assert_eq!(redact(plain), plain);
    }

    #[test]
    fn transient_errors_are_timeouts_network_errors_429_and_5xx() {
        let url = "http://x/".to_owned();
        assert!(FetchError::Timeout { url: url.clone() }.is_transient());
        assert!(
            FetchError::Status {
                url: url.clone(),
                status: 503
            }
            .is_transient()
        );
        assert!(
            !FetchError::Status {
                url: url.clone(),
                status: 404
            }
            .is_transient()
        );
        assert!(
            !FetchError::Blocked {
                url,
                reason: "x".into()
            }
            .is_transient()
        );
    }

    #[test]
    fn private_network_message_names_the_environment_variable() {
        let err = FetchError::PrivateNetwork {
            url: "http://10.0.0.1/".into(),
            reason: "10.0.0.1 is a private address".into(),
        };
        assert!(err.to_string().contains("JOBINTEL_ALLOW_PRIVATE_NETWORK"));
    }
}
