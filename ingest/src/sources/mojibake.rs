//! Repair of UTF-8 text that was decoded with a single-byte code page somewhere upstream.
//!
//! SEEK cards carry `ΓÇô` for `–` (UTF-8 bytes E2 80 93 read as code page 437) and other sites
//! `â€“` (the same bytes read as Windows-1252). Instead of a table of known bad strings, each run of
//! characters that maps back to the bytes of one valid multi-byte UTF-8 character is replaced by
//! that character. Ordinary accented text is left alone: a lone `é` or `ü` never forms a valid
//! multi-byte sequence on its own.

use std::borrow::Cow;

/// Code page 437, bytes 0x80..=0xFF.
const CP437_HIGH: [char; 128] = [
    '\u{c7}', '\u{fc}', '\u{e9}', '\u{e2}', '\u{e4}', '\u{e0}', '\u{e5}', '\u{e7}', '\u{ea}',
    '\u{eb}', '\u{e8}', '\u{ef}', '\u{ee}', '\u{ec}', '\u{c4}', '\u{c5}', '\u{c9}', '\u{e6}',
    '\u{c6}', '\u{f4}', '\u{f6}', '\u{f2}', '\u{fb}', '\u{f9}', '\u{ff}', '\u{d6}', '\u{dc}',
    '\u{a2}', '\u{a3}', '\u{a5}', '\u{20a7}', '\u{192}', '\u{e1}', '\u{ed}', '\u{f3}', '\u{fa}',
    '\u{f1}', '\u{d1}', '\u{aa}', '\u{ba}', '\u{bf}', '\u{2310}', '\u{ac}', '\u{bd}', '\u{bc}',
    '\u{a1}', '\u{ab}', '\u{bb}', '\u{2591}', '\u{2592}', '\u{2593}', '\u{2502}', '\u{2524}',
    '\u{2561}', '\u{2562}', '\u{2556}', '\u{2555}', '\u{2563}', '\u{2551}', '\u{2557}', '\u{255d}',
    '\u{255c}', '\u{255b}', '\u{2510}', '\u{2514}', '\u{2534}', '\u{252c}', '\u{251c}', '\u{2500}',
    '\u{253c}', '\u{255e}', '\u{255f}', '\u{255a}', '\u{2554}', '\u{2569}', '\u{2566}', '\u{2560}',
    '\u{2550}', '\u{256c}', '\u{2567}', '\u{2568}', '\u{2564}', '\u{2565}', '\u{2559}', '\u{2558}',
    '\u{2552}', '\u{2553}', '\u{256b}', '\u{256a}', '\u{2518}', '\u{250c}', '\u{2588}', '\u{2584}',
    '\u{258c}', '\u{2590}', '\u{2580}', '\u{3b1}', '\u{df}', '\u{393}', '\u{3c0}', '\u{3a3}',
    '\u{3c3}', '\u{b5}', '\u{3c4}', '\u{3a6}', '\u{398}', '\u{3a9}', '\u{3b4}', '\u{221e}',
    '\u{3c6}', '\u{3b5}', '\u{2229}', '\u{2261}', '\u{b1}', '\u{2265}', '\u{2264}', '\u{2320}',
    '\u{2321}', '\u{f7}', '\u{2248}', '\u{b0}', '\u{2219}', '\u{b7}', '\u{221a}', '\u{207f}',
    '\u{b2}', '\u{25a0}', '\u{a0}',
];

/// Windows-1252, bytes 0x80..=0x9F (0xA0..=0xFF are Latin-1). Undefined bytes decode to the
/// C1 control of the same value, as browsers and Python's `latin-1` fallback do.
const CP1252_80_9F: [char; 32] = [
    '\u{20ac}', '\u{81}', '\u{201a}', '\u{192}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2c6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8d}', '\u{17d}', '\u{8f}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2dc}', '\u{2122}', '\u{161}', '\u{203a}', '\u{153}', '\u{9d}', '\u{17e}', '\u{178}',
];

fn cp437_byte(c: char) -> Option<u8> {
    CP437_HIGH
        .iter()
        .position(|&x| x == c)
        .map(|i| 0x80 + i as u8)
}

fn cp1252_byte(c: char) -> Option<u8> {
    match u32::from(c) {
        code @ 0xA0..=0xFF => Some(code as u8),
        _ => CP1252_80_9F
            .iter()
            .position(|&x| x == c)
            .map(|i| 0x80 + i as u8),
    }
}

/// Length of the UTF-8 sequence a lead byte starts (0 when it cannot start a multi-byte one).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

fn repair_with(text: &str, to_byte: fn(char) -> Option<u8>) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < chars.len() {
        if let Some(decoded) = decode_at(&chars[i..], to_byte) {
            out.push(decoded.0);
            i += decoded.1;
            changed = true;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    changed.then_some(out)
}

/// The character that `chars` starts with once mapped back to bytes, and how many chars it used.
fn decode_at(chars: &[char], to_byte: fn(char) -> Option<u8>) -> Option<(char, usize)> {
    let lead = to_byte(*chars.first()?)?;
    let len = sequence_len(lead);
    if len == 0 || chars.len() < len {
        return None;
    }
    let mut bytes = [lead, 0, 0, 0];
    for (slot, &c) in bytes[1..len].iter_mut().zip(&chars[1..len]) {
        *slot = to_byte(c).filter(|b| (0x80..=0xBF).contains(b))?;
    }
    let decoded = std::str::from_utf8(&bytes[..len]).ok()?;
    decoded.chars().next().map(|c| (c, len))
}

/// `text` with code-page-437 and Windows-1252 mojibake turned back into the intended characters.
pub fn repair(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    let mut current = Cow::Borrowed(text);
    for to_byte in [cp437_byte as fn(char) -> Option<u8>, cp1252_byte] {
        if let Some(fixed) = repair_with(&current, to_byte) {
            current = Cow::Owned(fixed);
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_page_437_dashes_become_en_dashes() {
        assert_eq!(
            repair("$110,000 ΓÇô $120,000 per year"),
            "$110,000 – $120,000 per year"
        );
    }

    #[test]
    fn code_page_437_macrons_are_repaired() {
        assert_eq!(
            repair("Te Amorangi M─ütauranga Matua"),
            "Te Amorangi Mātauranga Matua"
        );
    }

    #[test]
    fn windows_1252_mojibake_is_repaired() {
        assert_eq!(repair("$90k â€“ $100k"), "$90k – $100k");
        assert_eq!(repair("itâ€™s Â£40k"), "it’s £40k");
    }

    #[test]
    fn correct_accented_text_is_left_alone() {
        let text = "Café Müller – Zürich · 50 °C ‘quoted’ Γ";
        assert!(matches!(repair(text), Cow::Borrowed(_)));
    }
}
