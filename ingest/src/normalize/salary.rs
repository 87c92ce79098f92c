//! Salary normalisation: structured fields, free-text labels, and annualisation.
//!
//! Free text is parsed conservatively: a label yields numbers only when it reads as a salary
//! (a currency marker, a pay period, or a figure that can only be an annual salary), and every
//! figure must be plausible for its period. Anything doubtful keeps the text and no numbers,
//! because a wrong number in a salary filter is worse than a missing one.
//!
//! Layout of the text parser: [`parse_salary_text`] repairs mojibake, splits the label into the
//! pay itself and trailing extras ("+ super", "(inc. SUPER)", "• Offers Equity"), tokenises the
//! pay part, picks the first amount or range and checks it against period-specific bounds.

use crate::model::{Salary, SalaryPeriod, SalarySource};

/// Parse a salary from display text. `default_currency` is the site's currency for a bare `$`.
/// Always keeps `text`; numbers only when the text really is a salary.
///
/// `text` is the trimmed original (mojibake included, so the row shows what the source sent);
/// a blank label gives an empty [`Salary`]. `currency` and `period` are only set together with
/// numbers: a period or currency without an amount tells a reader nothing.
pub fn parse_salary_text(text: &str, default_currency: Option<&str>) -> Salary {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Salary::default();
    }
    let mut salary = Salary::text_only(trimmed);
    let Some(parsed) = parse_amounts(trimmed, default_currency) else {
        return salary;
    };
    let currency = parsed.currency;
    salary.annual_min = parsed
        .min
        .map(|v| annualise(v, parsed.period, currency.as_deref()));
    salary.annual_max = parsed
        .max
        .map(|v| annualise(v, parsed.period, currency.as_deref()));
    salary.min = parsed.min;
    salary.max = parsed.max;
    salary.currency = currency;
    salary.period = Some(parsed.period);
    salary.source = Some(SalarySource::Parsed);
    salary
}

/// A salary from a source's structured fields (JSON-LD `baseSalary`, Lever `salaryRange`, …).
///
/// Non-finite, zero and negative figures are treated as absent (sources use `0` for "not
/// given"); reversed bounds are swapped; the currency is upper-cased. With neither bound left
/// there is nothing structured about it, so `source` stays `None` and only `text` is kept.
pub fn structured_salary(
    min: Option<f64>,
    max: Option<f64>,
    currency: Option<&str>,
    period: Option<SalaryPeriod>,
    text: Option<String>,
) -> Salary {
    let usable = |v: Option<f64>| v.filter(|x| x.is_finite() && *x > 0.0);
    let (mut min, mut max) = (usable(min), usable(max));
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        (min, max) = (Some(hi), Some(lo));
    }
    let currency = currency
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty());
    let text = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if min.is_none() && max.is_none() {
        return Salary {
            text,
            ..Salary::default()
        };
    }
    let annual =
        |v: Option<f64>| period.and_then(|p| v.map(|x| annualise(x, p, currency.as_deref())));
    Salary {
        annual_min: annual(min),
        annual_max: annual(max),
        text,
        min,
        max,
        currency,
        period,
        source: Some(SalarySource::Structured),
    }
}

/// A period from a structured label ("YEAR", "per-year-salary", "1 YEAR", "HOUR", "hourly", …).
///
/// "N UNIT" (Ashby's interval) is accepted only for N = 1: "2 WEEK" is a fortnight, which has
/// no [`SalaryPeriod`], and guessing would misstate the pay.
pub fn period_from_label(label: &str) -> Option<SalaryPeriod> {
    let lower = label.trim().to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    if let [count, unit] = words.as_slice()
        && let Ok(n) = count.parse::<u32>()
    {
        return if n == 1 {
            period_from_label(unit)
        } else {
            None
        };
    }
    let mut key: String = lower
        .chars()
        .map(|c| if c == '_' || c == ' ' { '-' } else { c })
        .collect();
    for prefix in ["per-", "a-", "an-"] {
        if let Some(rest) = key.strip_prefix(prefix) {
            key = rest.to_owned();
        }
    }
    for suffix in [
        "-salary", "-wage", "-rate", "-package", "salary", "rate", "package",
    ] {
        if let Some(rest) = key.strip_suffix(suffix)
            && !rest.is_empty()
        {
            key = rest.trim_end_matches('-').to_owned();
            break;
        }
    }
    match key.as_str() {
        "year" | "years" | "yearly" | "yr" | "annual" | "annually" | "annum" | "pa" => {
            Some(SalaryPeriod::Year)
        }
        "hour" | "hours" | "hourly" | "hr" | "ph" => Some(SalaryPeriod::Hour),
        "day" | "days" | "daily" | "pd" => Some(SalaryPeriod::Day),
        "week" | "weeks" | "weekly" | "wk" | "pw" => Some(SalaryPeriod::Week),
        "month" | "months" | "monthly" | "mth" | "pcm" => Some(SalaryPeriod::Month),
        _ => None,
    }
}

/// Working hours in a year for hourly pay in `currency`.
///
/// AUD and NZD use the Australian/New Zealand full-time convention of a 38-hour week,
/// 7.6 h × 5 days × 52 weeks = 1,976 h (the basis SEEK-focused tools annualise with); every
/// other currency, and an unknown one, uses the US 40 h × 52 weeks = 2,080 h that JobSpy uses.
pub fn annual_hours(currency: Option<&str>) -> f64 {
    match currency.map(str::trim) {
        Some(c) if c.eq_ignore_ascii_case("AUD") || c.eq_ignore_ascii_case("NZD") => 1976.0,
        _ => 2080.0,
    }
}

/// An amount per `period` as a yearly amount, rounded to cents.
///
/// Hours basis: see [`annual_hours`] (1,976 h for AUD/NZD, 2,080 h otherwise). A day is one of
/// 260 working days (5 × 52), a week one of 52, a month one of 12.
pub fn annualise(amount: f64, period: SalaryPeriod, currency: Option<&str>) -> f64 {
    let factor = match period {
        SalaryPeriod::Hour => annual_hours(currency),
        SalaryPeriod::Day => 260.0,
        SalaryPeriod::Week => 52.0,
        SalaryPeriod::Month => 12.0,
        SalaryPeriod::Year => 1.0,
    };
    round_cents(amount * factor)
}

fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

// ---------------------------------------------------------------------------------------------
// Free-text parsing

/// Yearly figures below this are not read as an annual salary without an explicit period.
const MIN_ANNUAL: f64 = 15_000.0;

/// What the text parser found, before annualisation.
#[derive(Debug, PartialEq)]
struct ParsedAmounts {
    min: Option<f64>,
    max: Option<f64>,
    currency: Option<String>,
    period: SalaryPeriod,
}

fn parse_amounts(text: &str, default_currency: Option<&str>) -> Option<ParsedAmounts> {
    let repaired = repair_mojibake(text);
    let (pay, extras) = split_extras(&repaired);
    let tokens = tokenize(pay);

    if tokens
        .iter()
        .any(|t| matches!(t, Tok::Word(w) if DISQUALIFIERS.contains(&w.as_str())))
    {
        return None;
    }

    let mut periods = find_periods(&tokens);
    let excluded = excluded_numbers(&tokens, &mut periods);
    let first = (0..tokens.len()).find(|i| is_amount(&tokens, *i, &excluded))?;
    let second = range_end(&tokens, first, &periods, &excluded);
    let bound = match second {
        Some(_) => Bound::Both,
        None => bound_modifier(&tokens, first),
    };

    let (mut lo, lo_k) = number_at(&tokens, first);
    let mut hi = lo;
    if let Some(j) = second {
        let (v, hi_k) = number_at(&tokens, j);
        hi = v;
        // "$60-75k": the suffix on the upper figure applies to both.
        if hi_k && !lo_k && lo < 1000.0 {
            lo *= 1000.0;
        }
    }
    if lo > hi {
        std::mem::swap(&mut lo, &mut hi);
    }

    // Trailing extras without figures of their own may still carry the period or currency
    // ("$45 + super per hour"); with figures they describe those figures instead.
    let extra_tokens = if extras.chars().any(|c| c.is_ascii_digit()) {
        Vec::new()
    } else {
        tokenize(extras)
    };
    let mut period = periods.first().map(|p| p.1);
    if period.is_none() {
        period = find_periods(&extra_tokens).first().map(|p| p.1);
    }
    let currency_marker = currency_in(&tokens).or_else(|| currency_in(&extra_tokens));

    let period = match period {
        Some(p) => p,
        None => {
            // No period: only a figure that can be nothing but an annual salary counts, and a
            // bare number also needs a label that holds nothing but the figure.
            let bare_ok = currency_marker.is_some() || only_figures(&tokens);
            if !bare_ok || lo < MIN_ANNUAL {
                return None;
            }
            SalaryPeriod::Year
        }
    };

    let currency = match currency_marker {
        Some(CurrencyMark::Code(code)) => Some(code.to_owned()),
        Some(CurrencyMark::SiteDollar) | None => default_currency
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty()),
    };
    if !plausible(lo, period, currency.as_deref()) || !plausible(hi, period, currency.as_deref()) {
        return None;
    }
    let (lo, hi) = (round_cents(lo), round_cents(hi));
    let (min, max) = match bound {
        Bound::Both => (Some(lo), Some(hi)),
        Bound::MinOnly => (Some(lo), None),
        Bound::MaxOnly => (None, Some(hi)),
    };
    Some(ParsedAmounts {
        min,
        max,
        currency,
        period,
    })
}

/// Undo the UTF-8-read-as-CP437/CP1252 damage seen in real labels (`ΓÇô` for `–`).
fn repair_mojibake(s: &str) -> String {
    const FIXES: &[(&str, &str)] = &[
        ("ΓÇô", "–"),
        ("ΓÇö", "—"),
        ("ΓÇÖ", "'"),
        ("â€“", "–"),
        ("â€”", "—"),
        ("â€™", "'"),
        ("â‚¬", "€"),
        ("Â£", "£"),
        ("Â\u{a0}", " "),
        ("\u{a0}", " "),
    ];
    let mut out = s.to_owned();
    for (bad, good) in FIXES {
        if out.contains(bad) {
            out = out.replace(bad, good);
        }
    }
    out
}

/// Words that start the part of a label describing things on top of (or inside) the pay.
const EXTRA_WORDS: &[&str] = &[
    "plus",
    "inc",
    "incl",
    "including",
    "includes",
    "inclusive",
    "excl",
    "excluding",
    "exclusive",
    "ex",
    "super",
    "superannuation",
    "kiwisaver",
    "bonus",
    "bonuses",
    "allowance",
    "allowances",
    "benefits",
    "equity",
    "commission",
    "shares",
    "with",
    "or",
    "based",
    "depending",
    "doe",
];

/// Words that may follow a `+` glued to a figure ("$100k+ p.a.") when the `+` means "or more".
const AFTER_OPEN_PLUS: &[&str] = &[
    "per", "a", "an", "pa", "p", "ph", "pd", "pw", "hourly", "daily", "weekly", "monthly",
    "yearly", "annual", "annually", "aud", "nzd", "usd", "cad", "sgd", "hkd", "gbp", "eur",
];

/// Split `s` into the pay and the extras after it. Only markers after the first digit count:
/// before any figure they are part of the wording, not an add-on to a figure.
fn split_extras(s: &str) -> (&str, &str) {
    let mut seen_digit = false;
    let mut prev: Option<char> = None;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let next = iter.peek().map(|(_, n)| *n);
        if c.is_ascii_digit() {
            seen_digit = true;
        } else if seen_digit {
            let cut = match c {
                '(' | '[' | '•' | '·' | '|' | ';' | '*' => true,
                ',' => !next.is_some_and(|n| n.is_ascii_digit()),
                '+' => !is_open_ended_plus(prev, &s[i + c.len_utf8()..]),
                c if c.is_alphabetic() && !prev.is_some_and(char::is_alphabetic) => {
                    let word: String = s[i..]
                        .chars()
                        .take_while(|ch| ch.is_alphabetic())
                        .collect::<String>()
                        .to_lowercase();
                    EXTRA_WORDS.contains(&word.as_str())
                }
                _ => false,
            };
            if cut {
                return (&s[..i], &s[i..]);
            }
        }
        prev = Some(c);
    }
    (s, "")
}

/// Whether a `+` means "or more" ("$100k+", "$30+ per hour") rather than "plus something".
fn is_open_ended_plus(prev: Option<char>, rest: &str) -> bool {
    if !prev.is_some_and(|p| p.is_ascii_digit() || p == 'k' || p == 'K') {
        return false;
    }
    let rest = rest.trim_start();
    if rest.is_empty() || rest.starts_with('/') {
        return true;
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_alphabetic())
        .collect::<String>()
        .to_lowercase();
    !word.is_empty() && AFTER_OPEN_PLUS.contains(&word.as_str())
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num {
        value: f64,
        k: bool,
    },
    /// A currency marker; `None` is a bare `$`, i.e. the site's dollar.
    Cur(Option<&'static str>),
    Dash,
    Plus,
    Percent,
    Slash,
    /// Lower-cased, dots removed ("p.a." → "pa").
    Word(String),
}

/// `XX$` prefixes; ISO codes are accepted as prefixes too ("AUD$").
const DOLLAR_PREFIXES: &[(&str, &str)] = &[
    ("a", "AUD"),
    ("au", "AUD"),
    ("nz", "NZD"),
    ("us", "USD"),
    ("ca", "CAD"),
    ("c", "CAD"),
    ("cdn", "CAD"),
    ("s", "SGD"),
    ("hk", "HKD"),
    ("r", "BRL"),
    ("mx", "MXN"),
];

const ISO_CODES: &[&str] = &[
    "AUD", "NZD", "USD", "CAD", "SGD", "HKD", "GBP", "EUR", "CHF", "JPY", "INR", "PHP", "MYR",
    "BRL", "MXN", "SEK", "NOK", "DKK", "PLN", "ZAR", "CNY",
];

fn iso_code(word: &str) -> Option<&'static str> {
    ISO_CODES
        .iter()
        .copied()
        .find(|c| c.eq_ignore_ascii_case(word))
}

fn tokenize(s: &str) -> Vec<Tok> {
    let chars: Vec<char> = s.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let (value, k, next) = read_number(&chars, i);
            tokens.push(Tok::Num { value, k });
            i = next;
            continue;
        }
        if c.is_alphabetic() {
            let start = i;
            while i < chars.len() && (chars[i].is_alphabetic() || chars[i] == '.') {
                i += 1;
            }
            let raw: String = chars[start..i].iter().filter(|c| **c != '.').collect();
            let word = raw.to_lowercase();
            if chars.get(i) == Some(&'$') {
                let code = DOLLAR_PREFIXES
                    .iter()
                    .find(|(p, _)| *p == word)
                    .map(|(_, code)| *code)
                    .or_else(|| iso_code(&word));
                if let Some(code) = code {
                    tokens.push(Tok::Cur(Some(code)));
                    i += 1;
                    continue;
                }
            }
            tokens.push(match iso_code(&word) {
                Some(code) => Tok::Cur(Some(code)),
                None => Tok::Word(word),
            });
            continue;
        }
        let token = match c {
            '$' => Some(Tok::Cur(None)),
            '£' => Some(Tok::Cur(Some("GBP"))),
            '€' => Some(Tok::Cur(Some("EUR"))),
            '¥' => Some(Tok::Cur(Some("JPY"))),
            '₹' => Some(Tok::Cur(Some("INR"))),
            '₱' => Some(Tok::Cur(Some("PHP"))),
            '-' | '–' | '—' | '‒' | '―' | '−' => Some(Tok::Dash),
            '+' => Some(Tok::Plus),
            '%' => Some(Tok::Percent),
            '/' => Some(Tok::Slash),
            _ => None,
        };
        tokens.extend(token);
        i += 1;
    }
    tokens
}

/// Read "119,910", "46.46", "211.4K" starting at `start`; returns (value, had k, next index).
fn read_number(chars: &[char], start: usize) -> (f64, bool, usize) {
    let digit_at = |j: usize| chars.get(j).is_some_and(char::is_ascii_digit);
    let mut digits = String::new();
    let mut i = start;
    loop {
        match chars.get(i) {
            Some(c) if c.is_ascii_digit() => {
                digits.push(*c);
                i += 1;
            }
            // A thousands separator is a comma before exactly three digits.
            Some(',')
                if !digits.is_empty() && (1..=3).all(|d| digit_at(i + d)) && !digit_at(i + 4) =>
            {
                i += 1;
            }
            _ => break,
        }
    }
    if chars.get(i) == Some(&'.') && digit_at(i + 1) {
        digits.push('.');
        i += 1;
        while digit_at(i) {
            digits.push(chars[i]);
            i += 1;
        }
    }
    let mut value: f64 = digits.parse().unwrap_or(0.0);
    let mut k = false;
    // "k" ends the figure unless it starts a word; "150kpa" glues the period on.
    let glued_pa = matches!(
        (chars.get(i + 1), chars.get(i + 2), chars.get(i + 3)),
        (Some('p' | 'P'), Some('a' | 'A'), next) if !next.is_some_and(|c| c.is_alphanumeric())
    );
    if matches!(chars.get(i), Some('k' | 'K'))
        && (glued_pa || !chars.get(i + 1).is_some_and(|c| c.is_alphanumeric()))
    {
        k = true;
        value *= 1000.0;
        i += 1;
    }
    (value, k, i)
}

/// Words that on their own name a pay period.
fn single_word_period(w: &str) -> Option<SalaryPeriod> {
    match w {
        "pa" | "annum" | "annual" | "annually" | "yearly" => Some(SalaryPeriod::Year),
        "ph" | "hourly" => Some(SalaryPeriod::Hour),
        "pd" | "daily" => Some(SalaryPeriod::Day),
        "pw" | "weekly" => Some(SalaryPeriod::Week),
        "pcm" | "monthly" => Some(SalaryPeriod::Month),
        _ => None,
    }
}

/// Unit words that name a period after "per", "a", "an" or "/".
fn unit_period(w: &str) -> Option<SalaryPeriod> {
    match w {
        "year" | "yr" | "annum" => Some(SalaryPeriod::Year),
        "hour" | "hr" | "hrs" => Some(SalaryPeriod::Hour),
        "day" => Some(SalaryPeriod::Day),
        "week" | "wk" => Some(SalaryPeriod::Week),
        "month" | "mth" | "mo" => Some(SalaryPeriod::Month),
        _ => None,
    }
}

/// Unit words right after a bare figure: a length of time ("3 month contract"), not a rate.
fn is_duration_word(w: &str) -> bool {
    matches!(
        w,
        "hour"
            | "hours"
            | "hr"
            | "hrs"
            | "day"
            | "days"
            | "week"
            | "weeks"
            | "wk"
            | "wks"
            | "fortnight"
            | "fortnights"
            | "month"
            | "months"
            | "mth"
            | "mths"
            | "year"
            | "years"
            | "yr"
            | "yrs"
    )
}

/// Words that mean the figures are not pay (company size, funding, a one-off bonus).
const DISQUALIFIERS: &[&str] = &[
    "m",
    "mil",
    "million",
    "millions",
    "bn",
    "billion",
    "revenue",
    "funding",
    "raised",
    "turnover",
    "valuation",
    "budget",
    "bonus",
    "employees",
    "staff",
    "people",
];

/// Token indices that name a period, with the period. Both tokens of "per hour" are listed.
fn find_periods(tokens: &[Tok]) -> Vec<(usize, SalaryPeriod)> {
    let mut found = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Tok::Word(w) => {
                if let Some(p) = single_word_period(w) {
                    found.push((i, p));
                } else if let Some(Tok::Word(next)) = tokens.get(i + 1)
                    && next == "rate"
                    && let Some(p) = unit_period(w)
                {
                    // "day rate $900 - $1,100", "hour rate".
                    found.push((i, p));
                    found.push((i + 1, p));
                } else if matches!(w.as_str(), "per" | "a" | "an")
                    && let Some(Tok::Word(unit)) = tokens.get(i + 1)
                    && let Some(p) = unit_period(unit)
                {
                    found.push((i, p));
                    found.push((i + 1, p));
                }
            }
            Tok::Slash => {
                if let Some(Tok::Word(unit)) = tokens.get(i + 1)
                    && let Some(p) = unit_period(unit)
                {
                    found.push((i, p));
                    found.push((i + 1, p));
                }
            }
            _ => {}
        }
    }
    found
}

/// Figures that are not amounts: percentages and durations. "$900 day rate" is a rate, so a
/// singular unit straight after a figure with a currency sign is recorded as a period instead.
fn excluded_numbers(tokens: &[Tok], periods: &mut Vec<(usize, SalaryPeriod)>) -> Vec<usize> {
    let mut excluded = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if !matches!(t, Tok::Num { .. }) {
            continue;
        }
        match tokens.get(i + 1) {
            Some(Tok::Percent) => excluded.push(i),
            Some(Tok::Word(w)) if is_duration_word(w) => {
                let has_sign = i > 0 && matches!(tokens[i - 1], Tok::Cur(_));
                match unit_period(w) {
                    Some(p) if has_sign => {
                        periods.push((i + 1, p));
                        periods.sort_by_key(|(idx, _)| *idx);
                    }
                    _ => excluded.push(i),
                }
            }
            _ => {}
        }
    }
    excluded
}

fn is_amount(tokens: &[Tok], i: usize, excluded: &[usize]) -> bool {
    matches!(tokens.get(i), Some(Tok::Num { .. })) && !excluded.contains(&i)
}

fn number_at(tokens: &[Tok], i: usize) -> (f64, bool) {
    match tokens[i] {
        Tok::Num { value, k } => (value, k),
        _ => unreachable!("number_at is only called on number tokens"),
    }
}

/// The index of the upper figure when the figure at `first` starts a range
/// ("$60-75/hour", "$89,399 to $99,987", "$117,000.00/yr - $234,000.00/yr", "between X and Y").
fn range_end(
    tokens: &[Tok],
    first: usize,
    periods: &[(usize, SalaryPeriod)],
    excluded: &[usize],
) -> Option<usize> {
    let skippable = |j: usize| {
        matches!(tokens.get(j), Some(Tok::Cur(_))) || periods.iter().any(|(idx, _)| *idx == j)
    };
    let mut j = first + 1;
    while j < tokens.len() && skippable(j) {
        j += 1;
    }
    let between = first >= 1
        && tokens[..first]
            .iter()
            .rev()
            .find(|t| !matches!(t, Tok::Cur(_)))
            .is_some_and(|t| *t == Tok::Word("between".into()));
    match tokens.get(j) {
        Some(Tok::Dash) => {}
        Some(Tok::Word(w)) if w == "to" || (w == "and" && between) => {}
        _ => return None,
    }
    j += 1;
    while matches!(tokens.get(j), Some(Tok::Cur(_))) {
        j += 1;
    }
    is_amount(tokens, j, excluded).then_some(j)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    Both,
    MinOnly,
    MaxOnly,
}

/// "Up to X" gives only a maximum; "From X" and "X+" only a minimum.
fn bound_modifier(tokens: &[Tok], first: usize) -> Bound {
    if tokens.get(first + 1) == Some(&Tok::Plus) {
        return Bound::MinOnly;
    }
    let before: Vec<&str> = tokens[..first]
        .iter()
        .rev()
        .filter(|t| !matches!(t, Tok::Cur(_)))
        .take(2)
        .map(|t| match t {
            Tok::Word(w) => w.as_str(),
            _ => "",
        })
        .collect();
    match before.as_slice() {
        ["to", "up", ..] | ["upto", ..] | ["max", ..] | ["maximum", ..] => Bound::MaxOnly,
        ["from", ..]
        | ["min", ..]
        | ["minimum", ..]
        | ["least", "at", ..]
        | ["over", ..]
        | ["above", ..] => Bound::MinOnly,
        _ => Bound::Both,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CurrencyMark {
    /// An ISO code, a symbol or a prefixed dollar such as `CA$`.
    Code(&'static str),
    /// A bare `$`: the site's currency.
    SiteDollar,
}

/// The currency the tokens name; an explicit code wins over a bare `$` ("$120K AUD").
fn currency_in(tokens: &[Tok]) -> Option<CurrencyMark> {
    let mut mark = None;
    for t in tokens {
        match t {
            Tok::Cur(Some(code)) => return Some(CurrencyMark::Code(code)),
            Tok::Cur(None) => mark = Some(CurrencyMark::SiteDollar),
            _ => {}
        }
    }
    mark
}

/// Whether the label holds nothing but figures and range words ("160000", "70000 - 80000").
fn only_figures(tokens: &[Tok]) -> bool {
    tokens.iter().all(|t| match t {
        Tok::Num { .. } | Tok::Dash | Tok::Plus => true,
        Tok::Word(w) => matches!(
            w.as_str(),
            "to" | "and" | "between" | "from" | "up" | "upto"
        ),
        _ => false,
    })
}

/// Plausible amounts per period for currencies whose unit is near a US dollar; other
/// currencies (yen, rupees, …) are only required to be positive.
fn plausible(v: f64, period: SalaryPeriod, currency: Option<&str>) -> bool {
    const DOLLAR_LIKE: &[&str] = &["AUD", "NZD", "USD", "CAD", "SGD", "GBP", "EUR", "CHF"];
    if !v.is_finite() || v <= 0.0 {
        return false;
    }
    if currency.is_some_and(|c| !DOLLAR_LIKE.contains(&c)) {
        return true;
    }
    let (lo, hi) = match period {
        SalaryPeriod::Hour => (7.0, 500.0),
        SalaryPeriod::Day => (50.0, 5_000.0),
        SalaryPeriod::Week => (200.0, 20_000.0),
        SalaryPeriod::Month => (500.0, 100_000.0),
        SalaryPeriod::Year => (MIN_ANNUAL, 2_000_000.0),
    };
    (lo..=hi).contains(&v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SalaryPeriod::{Day, Hour, Month, Week, Year};

    /// Expected (min, max, currency, period) for one label, `None` for "no numbers".
    type Expect = Option<(Option<f64>, Option<f64>, &'static str, SalaryPeriod)>;

    fn range(min: f64, max: f64, currency: &'static str, period: SalaryPeriod) -> Expect {
        Some((Some(min), Some(max), currency, period))
    }

    /// What every row of `tests/fixtures/salary_samples.tsv` must parse to, keyed by its text.
    fn sample_expectations() -> Vec<(&'static str, Expect)> {
        vec![
            (
                "$46.46 - $58.67 p.h. + superannuation and benefits",
                range(46.46, 58.67, "AUD", Hour),
            ),
            ("3 month contract", None),
            ("$70,000 - $74,999", range(70_000.0, 74_999.0, "AUD", Year)),
            ("Great learning environment", None),
            ("WFH opportunities", None),
            (
                "$89,399 to $99,987 pa, plus 17% superannuation",
                range(89_399.0, 99_987.0, "AUD", Year),
            ),
            ("Com", None),
            ("Excellent Rates", None),
            ("Competitive Salary Package", None),
            ("$160000", range(160_000.0, 160_000.0, "AUD", Year)),
            ("$180000", range(180_000.0, 180_000.0, "AUD", Year)),
            (
                "$50,000-$70,000 (based on skills & experience)",
                range(50_000.0, 70_000.0, "AUD", Year),
            ),
            (
                "$125,813 - $148,015 + 3% KiwiSaver",
                range(125_813.0, 148_015.0, "NZD", Year),
            ),
            (
                "$110,000 ΓÇô $120,000 per year",
                range(110_000.0, 120_000.0, "NZD", Year),
            ),
            (
                "$117,000 ΓÇô $145,000 per year",
                range(117_000.0, 145_000.0, "NZD", Year),
            ),
            ("Fixed Term Contract roles - 24 Months", None),
            ("$130K", range(130_000.0, 130_000.0, "NZD", Year)),
            ("+Kiwisaver & Health Insurance", None),
            (
                "$68,707 - $80,832 + 3% KiwiSaver",
                range(68_707.0, 80_832.0, "NZD", Year),
            ),
            ("5 weeks leave and own a part of Xero with shares!", None),
            (
                "$130,000 – $140,000 (plus super and parking)",
                range(130_000.0, 140_000.0, "AUD", Year),
            ),
            (
                "$75,000 – $85,000 per year",
                range(75_000.0, 85_000.0, "AUD", Year),
            ),
            ("160000", range(160_000.0, 160_000.0, "AUD", Year)),
            ("$1,000/day + super", range(1_000.0, 1_000.0, "AUD", Day)),
            ("Rates Negotiable", None),
            ("Optional 9 day fortnight | Career Growth", None),
            (
                "$130,000 - $160,000 a year",
                range(130_000.0, 160_000.0, "AUD", Year),
            ),
            (
                "$100,000 - $110,000 a year",
                range(100_000.0, 110_000.0, "USD", Year),
            ),
            ("$19 an hour", range(19.0, 19.0, "USD", Hour)),
            (
                "$117,000.00/yr - $234,000.00/yr",
                range(117_000.0, 234_000.0, "USD", Year),
            ),
            (
                "$211.4K – $290.6K • Offers Equity",
                range(211_400.0, 290_600.0, "USD", Year),
            ),
            (
                "CA$121.5K – CA$166.6K",
                range(121_500.0, 166_600.0, "CAD", Year),
            ),
            ("$60-75/hour + Super", range(60.0, 75.0, "AUD", Hour)),
            ("$900/day (inc. SUPER)", range(900.0, 900.0, "AUD", Day)),
            (
                "$119910 - $133183 p.a. + 11.5% Superannuation",
                range(119_910.0, 133_183.0, "AUD", Year),
            ),
            (
                "$101,611 – $134,815 + $28k annual allowance",
                range(101_611.0, 134_815.0, "AUD", Year),
            ),
            ("AUD 80 - 100 per hour", range(80.0, 100.0, "AUD", Hour)),
        ]
    }

    /// The site currency a bare `$` means for each `origin` in the samples file.
    fn site_currency(origin: &str) -> &'static str {
        match origin {
            "seek_au_chalice_2020"
            | "seek_au_chalice_experience_2021"
            | "seek_graphql_2024"
            | "seek_v5_2026"
            | "indeed_au_viewjob_2026"
            | "seekspider_prompt" => "AUD",
            "seek_nz_ssr_2025" => "NZD",
            "indeed_us_serp_2026"
            | "indeed_us_apify_readme"
            | "linkedin_jobspy"
            | "ashby_2026"
            | "ashby_test" => "USD",
            other => panic!("no site currency for origin `{other}`: add it to site_currency"),
        }
    }

    fn assert_parses(text: &str, default_currency: &str, expect: &Expect) {
        let s = parse_salary_text(text, Some(default_currency));
        assert_eq!(
            s.text.as_deref(),
            Some(text.trim()),
            "text kept for {text:?}"
        );
        match expect {
            None => {
                assert_eq!(
                    (s.min, s.max, s.source, s.annual_min, s.annual_max),
                    (None, None, None, None, None),
                    "{text:?} must give no numbers"
                );
            }
            Some((min, max, currency, period)) => {
                assert_eq!(
                    (s.min, s.max, s.currency.as_deref(), s.period),
                    (*min, *max, Some(*currency), Some(*period)),
                    "parsed {text:?}"
                );
                assert_eq!(s.source, Some(SalarySource::Parsed), "source of {text:?}");
                let annual = |v: Option<f64>| v.map(|x| annualise(x, *period, Some(currency)));
                assert_eq!((s.annual_min, s.annual_max), (annual(*min), annual(*max)));
            }
        }
    }

    #[test]
    fn every_sample_label_parses_to_its_expected_salary() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/salary_samples.tsv"
        );
        let tsv = std::fs::read_to_string(path).expect("salary samples fixture");
        let expectations = sample_expectations();
        let mut rows = 0;
        for line in tsv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 4, "malformed row {line:?}");
            let (origin, text) = (cols[0], cols[3]);
            let expect = expectations
                .iter()
                .find(|(t, _)| *t == text)
                .unwrap_or_else(|| panic!("no expectation for sample {text:?}"))
                .1;
            assert_parses(text, site_currency(origin), &expect);
            rows += 1;
        }
        assert_eq!(rows, 39, "the fixture has 39 samples");
    }

    #[test]
    fn every_expectation_matches_a_sample_row() {
        let tsv = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/salary_samples.tsv"
        ));
        for (text, _) in sample_expectations() {
            assert!(
                tsv.lines().any(|l| l.ends_with(&format!("\t{text}"))),
                "stale expectation {text:?}"
            );
        }
    }

    #[test]
    fn hourly_aud_annualises_on_the_australian_38_hour_week() {
        let s = parse_salary_text(
            "$46.46 - $58.67 p.h. + superannuation and benefits",
            Some("AUD"),
        );
        assert_eq!(s.annual_min, Some(91_804.96));
        assert_eq!(s.annual_max, Some(115_931.92));
    }

    #[test]
    fn hourly_usd_annualises_on_a_2080_hour_year() {
        let s = parse_salary_text("$19 an hour", Some("USD"));
        assert_eq!(
            (s.annual_min, s.annual_max),
            (Some(39_520.0), Some(39_520.0))
        );
    }

    #[test]
    fn day_rate_annualises_over_260_days() {
        let s = parse_salary_text("$800 p.d. + super", Some("AUD"));
        assert_eq!((s.min, s.period), (Some(800.0), Some(Day)));
        assert_eq!(s.annual_min, Some(208_000.0));
    }

    #[test]
    fn k_suffixed_range_with_pa_is_yearly() {
        let s = parse_salary_text("$170k - $180k p.a.", Some("AUD"));
        assert_eq!(
            (s.min, s.max, s.period),
            (Some(170_000.0), Some(180_000.0), Some(Year))
        );
    }

    #[test]
    fn k_glued_to_pa_still_reads_as_thousands_per_year() {
        let s = parse_salary_text("$150kpa", Some("AUD"));
        assert_eq!((s.min, s.period), (Some(150_000.0), Some(Year)));
    }

    #[test]
    fn between_and_forms_a_range() {
        let s = parse_salary_text("Between $80,000 and $90,000", Some("AUD"));
        assert_eq!((s.min, s.max), (Some(80_000.0), Some(90_000.0)));
    }

    #[test]
    fn k_on_the_upper_figure_applies_to_the_lower_one() {
        let s = parse_salary_text("$60-75k", Some("AUD"));
        assert_eq!(
            (s.min, s.max, s.period),
            (Some(60_000.0), Some(75_000.0), Some(Year))
        );
    }

    #[test]
    fn up_to_gives_only_a_maximum() {
        let s = parse_salary_text("Up to $150k", Some("AUD"));
        assert_eq!((s.min, s.max), (None, Some(150_000.0)));
        assert_eq!((s.annual_min, s.annual_max), (None, Some(150_000.0)));
    }

    #[test]
    fn from_and_trailing_plus_give_only_a_minimum() {
        let from = parse_salary_text("From $95,000 per annum", Some("AUD"));
        assert_eq!(
            (from.min, from.max, from.period),
            (Some(95_000.0), None, Some(Year))
        );
        let plus = parse_salary_text("$100k+", Some("AUD"));
        assert_eq!((plus.min, plus.max), (Some(100_000.0), None));
    }

    #[test]
    fn plus_glued_to_a_figure_before_super_is_an_add_on_not_open_ended() {
        let s = parse_salary_text("$100,000+ super", Some("AUD"));
        assert_eq!((s.min, s.max), (Some(100_000.0), Some(100_000.0)));
    }

    #[test]
    fn reversed_range_is_swapped() {
        let s = parse_salary_text("$120,000 - $100,000", Some("AUD"));
        assert_eq!((s.min, s.max), (Some(100_000.0), Some(120_000.0)));
    }

    #[test]
    fn em_dash_and_to_separate_ranges() {
        let em = parse_salary_text("$90,000 — $95,000", Some("AUD"));
        assert_eq!((em.min, em.max), (Some(90_000.0), Some(95_000.0)));
        let to = parse_salary_text("$40 to $45 per hour", Some("AUD"));
        assert_eq!(
            (to.min, to.max, to.period),
            (Some(40.0), Some(45.0), Some(Hour))
        );
    }

    #[test]
    fn cp1252_mojibake_dash_is_repaired() {
        let s = parse_salary_text("$90,000 â€“ $100,000 per year", Some("AUD"));
        assert_eq!((s.min, s.max), (Some(90_000.0), Some(100_000.0)));
        assert_eq!(s.text.as_deref(), Some("$90,000 â€“ $100,000 per year"));
    }

    #[test]
    fn explicit_currency_code_beats_the_site_dollar() {
        let s = parse_salary_text("$120K AUD", Some("USD"));
        assert_eq!(
            (s.min, s.currency.as_deref()),
            (Some(120_000.0), Some("AUD"))
        );
    }

    #[test]
    fn prefixed_dollars_and_symbols_name_their_currency() {
        let cases = [
            ("A$95,000", "AUD"),
            ("AU$95,000", "AUD"),
            ("NZ$95,000", "NZD"),
            ("US$95,000", "USD"),
            ("C$95,000", "CAD"),
            ("CDN$95,000", "CAD"),
            ("S$95,000", "SGD"),
            ("HK$950,000", "HKD"),
            ("£95,000", "GBP"),
            ("€95,000", "EUR"),
            ("95,000 EUR", "EUR"),
        ];
        for (text, code) in cases {
            let s = parse_salary_text(text, Some("AUD"));
            assert_eq!(s.currency.as_deref(), Some(code), "{text}");
            assert!(s.min.is_some(), "{text} has numbers");
        }
    }

    #[test]
    fn every_period_spelling_is_recognised() {
        let cases = [
            ("$80,000 p.a.", Year),
            ("$80,000 pa", Year),
            ("$80,000 per annum", Year),
            ("$80,000 per year", Year),
            ("$80,000 a year", Year),
            ("$80,000 annual", Year),
            ("$80,000/yr", Year),
            ("$80,000 yearly", Year),
            ("$40 p.h.", Hour),
            ("$40 ph", Hour),
            ("$40 per hour", Hour),
            ("$40 an hour", Hour),
            ("$40/hour", Hour),
            ("$40/hr", Hour),
            ("$40 hourly", Hour),
            ("$400 p.d.", Day),
            ("$400 per day", Day),
            ("$400 a day", Day),
            ("$400/day", Day),
            ("$400 daily", Day),
            ("$1,500 per week", Week),
            ("$1,500 a week", Week),
            ("$1,500/wk", Week),
            ("$1,500 weekly", Week),
            ("$6,000 per month", Month),
            ("$6,000 a month", Month),
            ("$6,000/month", Month),
            ("$6,000 monthly", Month),
        ];
        for (text, period) in cases {
            let s = parse_salary_text(text, Some("AUD"));
            assert_eq!(s.period, Some(period), "{text}");
            assert!(s.min.is_some(), "{text} has numbers");
        }
    }

    #[test]
    fn small_figure_without_a_period_is_not_invented_into_a_salary() {
        for text in ["$45", "$5,000", "$60-75"] {
            let s = parse_salary_text(text, Some("AUD"));
            assert_eq!((s.min, s.max, s.period), (None, None, None), "{text}");
        }
    }

    #[test]
    fn implausible_figures_for_the_period_are_dropped() {
        for text in [
            "$3 per hour",
            "$60,000 per hour",
            "$80 per year",
            "$9,000,000 p.a.",
        ] {
            let s = parse_salary_text(text, Some("AUD"));
            assert_eq!((s.min, s.max), (None, None), "{text}");
        }
    }

    #[test]
    fn figures_that_are_not_pay_give_no_numbers() {
        for text in [
            "Raised $40 million in funding",
            "Team of 20000 people",
            "$5,000 sign-on bonus",
            "Annual leave of 25 days",
        ] {
            let s = parse_salary_text(text, Some("AUD"));
            assert_eq!((s.min, s.max), (None, None), "{text}");
        }
    }

    #[test]
    fn day_rate_wording_before_the_figures_names_the_period() {
        let s = parse_salary_text("Attractive day rate $900 - $1,100", Some("AUD"));
        assert_eq!(
            (s.min, s.max, s.period),
            (Some(900.0), Some(1_100.0), Some(Day))
        );
        let after = parse_salary_text("$900 day rate", Some("AUD"));
        assert_eq!((after.min, after.period), (Some(900.0), Some(Day)));
    }

    #[test]
    fn hourly_range_without_a_period_is_left_unparsed() {
        let s = parse_salary_text("$45 - $50 + super", Some("AUD"));
        assert_eq!((s.min, s.max, s.period), (None, None, None));
    }

    #[test]
    fn period_after_a_figureless_add_on_still_counts() {
        let s = parse_salary_text("$45 + super per hour", Some("AUD"));
        assert_eq!((s.min, s.period), (Some(45.0), Some(Hour)));
    }

    #[test]
    fn bare_dollar_without_a_site_currency_leaves_currency_unknown() {
        let s = parse_salary_text("$95,000", None);
        assert_eq!((s.min, s.currency), (Some(95_000.0), None));
    }

    #[test]
    fn blank_label_is_an_empty_salary() {
        assert_eq!(parse_salary_text("   ", Some("AUD")), Salary::default());
    }

    #[test]
    fn text_is_kept_trimmed_even_for_junk() {
        let s = parse_salary_text("  Rates Negotiable ", Some("AUD"));
        assert_eq!(s, Salary::text_only("Rates Negotiable"));
    }

    #[test]
    fn structured_salary_annualises_and_swaps_reversed_bounds() {
        let s = structured_salary(
            Some(58.67),
            Some(46.46),
            Some("aud"),
            Some(Hour),
            Some("$46.46 - $58.67".into()),
        );
        assert_eq!((s.min, s.max), (Some(46.46), Some(58.67)));
        assert_eq!(s.currency.as_deref(), Some("AUD"));
        assert_eq!(
            (s.annual_min, s.annual_max),
            (Some(91_804.96), Some(115_931.92))
        );
        assert_eq!(s.source, Some(SalarySource::Structured));
    }

    #[test]
    fn structured_salary_without_a_period_has_no_annual_figures() {
        let s = structured_salary(Some(150_000.0), Some(180_000.0), Some("USD"), None, None);
        assert_eq!((s.min, s.max), (Some(150_000.0), Some(180_000.0)));
        assert_eq!((s.annual_min, s.annual_max), (None, None));
    }

    #[test]
    fn structured_salary_treats_zero_as_absent() {
        let s = structured_salary(Some(0.0), Some(120_000.0), Some("USD"), Some(Year), None);
        assert_eq!(
            (s.min, s.max, s.annual_max),
            (None, Some(120_000.0), Some(120_000.0))
        );
        let none = structured_salary(None, Some(0.0), Some("USD"), Some(Year), Some("DOE".into()));
        assert_eq!(none, Salary::text_only("DOE"));
    }

    #[test]
    fn period_labels_from_every_source_map_to_periods() {
        let cases = [
            ("YEAR", Some(Year)),
            ("YEARLY", Some(Year)),
            ("ANNUAL", Some(Year)),
            ("per-year-salary", Some(Year)),
            ("1 YEAR", Some(Year)),
            ("AnnualPackage", Some(Year)),
            ("HOUR", Some(Hour)),
            ("HOURLY", Some(Hour)),
            ("hourly", Some(Hour)),
            ("per-hour-wage", Some(Hour)),
            ("1 HOUR", Some(Hour)),
            ("HourlyRate", Some(Hour)),
            ("DAY", Some(Day)),
            ("per-day-wage", Some(Day)),
            ("WEEK", Some(Week)),
            ("per-week-salary", Some(Week)),
            ("MONTH", Some(Month)),
            ("per-month-salary", Some(Month)),
            ("1 MONTH", Some(Month)),
            ("2 WEEK", None),
            ("6 MONTH", None),
            ("ONE_TIME", None),
            ("", None),
        ];
        for (label, expected) in cases {
            assert_eq!(period_from_label(label), expected, "{label:?}");
        }
    }

    #[test]
    fn annualise_uses_the_documented_factors_and_rounds_to_cents() {
        assert_eq!(annualise(50.0, Hour, Some("NZD")), 98_800.0);
        assert_eq!(annualise(50.0, Hour, Some("GBP")), 104_000.0);
        assert_eq!(annualise(50.0, Hour, None), 104_000.0);
        assert_eq!(annualise(500.0, Day, Some("AUD")), 130_000.0);
        assert_eq!(annualise(2_000.0, Week, Some("AUD")), 104_000.0);
        assert_eq!(annualise(8_000.0, Month, Some("AUD")), 96_000.0);
        assert_eq!(annualise(90_000.0, Year, Some("AUD")), 90_000.0);
        assert_eq!(annualise(33.333, Hour, Some("USD")), 69_332.64);
    }
}
