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
    bytes.iter().fold(FNV_OFFSET, |h, b| fnv(h, u64::from(*b)))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// One FNV-1a step: `byte` into the state `h`.
#[inline(always)]
fn fnv(h: u64, byte: u64) -> u64 {
    (h ^ byte).wrapping_mul(FNV_PRIME)
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
///
/// The bits are those of hashing each joined, lower-cased shingle "w1 w2 w3" with FNV-1a
/// ([`words`] gives the words; stored hashes must stay comparable, and `simhash_reference` in
/// the tests is that definition). This runs for every new or changed posting inside the page's
/// transaction, so it reads the text once, a byte at a time: one table lookup classifies and
/// lower-cases an ASCII byte, which goes straight into the three FNV states that need it (the
/// shingle the word ends, the one it is the middle of, the one it starts) — no word is copied,
/// and the three multiply chains overlap instead of waiting on each other. Only a word with a
/// non-ASCII letter is lower-cased as a string (Unicode lower-casing depends on the whole
/// word: a final 'Σ' becomes 'ς'). Splitting with `str::split` and hashing shingle by shingle
/// cost ~156,000 instructions per 2 KB description (callgrind), most of clustering's cost per
/// page; this ~45,000.
pub fn simhash(text: Option<&str>) -> Option<u64> {
    let text = text?;
    let bytes = text.as_bytes();
    let mut acc = Shingles::new();
    // FNV states after "w(j-2) w(j-1) " and after "w(j-1) ", on entering word j.
    let (mut two, mut one) = (FNV_OFFSET, FNV_OFFSET);
    let mut words = 0usize;
    let mut i = 0;
    while i < bytes.len() && words < SIMHASH_MAX_WORDS {
        // Skip to the next word.
        let class = CLASS[bytes[i] as usize];
        if class == SEPARATOR {
            i += 1;
            continue;
        }
        if class == NON_ASCII {
            let c = text[i..].chars().next().unwrap_or(' ');
            if !c.is_alphanumeric() {
                i += c.len_utf8();
                continue;
            }
        }
        // A word from `start`: hash its lower-cased ASCII letters and digits as they come.
        let start = i;
        let (mut a, mut b, mut c) = (two, one, FNV_OFFSET);
        let (mut ascii, mut hashed) = (true, false);
        while i < bytes.len() {
            let class = CLASS[bytes[i] as usize];
            if class > AMPERSAND {
                let x = u64::from(class);
                a = fnv(a, x);
                b = fnv(b, x);
                c = fnv(c, x);
                hashed = true;
                i += 1;
            } else if class == AMPERSAND {
                i += 1;
            } else if class == SEPARATOR {
                break;
            } else {
                let ch = text[i..].chars().next().unwrap_or(' ');
                if !ch.is_alphanumeric() {
                    break;
                }
                ascii = false;
                i += ch.len_utf8();
            }
        }
        let word = &text[start..i];
        if !ascii {
            // Hash it again from the word's start, as `words` lower-cases it.
            let lower = word.replace('&', "").to_lowercase();
            if lower.is_empty() {
                continue;
            }
            (a, b, c) = fnv3((two, one, FNV_OFFSET), lower.as_bytes());
        } else if !hashed {
            // Only `&`s: "&" alone is "and", "&&" no word.
            if word.len() > 1 {
                continue;
            }
            (a, b, c) = fnv3((two, one, FNV_OFFSET), b"and");
        }
        words += 1;
        if words >= 3 {
            // `a` is the whole shingle "w(j-2) w(j-1) w(j)".
            acc.add(mix(a));
        }
        let space = u64::from(b' ');
        two = fnv(b, space);
        one = fnv(c, space);
    }
    (words >= SIMHASH_MIN_WORDS).then(|| acc.finish())
}

/// Three FNV-1a states continued over the same bytes.
fn fnv3((mut a, mut b, mut c): (u64, u64, u64), bytes: &[u8]) -> (u64, u64, u64) {
    for x in bytes {
        let x = u64::from(*x);
        a = fnv(a, x);
        b = fnv(b, x);
        c = fnv(c, x);
    }
    (a, b, c)
}

/// Per bit, how many shingle hashes have it set; the SimHash has the bits set in more than
/// half of them. Counted eight bits at a time: a table spreads each byte of a hash into eight
/// byte-wide counters of one u64, flushed into `ones` before a counter can overflow.
struct Shingles {
    ones: [u32; 64],
    lanes: [u64; 8],
    pending: u32,
    count: u32,
}

impl Shingles {
    fn new() -> Shingles {
        Shingles {
            ones: [0; 64],
            lanes: [0; 8],
            pending: 0,
            count: 0,
        }
    }

    fn add(&mut self, h: u64) {
        for (k, lane) in self.lanes.iter_mut().enumerate() {
            *lane += SPREAD[(h >> (8 * k)) as usize & 0xff];
        }
        self.count += 1;
        self.pending += 1;
        if self.pending == 255 {
            self.flush();
        }
    }

    /// Add the byte counters of `lanes` (lane `k`, byte `i` counts bit `8k + i`) into `ones`.
    fn flush(&mut self) {
        for (k, lane) in self.lanes.iter_mut().enumerate() {
            for i in 0..8 {
                self.ones[8 * k + i] += (*lane >> (8 * i) & 0xff) as u32;
            }
            *lane = 0;
        }
        self.pending = 0;
    }

    fn finish(mut self) -> u64 {
        self.flush();
        let mut out = 0u64;
        for (bit, n) in self.ones.iter().enumerate() {
            // More set than clear: the sign of (set − clear), as a ±1 sum per shingle gives.
            if 2 * n > self.count {
                out |= 1 << bit;
            }
        }
        out
    }
}

/// A separator byte ([`CLASS`]).
const SEPARATOR: u8 = 0;
/// The first byte of a non-ASCII character, or a later one ([`CLASS`]).
const NON_ASCII: u8 = 1;
/// `&` ([`CLASS`]).
const AMPERSAND: u8 = 2;
/// `CLASS[b]`: for an ASCII letter or digit its lower case (above [`AMPERSAND`]), else
/// [`SEPARATOR`], [`NON_ASCII`] or [`AMPERSAND`].
const CLASS: [u8; 256] = {
    let mut t = [SEPARATOR; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c >= 0x80 {
            NON_ASCII
        } else if c == b'&' {
            AMPERSAND
        } else if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            SEPARATOR
        };
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
        // Longer than SIMHASH_MAX_WORDS: only the first words count, ending on a word or not.
        for tail in ["", " ", " &", " Zürich"] {
            let longest = format!("{}{tail}", long.repeat(9));
            assert_eq!(simhash(Some(&longest)), simhash_reference(Some(&longest)));
        }
        assert_eq!(simhash(None), None);
    }

    /// The byte scanner finds exactly the words [`words`] finds, lower-cased the same way:
    /// the SimHash stays the reference's on texts built at random from awkward pieces:
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
            let len = (next() % 120) as usize;
            let text: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
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
