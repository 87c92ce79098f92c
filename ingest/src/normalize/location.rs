//! Raw location labels ("Sydney NSW 2000", "Auckland CBD, Auckland", "New York, NY, United
//! States", "Remote - US") split into city / region / country.
//!
//! Conservative by design: a field is only filled when the label's shape says what it is
//! (a state code, a known region, a trailing country). Unrecognised shapes keep just the raw
//! label and the site's default country, because a wrong city is worse than none.

use crate::model::Location;

/// City / region / country from a raw location such as "Sydney NSW", "Auckland, New Zealand".
///
/// Australian state codes and names (region = the code, e.g. "VIC"), New Zealand regions
/// (region = the region name without "Region"), US "City, ST" and state names, and trailing
/// country names or codes are recognised; remote/hybrid wording is stripped first.
/// `country` falls back to `default_country` (upper-cased) when the label names none.
pub fn parse_location(raw: &str, default_country: Option<&str>) -> Location {
    let trimmed = raw.trim();
    let default = default_country
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty());
    let place = parse_place(trimmed, default.as_deref());
    Location {
        raw: (!trimmed.is_empty()).then(|| trimmed.to_owned()),
        city: place.city,
        region: place.region,
        country: place.country.map(str::to_owned).or(default),
    }
}

/// ISO 3166-1 alpha-2 code, alpha-3 code and names for the countries job sources mention.
const COUNTRIES: &[(&str, &str, &[&str])] = &[
    ("AU", "AUS", &["australia", "commonwealth of australia"]),
    (
        "NZ",
        "NZL",
        &["new zealand", "aotearoa", "aotearoa new zealand"],
    ),
    (
        "US",
        "USA",
        &[
            "united states",
            "united states of america",
            "america",
            "us of a",
        ],
    ),
    (
        "GB",
        "GBR",
        &[
            "united kingdom",
            "uk",
            "great britain",
            "britain",
            "england",
            "scotland",
            "wales",
            "northern ireland",
        ],
    ),
    ("CA", "CAN", &["canada"]),
    ("DE", "DEU", &["germany", "deutschland"]),
    ("SG", "SGP", &["singapore"]),
    ("IN", "IND", &["india"]),
    ("IE", "IRL", &["ireland", "republic of ireland"]),
    ("FR", "FRA", &["france"]),
    ("NL", "NLD", &["netherlands", "the netherlands", "holland"]),
    ("ES", "ESP", &["spain", "españa"]),
    ("PH", "PHL", &["philippines", "the philippines"]),
    ("HK", "HKG", &["hong kong", "hong kong sar"]),
    ("MY", "MYS", &["malaysia"]),
    ("ID", "IDN", &["indonesia"]),
    ("TH", "THA", &["thailand"]),
    ("VN", "VNM", &["vietnam", "viet nam"]),
    ("JP", "JPN", &["japan"]),
    ("CN", "CHN", &["china"]),
    ("KR", "KOR", &["south korea", "korea", "republic of korea"]),
    ("TW", "TWN", &["taiwan"]),
    ("IT", "ITA", &["italy"]),
    ("PT", "PRT", &["portugal"]),
    ("BE", "BEL", &["belgium"]),
    ("CH", "CHE", &["switzerland"]),
    ("AT", "AUT", &["austria"]),
    ("SE", "SWE", &["sweden"]),
    ("NO", "NOR", &["norway"]),
    ("DK", "DNK", &["denmark"]),
    ("FI", "FIN", &["finland"]),
    ("PL", "POL", &["poland"]),
    ("CZ", "CZE", &["czech republic", "czechia"]),
    ("IL", "ISR", &["israel"]),
    ("AE", "ARE", &["united arab emirates", "uae"]),
    ("BR", "BRA", &["brazil"]),
    ("MX", "MEX", &["mexico"]),
    ("AR", "ARG", &["argentina"]),
    ("ZA", "ZAF", &["south africa"]),
    ("NG", "NGA", &["nigeria"]),
    ("KE", "KEN", &["kenya"]),
    ("PK", "PAK", &["pakistan"]),
];

/// ISO-2 code for a country name, ISO-2 or ISO-3 code ("Australia", "AU", "AUS", "U.S.A.",
/// "United Kingdom", "UK" → "GB"), case-insensitive; `None` when unknown.
pub fn country_code(name: &str) -> Option<&'static str> {
    let cleaned: String = name.trim().chars().filter(|c| *c != '.').collect();
    let key = cleaned
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if key.is_empty() {
        return None;
    }
    COUNTRIES
        .iter()
        .find(|(iso2, iso3, names)| {
            iso2.eq_ignore_ascii_case(&key)
                || iso3.eq_ignore_ascii_case(&key)
                || names.contains(&key.as_str())
        })
        .map(|(iso2, _, _)| *iso2)
}

const AU_STATES: &[(&str, &str)] = &[
    ("NSW", "new south wales"),
    ("VIC", "victoria"),
    ("QLD", "queensland"),
    ("WA", "western australia"),
    ("SA", "south australia"),
    ("TAS", "tasmania"),
    ("NT", "northern territory"),
    ("ACT", "australian capital territory"),
];

/// Australian cities that SEEK puts before the state code, with their state. Used to pick the
/// city out of area labels ("Inner West & Eastern Suburbs Sydney NSW") and to tell Perth, WA
/// from Seattle, WA.
const AU_CITIES: &[(&str, &str)] = &[
    ("sydney", "NSW"),
    ("newcastle", "NSW"),
    ("wollongong", "NSW"),
    ("central coast", "NSW"),
    ("parramatta", "NSW"),
    ("melbourne", "VIC"),
    ("geelong", "VIC"),
    ("ballarat", "VIC"),
    ("bendigo", "VIC"),
    ("brisbane", "QLD"),
    ("gold coast", "QLD"),
    ("sunshine coast", "QLD"),
    ("townsville", "QLD"),
    ("cairns", "QLD"),
    ("toowoomba", "QLD"),
    ("perth", "WA"),
    ("fremantle", "WA"),
    ("bunbury", "WA"),
    ("mandurah", "WA"),
    ("joondalup", "WA"),
    ("adelaide", "SA"),
    ("hobart", "TAS"),
    ("launceston", "TAS"),
    ("darwin", "NT"),
    ("alice springs", "NT"),
    ("canberra", "ACT"),
];

const US_STATES: &[(&str, &str)] = &[
    ("AL", "alabama"),
    ("AK", "alaska"),
    ("AZ", "arizona"),
    ("AR", "arkansas"),
    ("CA", "california"),
    ("CO", "colorado"),
    ("CT", "connecticut"),
    ("DE", "delaware"),
    ("DC", "district of columbia"),
    ("FL", "florida"),
    ("GA", "georgia"),
    ("HI", "hawaii"),
    ("ID", "idaho"),
    ("IL", "illinois"),
    ("IN", "indiana"),
    ("IA", "iowa"),
    ("KS", "kansas"),
    ("KY", "kentucky"),
    ("LA", "louisiana"),
    ("ME", "maine"),
    ("MD", "maryland"),
    ("MA", "massachusetts"),
    ("MI", "michigan"),
    ("MN", "minnesota"),
    ("MS", "mississippi"),
    ("MO", "missouri"),
    ("MT", "montana"),
    ("NE", "nebraska"),
    ("NV", "nevada"),
    ("NH", "new hampshire"),
    ("NJ", "new jersey"),
    ("NM", "new mexico"),
    ("NY", "new york"),
    ("NC", "north carolina"),
    ("ND", "north dakota"),
    ("OH", "ohio"),
    ("OK", "oklahoma"),
    ("OR", "oregon"),
    ("PA", "pennsylvania"),
    ("RI", "rhode island"),
    ("SC", "south carolina"),
    ("SD", "south dakota"),
    ("TN", "tennessee"),
    ("TX", "texas"),
    ("UT", "utah"),
    ("VT", "vermont"),
    ("VA", "virginia"),
    ("WA", "washington"),
    ("WV", "west virginia"),
    ("WI", "wisconsin"),
    ("WY", "wyoming"),
];

/// New Zealand regions: canonical name, lower-case spellings, and the same-named city if any.
const NZ_REGIONS: &[(&str, &[&str], Option<&str>)] = &[
    ("Auckland", &["auckland"], Some("Auckland")),
    ("Wellington", &["wellington"], Some("Wellington")),
    ("Canterbury", &["canterbury"], None),
    ("Waikato", &["waikato"], None),
    ("Bay of Plenty", &["bay of plenty"], None),
    ("Otago", &["otago"], None),
    ("Southland", &["southland"], None),
    ("Northland", &["northland"], None),
    (
        "Manawatu-Whanganui",
        &["manawatu-whanganui", "manawatū-whanganui", "manawatu"],
        None,
    ),
    (
        "Hawke's Bay",
        &["hawke's bay", "hawkes bay", "hawke’s bay"],
        None,
    ),
    ("Taranaki", &["taranaki"], None),
    ("Tasman", &["tasman"], None),
    ("Nelson", &["nelson"], Some("Nelson")),
    ("Marlborough", &["marlborough"], None),
    ("West Coast", &["west coast"], None),
    ("Gisborne", &["gisborne"], Some("Gisborne")),
];

/// NZ region names that also name well-known places elsewhere; without "Region" or another NZ
/// signal they are not taken as New Zealand.
const NZ_AMBIGUOUS: &[&str] = &[
    "Canterbury",
    "Northland",
    "Tasman",
    "Nelson",
    "West Coast",
    "Gisborne",
];

/// Labels that are not places at all.
const NOT_PLACES: &[&str] = &[
    "multiple locations",
    "various locations",
    "various",
    "anywhere",
    "worldwide",
    "global",
    "nationwide",
    "international",
    "flexible",
    "home based",
    "home-based",
    "work from home",
    "other",
    "n/a",
    "tbc",
    "tbd",
    "to be confirmed",
    "remote",
    "hybrid",
    "on-site",
    "onsite",
];

#[derive(Debug, Default, PartialEq)]
struct Place {
    city: Option<String>,
    region: Option<String>,
    country: Option<&'static str>,
}

fn parse_place(raw: &str, default: Option<&str>) -> Place {
    let s = strip_arrangement(raw);
    if s.is_empty() {
        return Place::default();
    }
    if let Some(pieces) = split_multiple(s) {
        // Several places: only a country they all share is certain.
        let countries: Vec<Option<&'static str>> = pieces
            .iter()
            .map(|p| parse_place(p, default).country)
            .collect();
        let shared = countries
            .first()
            .copied()
            .flatten()
            .filter(|c| countries.iter().all(|x| *x == Some(*c)));
        return Place {
            country: shared,
            ..Place::default()
        };
    }
    let s = strip_prefix_ci(s, "all ").unwrap_or(s);

    let mut parts: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let mut country = None;
    if let Some(last) = parts.last() {
        let region_code = au_state_suffix(last).is_some_and(|(prefix, _, _)| prefix.is_empty())
            || (parts.len() >= 2 && us_state_code(last).is_some());
        if !region_code && let Some(cc) = country_code(last) {
            country = Some(cc);
            parts.pop();
        }
    }
    let Some(last) = parts.last().copied() else {
        return Place {
            country,
            ..Place::default()
        };
    };
    let previous = parts.len().checked_sub(2).map(|i| parts[i]);
    let default_is = |cc: &str| default == Some(cc);

    // Australia: "Sydney NSW", "Sydney NSW 2000", "Macquarie Park, Sydney NSW", "Perth, WA",
    // "Melbourne, Victoria".
    if matches!(country, None | Some("AU"))
        && let Some((prefix, state, by_code)) = au_state_suffix(last)
        // A lone "SA" or "Victoria" could be anywhere; a lone "NSW" or "Queensland" could not.
        && (parts.len() >= 2
            || !prefix.is_empty()
            || default_is("AU")
            || (by_code && state.len() == 3)
            || (!by_code && state != "VIC"))
    {
        let city = if prefix.is_empty() {
            previous.and_then(au_city_in)
        } else {
            au_city_in(prefix)
        };
        let in_wa = city
            .as_deref()
            .is_some_and(|c| au_city_state(c) == Some("WA"));
        // "WA" is also Washington; only an Australian signal makes it Western Australia.
        let is_au = state != "WA" || country == Some("AU") || default_is("AU") || in_wa;
        if is_au {
            return Place {
                city,
                region: Some(state.to_owned()),
                country: Some("AU"),
            };
        }
    }

    // United States: "San Francisco, CA", "New York, NY", "New York, New York".
    if matches!(country, None | Some("US"))
        && let Some(prev) = previous
        && let Some(state) = us_state_code(last).or_else(|| us_state_name(last))
    {
        return Place {
            city: place_like(prev).then(|| prev.to_owned()),
            region: Some(state.to_owned()),
            country: Some("US"),
        };
    }

    // New Zealand: "Auckland", "Wellington, Wellington Region", "Auckland CBD, Auckland".
    if matches!(country, None | Some("NZ"))
        && let Some((region, explicit, same_city)) = nz_region(last)
        && (explicit
            || country == Some("NZ")
            || matches!(default, None | Some("NZ"))
            || !NZ_AMBIGUOUS.contains(&region))
    {
        let city = match previous {
            Some(prev) => match same_city {
                Some(c) if starts_with_word_ci(prev, c) => Some(c.to_owned()),
                _ => place_like(prev).then(|| prev.to_owned()),
            },
            None => same_city.map(str::to_owned),
        };
        return Place {
            city,
            region: Some(region.to_owned()),
            country: Some("NZ"),
        };
    }

    // Anything else: trust the "City[, Region]" shape only when a country closed the label
    // ("Berlin, Germany", "London, England, United Kingdom"); a lone place name is a city.
    let mut place = Place {
        country,
        ..Place::default()
    };
    match (country, previous) {
        (Some(_), Some(prev)) => {
            place.city = place_like(prev).then(|| prev.to_owned());
            place.region = place_like(last).then(|| last.to_owned());
        }
        (_, None) => {
            // "Seattle WA": a trailing code we could not place means the words are not a city.
            let coded = last.split_whitespace().count() > 1
                && last.split_whitespace().last().is_some_and(|w| {
                    (2..=3).contains(&w.len()) && w.chars().all(|c| c.is_ascii_uppercase())
                });
            // A lone state name we could not place ("Victoria" with no Australian signal) is
            // not a city either.
            let state_name = au_state_suffix(last).is_some_and(|(prefix, _, _)| prefix.is_empty())
                || us_state_name(last).is_some();
            place.city = (place_like(last) && !coded && !state_name).then(|| last.to_owned());
            if country.is_none()
                && default_is("AU")
                && let Some(state) = au_city_state(last)
            {
                place.region = Some(state.to_owned());
            }
        }
        (None, Some(_)) => {}
    }
    place
}

/// Drop remote / hybrid / on-site wording around the place: "Hybrid remote in Sydney NSW",
/// "Remote - US", "Remote (Australia)", "Sydney NSW (Remote)".
fn strip_arrangement(raw: &str) -> &str {
    const LEADING: &[&str] = &[
        "hybrid remote",
        "remote hybrid",
        "fully remote",
        "remote",
        "hybrid",
        "on-site",
        "onsite",
        "work from home",
    ];
    const JOINERS: &[&str] = &["in ", "from ", "within ", "based in ", "- "];
    let mut s = raw.trim();
    for word in LEADING {
        if let Some(rest) = strip_prefix_ci(s, word)
            && !rest.starts_with(|c: char| c.is_alphanumeric())
        {
            s = rest.trim_start_matches(|c: char| {
                c.is_whitespace() || matches!(c, '-' | '–' | '—' | ',' | ':' | '(' | '/' | '|')
            });
            for joiner in JOINERS {
                if let Some(rest) = strip_prefix_ci(s, joiner) {
                    s = rest.trim_start();
                }
            }
            s = s.trim_end_matches(|c: char| c == ')' || c.is_whitespace());
            break;
        }
    }
    const TRAILING: &[&str] = &[
        "(remote)",
        "(hybrid)",
        "(on-site)",
        "(onsite)",
        "- remote",
        "- hybrid",
        ", remote",
        ", hybrid",
        "/ remote",
    ];
    for suffix in TRAILING {
        if s.len() >= suffix.len()
            && let Some(tail) = s.get(s.len() - suffix.len()..)
            && tail.eq_ignore_ascii_case(suffix)
        {
            s = s[..s.len() - suffix.len()].trim_end();
        }
    }
    s
}

/// The pieces of a label naming several places ("Berlin; London; Munich; Paris").
fn split_multiple(s: &str) -> Option<Vec<&str>> {
    let lower = s.to_lowercase();
    let seps: &[&str] = &[";", "|", " / ", " or "];
    let sep = seps.iter().find(|sep| lower.contains(**sep))?;
    if sep.is_ascii() && lower.len() == s.len() {
        let mut pieces = Vec::new();
        let mut start = 0;
        for (i, _) in lower.match_indices(sep) {
            pieces.push(s[start..i].trim());
            start = i + sep.len();
        }
        pieces.push(s[start..].trim());
        pieces.retain(|p| !p.is_empty());
        return Some(pieces);
    }
    // Lower-casing changed byte offsets (rare non-ASCII case folding): give up on the parts.
    Some(Vec::new())
}

/// "Sydney NSW 2000" → ("Sydney", "NSW", by code); "Victoria" → ("", "VIC", by name). A
/// trailing four-digit postcode is allowed after the state.
fn au_state_suffix(part: &str) -> Option<(&str, &'static str, bool)> {
    let mut words: Vec<&str> = part.split_whitespace().collect();
    if words
        .last()
        .is_some_and(|w| w.len() == 4 && w.chars().all(|c| c.is_ascii_digit()))
    {
        words.pop();
    }
    let code_word = *words.last()?;
    let prefix_of = |n_words: usize| match words.len() - n_words {
        0 => "",
        keep => part[..word_end(part, keep)].trim(),
    };
    if let Some((code, _)) = AU_STATES.iter().find(|(code, _)| *code == code_word) {
        return Some((prefix_of(1), code, true));
    }
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    for (code, name) in AU_STATES {
        let n = name.split(' ').count();
        if lower.len() >= n && lower[lower.len() - n..].join(" ") == *name {
            return Some((prefix_of(n), code, false));
        }
    }
    None
}

/// Byte offset just after the `n`-th whitespace-separated word of `s` (1-based).
fn word_end(s: &str, n: usize) -> usize {
    let mut count = 0;
    let mut in_word = false;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if in_word {
                count += 1;
                if count == n {
                    return i;
                }
            }
            in_word = false;
        } else {
            in_word = true;
        }
    }
    s.len()
}

/// The city in an Australian area label: a known city at its end ("Inner West & Eastern
/// Suburbs Sydney" → "Sydney"), else the label itself if it is a short place name.
fn au_city_in(prefix: &str) -> Option<String> {
    let lower = prefix.to_lowercase();
    for (city, _) in AU_CITIES {
        if (lower == *city || lower.ends_with(&format!(" {city}")))
            && let Some(start) = prefix.len().checked_sub(city.len())
        {
            return prefix.get(start..).map(str::to_owned);
        }
    }
    (place_like(prefix) && !prefix.contains('&')).then(|| prefix.to_owned())
}

fn au_city_state(city: &str) -> Option<&'static str> {
    let lower = city.trim().to_lowercase();
    AU_CITIES
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, state)| *state)
}

fn us_state_code(part: &str) -> Option<&'static str> {
    let part = part.trim();
    US_STATES
        .iter()
        .find(|(code, _)| *code == part)
        .map(|(code, _)| *code)
}

fn us_state_name(part: &str) -> Option<&'static str> {
    let lower = part.trim().to_lowercase();
    US_STATES
        .iter()
        .find(|(_, name)| *name == lower)
        .map(|(code, _)| *code)
}

/// A New Zealand region named by `part`: (canonical name, said "Region", same-named city).
fn nz_region(part: &str) -> Option<(&'static str, bool, Option<&'static str>)> {
    let lower = part.trim().to_lowercase();
    let (name, explicit) = match lower.strip_suffix(" region") {
        Some(name) => (name.trim_end().to_owned(), true),
        None => (lower, false),
    };
    NZ_REGIONS
        .iter()
        .find(|(_, spellings, _)| spellings.contains(&name.as_str()))
        .map(|(canonical, _, city)| (*canonical, explicit, *city))
}

/// Whether `s` reads as a place name: letters and the punctuation of place names, at most four
/// words, and not one of the "not a place" labels.
fn place_like(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty()
        && s.split_whitespace().count() <= 4
        && s.chars().all(|c| {
            c.is_alphabetic() || c.is_whitespace() || matches!(c, '-' | '\'' | '’' | '.' | '&')
        })
        && !NOT_PLACES.contains(&s.to_lowercase().as_str())
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn starts_with_word_ci(s: &str, word: &str) -> bool {
    strip_prefix_ci(s, word).is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(raw: &str, default: Option<&str>) -> (Option<String>, Option<String>, Option<String>) {
        let l = parse_location(raw, default);
        assert_eq!(l.raw.as_deref(), Some(raw.trim()), "raw kept for {raw:?}");
        (l.city, l.region, l.country)
    }

    fn expect(
        city: Option<&str>,
        region: Option<&str>,
        country: Option<&str>,
    ) -> (Option<String>, Option<String>, Option<String>) {
        (
            city.map(str::to_owned),
            region.map(str::to_owned),
            country.map(str::to_owned),
        )
    }

    #[test]
    fn australian_city_and_state_code_labels_split_into_city_and_state() {
        let cases = [
            ("Sydney NSW", "Sydney", "NSW"),
            ("Sydney NSW 2000", "Sydney", "NSW"),
            ("Melbourne VIC", "Melbourne", "VIC"),
            ("Brisbane QLD", "Brisbane", "QLD"),
            ("Perth WA", "Perth", "WA"),
            ("Adelaide SA", "Adelaide", "SA"),
            ("Hobart TAS", "Hobart", "TAS"),
            ("Darwin NT", "Darwin", "NT"),
            ("Canberra ACT", "Canberra", "ACT"),
            ("Macquarie Park, Sydney NSW", "Sydney", "NSW"),
            ("Gold Coast QLD", "Gold Coast", "QLD"),
            ("All Sydney NSW", "Sydney", "NSW"),
        ];
        for (raw, city, region) in cases {
            assert_eq!(
                loc(raw, None),
                expect(Some(city), Some(region), Some("AU")),
                "{raw}"
            );
        }
    }

    #[test]
    fn seek_area_label_picks_the_known_city_out_of_the_area_names() {
        assert_eq!(
            loc("CBD, Inner West & Eastern Suburbs Sydney NSW", Some("au")),
            expect(Some("Sydney"), Some("NSW"), Some("AU"))
        );
    }

    #[test]
    fn state_names_and_trailing_country_are_recognised() {
        assert_eq!(
            loc("Melbourne, Victoria, Australia", None),
            expect(Some("Melbourne"), Some("VIC"), Some("AU"))
        );
        assert_eq!(
            loc("Perth, Western Australia", None),
            expect(Some("Perth"), Some("WA"), Some("AU"))
        );
    }

    #[test]
    fn new_zealand_regions_give_region_and_city() {
        assert_eq!(
            loc("Auckland", None),
            expect(Some("Auckland"), Some("Auckland"), Some("NZ"))
        );
        assert_eq!(
            loc("Wellington, Wellington Region", Some("NZ")),
            expect(Some("Wellington"), Some("Wellington"), Some("NZ"))
        );
        assert_eq!(
            loc("Auckland CBD, Auckland", Some("NZ")),
            expect(Some("Auckland"), Some("Auckland"), Some("NZ"))
        );
        assert_eq!(
            loc("Christchurch, Canterbury", Some("NZ")),
            expect(Some("Christchurch"), Some("Canterbury"), Some("NZ"))
        );
        assert_eq!(
            loc("Auckland, New Zealand", None),
            expect(Some("Auckland"), Some("Auckland"), Some("NZ"))
        );
    }

    #[test]
    fn lone_state_names_are_regions_not_cities() {
        assert_eq!(
            loc("New South Wales", None),
            expect(None, Some("NSW"), Some("AU"))
        );
        assert_eq!(
            loc("Queensland", Some("US")),
            expect(None, Some("QLD"), Some("AU"))
        );
        assert_eq!(loc("Victoria", None), expect(None, None, None));
        assert_eq!(
            loc("Victoria", Some("AU")),
            expect(None, Some("VIC"), Some("AU"))
        );
        assert_eq!(loc("NSW", None), expect(None, Some("NSW"), Some("AU")));
    }

    #[test]
    fn ambiguous_nz_region_names_need_a_new_zealand_signal() {
        assert_eq!(
            loc("Canterbury", Some("GB")),
            expect(Some("Canterbury"), None, Some("GB"))
        );
        assert_eq!(
            loc("Canterbury Region", Some("GB")),
            expect(None, Some("Canterbury"), Some("NZ"))
        );
    }

    #[test]
    fn remote_labels_keep_only_the_country() {
        assert_eq!(loc("Remote", Some("au")), expect(None, None, Some("AU")));
        assert_eq!(loc("Remote", None), expect(None, None, None));
        assert_eq!(loc("Remote - US", None), expect(None, None, Some("US")));
        assert_eq!(
            loc("Remote (Australia)", None),
            expect(None, None, Some("AU"))
        );
    }

    #[test]
    fn hybrid_wording_is_stripped_before_parsing_the_place() {
        assert_eq!(
            loc("Hybrid remote in Sydney NSW", None),
            expect(Some("Sydney"), Some("NSW"), Some("AU"))
        );
        assert_eq!(
            loc("Melbourne VIC (Hybrid)", None),
            expect(Some("Melbourne"), Some("VIC"), Some("AU"))
        );
    }

    #[test]
    fn us_city_state_labels_are_us() {
        assert_eq!(
            loc("San Francisco, CA", None),
            expect(Some("San Francisco"), Some("CA"), Some("US"))
        );
        assert_eq!(
            loc("New York, NY, United States", None),
            expect(Some("New York"), Some("NY"), Some("US"))
        );
        assert_eq!(
            loc("New York, New York", None),
            expect(Some("New York"), Some("NY"), Some("US"))
        );
        assert_eq!(
            loc("Seattle, WA", None),
            expect(Some("Seattle"), Some("WA"), Some("US"))
        );
    }

    #[test]
    fn wa_is_western_australia_only_with_an_australian_signal() {
        assert_eq!(
            loc("Perth, WA", None),
            expect(Some("Perth"), Some("WA"), Some("AU"))
        );
        assert_eq!(
            loc("Bunbury, WA", Some("AU")),
            expect(Some("Bunbury"), Some("WA"), Some("AU"))
        );
    }

    #[test]
    fn other_countries_take_city_and_region_from_before_the_country() {
        assert_eq!(
            loc("London, England, United Kingdom", None),
            expect(Some("London"), Some("England"), Some("GB"))
        );
        assert_eq!(
            loc("Berlin, Germany", None),
            expect(Some("Berlin"), None, Some("DE"))
        );
        assert_eq!(
            loc("Seoul, South Korea", None),
            expect(Some("Seoul"), None, Some("KR"))
        );
        assert_eq!(
            loc("Toronto, ON, Canada", None),
            expect(Some("Toronto"), Some("ON"), Some("CA"))
        );
    }

    #[test]
    fn lone_place_name_is_a_city_in_the_default_country() {
        assert_eq!(loc("Munich", None), expect(Some("Munich"), None, None));
        assert_eq!(
            loc("Paris", Some("fr")),
            expect(Some("Paris"), None, Some("FR"))
        );
        assert_eq!(
            loc("Sydney", Some("AU")),
            expect(Some("Sydney"), Some("NSW"), Some("AU"))
        );
    }

    #[test]
    fn several_locations_keep_no_city_and_only_a_shared_country() {
        assert_eq!(
            loc("Berlin; London; Munich; Paris", None),
            expect(None, None, None)
        );
        assert_eq!(
            loc("Sydney NSW; Melbourne VIC", None),
            expect(None, None, Some("AU"))
        );
    }

    #[test]
    fn unrecognised_shapes_keep_fields_empty_rather_than_guess() {
        assert_eq!(
            loc("Sydney, Melbourne", Some("AU")),
            expect(None, None, Some("AU"))
        );
        assert_eq!(
            loc("Multiple Locations", Some("AU")),
            expect(None, None, Some("AU"))
        );
        assert_eq!(
            loc("Level 5, 100 George St", None),
            expect(None, None, None)
        );
    }

    #[test]
    fn blank_label_has_no_raw_and_the_default_country() {
        let l = parse_location("  ", Some("nz"));
        assert_eq!(
            l,
            Location {
                country: Some("NZ".into()),
                ..Location::default()
            }
        );
    }

    #[test]
    fn country_code_accepts_names_iso2_and_iso3() {
        let cases = [
            ("Australia", Some("AU")),
            ("AUS", Some("AU")),
            ("au", Some("AU")),
            ("New Zealand", Some("NZ")),
            ("United States", Some("US")),
            ("USA", Some("US")),
            ("U.S.A.", Some("US")),
            ("US", Some("US")),
            ("United Kingdom", Some("GB")),
            ("UK", Some("GB")),
            ("GBR", Some("GB")),
            ("Canada", Some("CA")),
            ("Germany", Some("DE")),
            ("Singapore", Some("SG")),
            ("India", Some("IN")),
            ("Ireland", Some("IE")),
            ("France", Some("FR")),
            ("Netherlands", Some("NL")),
            ("Spain", Some("ES")),
            ("Philippines", Some("PH")),
            ("  united   states of america ", Some("US")),
            ("Atlantis", None),
            ("", None),
        ];
        for (name, expected) in cases {
            assert_eq!(country_code(name), expected, "{name:?}");
        }
    }
}
