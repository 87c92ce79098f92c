//! The keys that group postings of one job across boards (issue #15, "clusters").
//!
//! - [`company_key`]: the company without case, punctuation or legal suffixes (Pty Ltd, Ltd,
//!   Inc, GmbH, LLC, …); `None` for an unknown company ("Private Advertiser", "Confidential"),
//!   which is therefore never clustered on its company.
//! - [`title_key`]: the title's words without case, punctuation, gender tags ("(m/w/d)") or
//!   bracketed asides ("(Re-advertised)"), common abbreviations spelled out, sorted — so "Sr.
//!   Engineer, Backend" and "Backend Senior Engineer" share a key.
//! - [`simhash`]: a 64-bit SimHash over word 3-shingles of the description's text; two
//!   descriptions of the same job differ in few bits whatever their HTML, bullet order or
//!   footer. [`SIMHASH_MAX_DISTANCE`] is the threshold, measured on the labelled set
//!   (`ingest/tests/clusters.rs`, see the README).
//!
//! All three are pure functions of the posting; the store keeps them in columns so finding a
//! posting's candidates is one indexed lookup.

/// Longest key kept (the columns are `VARCHAR(255)`; a longer title is cut on a word).
const KEY_MAX: usize = 200;
/// Words of a description read for its SimHash: bounds the work per hostile posting.
const SIMHASH_MAX_WORDS: usize = 4_000;
/// A description with fewer words than this has too few shingles to tell jobs apart: such a
/// posting gets no SimHash and joins no cluster (precision over recall).
pub const SIMHASH_MIN_WORDS: usize = 12;
/// Two descriptions whose SimHashes differ in at most this many of 64 bits are the same job.
/// Measured on the labelled set (`cargo test -p ingest --test clusters -- --nocapture` prints
/// both distributions): variants of one job (reformatted HTML, shuffled bullets, another
/// board) differ in 0–15 bits — the most for short descriptions, where each moved bullet is a
/// large share of the shingles — and different jobs with the same company and title in 24–39.
/// 18 sits in that gap; two unrelated 64-bit hashes come this close with p ≈ 0.0004.
pub const SIMHASH_MAX_DISTANCE: u32 = 18;

/// Words that mean "we do not say who": never a key.
const UNKNOWN_COMPANIES: &[&str] = &[
    "private advertiser",
    "private",
    "confidential",
    "anonymous",
    "undisclosed",
    "company confidential",
    "confidential company",
    "not disclosed",
    "unknown",
];

/// Legal-form words dropped wherever they trail the name ("Acme Pty Ltd", "Acme GmbH & Co KG").
const LEGAL_SUFFIXES: &[&str] = &[
    "pty",
    "ltd",
    "limited",
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "llc",
    "llp",
    "lp",
    "plc",
    "gmbh",
    "ag",
    "kg",
    "se",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "ab",
    "as",
    "oy",
    "pte",
    "pvt",
    "private",
    "nz",
    "au",
    "australia",
    "group",
    "holdings",
    "the",
];

/// Lower-case words of `s` (letters and digits; everything else separates), `&` read as "and".
fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !(c.is_alphanumeric() || c == '&'))
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w == "&" {
                "and".to_owned()
            } else {
                w.replace('&', "").to_lowercase()
            }
        })
        .filter(|w| !w.is_empty())
}

/// The company as a key, or `None` when it is unknown.
pub fn company_key(company: Option<&str>) -> Option<String> {
    let company = company?;
    // "Acme Pty. Ltd." → "acme pty ltd"; dots inside initialisms ("A.B.C.") go too.
    let folded = company.replace('.', "");
    let mut w: Vec<String> = words(&folded).collect();
    if UNKNOWN_COMPANIES.contains(&w.join(" ").as_str()) {
        return None;
    }
    if w.first().is_some_and(|f| f == "the") && w.len() > 1 {
        w.remove(0);
    }
    // Trailing legal forms ("gmbh and co kg" included), but never the whole name.
    while w.len() > 1
        && w.last()
            .is_some_and(|l| l == "and" || LEGAL_SUFFIXES.contains(&l.as_str()))
    {
        w.pop();
    }
    let key = cut(w.join(" "));
    (!key.is_empty()).then_some(key)
}

/// The title as a key (never empty for a non-empty title).
pub fn title_key(title: &str) -> String {
    // Bracketed asides: "(Re-advertised)", "[Remote]", "(m/w/d)".
    let mut plain = String::with_capacity(title.len());
    let mut depth = 0usize;
    for c in title.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let mut w: Vec<String> = words(&plain)
        .map(|w| match w.as_str() {
            "sr" | "snr" => "senior".to_owned(),
            "jr" | "jnr" => "junior".to_owned(),
            "mgr" => "manager".to_owned(),
            "eng" | "engr" => "engineer".to_owned(),
            "dev" => "developer".to_owned(),
            "asst" => "assistant".to_owned(),
            _ => w,
        })
        // Gender tags written without brackets ("Engineer m/w/d" → "m", "w", "d").
        .filter(|w| !matches!(w.as_str(), "m" | "w" | "d" | "f" | "h" | "x" | "div"))
        .collect();
    if w.is_empty() {
        // A title of nothing but an aside: keep its words rather than an empty key.
        w = words(title).collect();
    }
    w.sort();
    w.dedup();
    cut(w.join(" "))
}

/// Cut a key to [`KEY_MAX`] bytes on a character boundary.
fn cut(mut s: String) -> String {
    if s.len() > KEY_MAX {
        let mut end = KEY_MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// 64-bit FNV-1a: stable across releases and platforms (stored hashes must stay comparable).
#[cfg(test)]
fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_from(FNV_OFFSET, bytes)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a continued from `h` over `bytes`.
fn fnv1a_from(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A second mixing step: FNV's low bits are weak for short inputs.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// SimHash of the description's word 3-shingles, or `None` when it has fewer than
/// [`SIMHASH_MIN_WORDS`] words (or is absent).
pub fn simhash(text: Option<&str>) -> Option<u64> {
    // The same words as [`words`], found byte by byte and written lower-cased into one
    // buffer, each followed by a space, so the shingle "w1 w2 w3" is one slice of it. This
    // runs for every new or changed posting inside the page's transaction: `str::split` with a
    // char predicate, a `String` per capitalised word and hashing word by word were most of
    // clustering's cost per page (~220,000 instructions for a 2 KB description, callgrind).
    let text = text?;
    let mut buf: Vec<u8> = Vec::with_capacity(text.len() + 8);
    let mut starts: Vec<u32> = Vec::with_capacity(text.len() / 5);
    for_each_word(text, |word| {
        if starts.len() == SIMHASH_MAX_WORDS {
            return false;
        }
        let start = buf.len();
        if word == "&" {
            buf.extend_from_slice(b"and");
        } else if word.is_ascii() && !word.contains('&') {
            // Nearly every word: a copy, lower-cased in place.
            buf.extend_from_slice(word.as_bytes());
            buf[start..].make_ascii_lowercase();
        } else if word.is_ascii() {
            buf.extend(
                word.bytes()
                    .filter(|b| *b != b'&')
                    .map(|b| b.to_ascii_lowercase()),
            );
        } else {
            buf.extend_from_slice(word.replace('&', "").to_lowercase().as_bytes());
        }
        if buf.len() > start {
            starts.push(start as u32);
            buf.push(b' ');
        }
        true
    });
    let n = starts.len();
    if n < SIMHASH_MIN_WORDS {
        return None;
    }
    // Where word `j` ends (before its space).
    let end = |j: usize| {
        if j < n {
            starts[j] as usize - 1
        } else {
            buf.len() - 1
        }
    };
    // Per bit, how many shingle hashes have it set; the SimHash has the bits set in more than
    // half of them. Counted eight bits at a time: a table spreads each byte of a hash into
    // eight byte-wide counters of one u64, flushed into `ones` before a counter can overflow.
    let mut ones = [0u32; 64];
    let mut lanes = [0u64; 8];
    let mut pending = 0u32;
    let mut shingles = 0u32;
    for i in 0..n - 2 {
        // FNV-1a of "w1 w2 w3": the same value as hashing the joined shingle.
        let h = fnv1a_from(FNV_OFFSET, &buf[starts[i] as usize..end(i + 3)]);
        let h = mix(h);
        for (k, lane) in lanes.iter_mut().enumerate() {
            *lane += SPREAD[(h >> (8 * k)) as usize & 0xff];
        }
        shingles += 1;
        pending += 1;
        if pending == 255 {
            flush(&mut lanes, &mut ones);
            pending = 0;
        }
    }
    flush(&mut lanes, &mut ones);
    let mut out = 0u64;
    for (bit, n) in ones.iter().enumerate() {
        // More set than clear: the sign of (set − clear), as a ±1 sum per shingle gives.
        if 2 * n > shingles {
            out |= 1 << bit;
        }
    }
    Some(out)
}

/// Call `f` with each maximal run of alphanumeric characters and `&` in `text` (the pieces
/// `text.split(|c| !(c.is_alphanumeric() || c == '&'))` gives, empty ones skipped) until it
/// returns `false`. ASCII is classified by a table, a byte at a time; only non-ASCII
/// characters are decoded.
fn for_each_word<'t>(text: &'t str, mut f: impl FnMut(&'t str) -> bool) {
    let bytes = text.as_bytes();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (in_word, len) = if b < 0x80 {
            (ASCII_WORD[b as usize], 1)
        } else {
            // `i` is on a character boundary: every step is one whole character.
            let c = text[i..].chars().next().unwrap_or(' ');
            (c.is_alphanumeric(), c.len_utf8())
        };
        match (in_word, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if !f(&text[s..i]) {
                    return;
                }
                start = None;
            }
            _ => {}
        }
        i += len;
    }
    if let Some(s) = start {
        f(&text[s..]);
    }
}

/// Which ASCII bytes belong to a word: letters, digits and `&`.
const ASCII_WORD: [bool; 128] = {
    let mut t = [false; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'&';
        b += 1;
    }
    t
};

/// `SPREAD[b]` has byte `i` set to 1 where bit `i` of `b` is set.
const SPREAD: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut i = 0;
        while i < 8 {
            if b >> i & 1 == 1 {
                t[b] |= 1 << (8 * i);
            }
            i += 1;
        }
        b += 1;
    }
    t
};

/// Add the byte counters of `lanes` (lane `k`, byte `i` counts bit `8k + i`) into `ones`.
fn flush(lanes: &mut [u64; 8], ones: &mut [u32; 64]) {
    for (k, lane) in lanes.iter_mut().enumerate() {
        for i in 0..8 {
            ones[8 * k + i] += (*lane >> (8 * i) & 0xff) as u32;
        }
        *lane = 0;
    }
}

/// Bits in which two SimHashes differ.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SimHash as first written (joined shingles, owned words): stored hashes were made
    /// with it, so the faster one must give the very same bits.
    fn simhash_reference(text: Option<&str>) -> Option<u64> {
        let w: Vec<String> = words(text?).take(SIMHASH_MAX_WORDS).collect();
        if w.len() < SIMHASH_MIN_WORDS {
            return None;
        }
        let mut counts = [0i32; 64];
        for shingle in w.windows(3) {
            let h = mix(fnv1a(shingle.join(" ").as_bytes()));
            for (bit, c) in counts.iter_mut().enumerate() {
                *c += if h >> bit & 1 == 1 { 1 } else { -1 };
            }
        }
        Some(
            (0..64)
                .filter(|bit| counts[*bit] > 0)
                .fold(0u64, |out, bit| out | 1 << bit),
        )
    }

    #[test]
    fn simhash_gives_the_bits_it_always_gave() {
        let texts = [
            "We are hiring a Senior Rust Engineer to build our data platform in Sydney. You will work with Kafka & Postgres.",
            "ÉQUIPE Développeur logiciel — München & Zürich; Straße 5, 80331. Wir suchen eine*n Entwickler*in (m/w/d) für unser Team.",
            "AND & and &amp; A&B R&D: Q&A sessions every FRIDAY with the CTO and VP of Engineering, plus   spaces\tand\nlines.",
            "İstanbul ǅemal ΣΊΣΥΦΟΣ straße ﬁnance ǈ Ǌ words words words words words words words words",
            "too short",
            "",
        ];
        for t in texts {
            assert_eq!(simhash(Some(t)), simhash_reference(Some(t)), "{t}");
        }
        // A long generated text: every shingle of a few hundred words.
        let long: String = (0..600)
            .map(|i| ["Alpha", "beta", "GAMMA", "d&e", "&", "Ünï", "x1", "Y2K"][i * 7 % 8])
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(simhash(Some(&long)), simhash_reference(Some(&long)));
        assert_eq!(simhash(None), None);
    }

    /// The byte scanner finds exactly the pieces `str::split` with the char predicate finds,
    /// and the SimHash stays the reference's, on texts built at random from awkward pieces:
    /// multi-byte letters and digits, non-letter symbols, combining marks, `&`, case that
    /// lower-cases to more bytes.
    #[test]
    fn the_byte_scanner_splits_like_str_split() {
        let pieces = [
            "a", "Z", "7", "&", "&&", " ", "  ", "\t", "\n", ".", ",", "-", "/", "(", "é", "É",
            "ß", "İ", "Σ", "ς", "ǅ", "ﬁ", "中", "文", "٣", "²", "€", "—", "\u{301}", "\u{a0}",
            "🙂", "R&D", "Engineer", "ENGINEER", "rust", "x1", "\u{200b}", "ǈ",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2_000 {
            let len = (next() % 80) as usize;
            let text: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let expected: Vec<&str> = text
                .split(|c: char| !(c.is_alphanumeric() || c == '&'))
                .filter(|w| !w.is_empty())
                .collect();
            let mut found = Vec::new();
            for_each_word(&text, |w| {
                found.push(w);
                true
            });
            assert_eq!(found, expected, "{text:?}");
            assert_eq!(
                simhash(Some(&text)),
                simhash_reference(Some(&text)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn legal_suffixes_case_and_punctuation_do_not_change_the_company_key() {
        let k = company_key(Some("Acme"));
        assert_eq!(k.as_deref(), Some("acme"));
        for c in [
            "ACME Pty Ltd",
            "Acme Pty. Ltd.",
            "Acme, Inc.",
            "acme gmbh",
            "Acme LLC",
            "The Acme Company",
            "Acme GmbH & Co. KG",
        ] {
            assert_eq!(company_key(Some(c)), k, "{c}");
        }
        assert_ne!(company_key(Some("Acme Health")), k);
    }

    #[test]
    fn an_unknown_company_has_no_key() {
        for c in [
            "Private Advertiser",
            "private advertiser",
            "Confidential",
            "  ",
        ] {
            assert_eq!(company_key(Some(c)), None, "{c}");
        }
        assert_eq!(company_key(None), None);
    }

    #[test]
    fn title_keys_ignore_order_asides_and_abbreviations() {
        let k = title_key("Senior Backend Engineer");
        assert_eq!(title_key("Sr. Engineer, Backend"), k);
        assert_eq!(title_key("Senior Backend Engineer (Re-advertised)"), k);
        assert_eq!(title_key("Senior Backend Engineer (m/w/d)"), k);
        assert_eq!(title_key("SENIOR BACKEND ENGINEER m/w/d"), k);
        assert_ne!(title_key("Senior Frontend Engineer"), k);
        assert_eq!(title_key("(Remote)"), "remote");
    }

    #[test]
    fn simhash_needs_enough_words_and_is_stable() {
        assert_eq!(simhash(Some("too short")), None);
        let text = "We are hiring a backend engineer to build and run the services that \
                    store millions of job postings every day across many boards.";
        let a = simhash(Some(text)).unwrap();
        assert_eq!(simhash(Some(text)), Some(a));
        // Case and punctuation do not count.
        let b = simhash(Some(&text.to_uppercase().replace('.', " !"))).unwrap();
        assert_eq!(hamming(a, b), 0);
    }
}
