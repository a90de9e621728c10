//! Vehicle plates of Uzbekistan and its neighbours as text: what an OCR or keyed read
//! becomes once it is put into one of the national formats, with its country.
//!
//! The one idea: a format is a layout of digit and letter positions (plus the codes in use
//! for its region, province or velayat), so a read is tried against every layout and the
//! letter/digit confusions (0/O, 1/I, 8/B …) are undone by position, as
//! [`crate::plates`] does for Uzbek plates. The fit needing the fewest corrections wins;
//! when fits of two countries need equally few, the read is refused as ambiguous and the
//! lane asks for the country (or a manual entry) rather than guess.
//!
//! Before fitting, look-alike characters are folded to the Latin and ASCII ones the formats
//! use: Cyrillic letters of Russian (and older Kazakh, Kyrgyz, Tajik) plates, and the
//! Eastern Arabic and Persian digits of Afghan plates. A country sticker (`UZ`, `RUS`,
//! `AFG` …) standing apart at either end of the read is taken as the country.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::plates::{as_digit, as_letter};

/// The countries whose plates are read at the gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Country {
    /// Uzbekistan.
    Uz,
    /// Kazakhstan.
    Kz,
    /// Kyrgyzstan.
    Kg,
    /// Tajikistan.
    Tj,
    /// Turkmenistan.
    Tm,
    /// Afghanistan.
    Af,
    /// Russia.
    Ru,
    /// Turkey.
    Tr,
}

impl Country {
    /// All of them, Uzbekistan first; ambiguities list countries in this order.
    pub const ALL: [Country; 8] =
        [Country::Uz, Country::Kz, Country::Kg, Country::Tj, Country::Tm, Country::Af, Country::Ru, Country::Tr];

    /// The ISO 3166-1 alpha-2 code: `"UZ"`, `"KZ"` …
    pub fn code(self) -> &'static str {
        match self {
            Country::Uz => "UZ",
            Country::Kz => "KZ",
            Country::Kg => "KG",
            Country::Tj => "TJ",
            Country::Tm => "TM",
            Country::Af => "AF",
            Country::Ru => "RU",
            Country::Tr => "TR",
        }
    }

    /// The country of an ISO alpha-2 code, in either case; `None` for any other text.
    pub fn from_code(code: &str) -> Option<Country> {
        Country::ALL.into_iter().find(|c| c.code().eq_ignore_ascii_case(code))
    }

    /// The English name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Country::Uz => "Uzbekistan",
            Country::Kz => "Kazakhstan",
            Country::Kg => "Kyrgyzstan",
            Country::Tj => "Tajikistan",
            Country::Tm => "Turkmenistan",
            Country::Af => "Afghanistan",
            Country::Ru => "Russia",
            Country::Tr => "Turkey",
        }
    }

    /// The country a sticker or plate band names, in either case: the ISO alpha-2 and
    /// alpha-3 codes and the international vehicle signs (`RUS`, `AFG`, `KS` for
    /// Kyrgyzstan), as they are printed on plates or stuck beside them.
    pub fn from_sticker(sticker: &str) -> Option<Country> {
        Some(match sticker.to_ascii_uppercase().as_str() {
            "UZ" | "UZB" => Country::Uz,
            "KZ" | "KAZ" => Country::Kz,
            "KG" | "KGZ" | "KS" => Country::Kg,
            "TJ" | "TJK" => Country::Tj,
            "TM" | "TKM" => Country::Tm,
            "AF" | "AFG" => Country::Af,
            "RU" | "RUS" => Country::Ru,
            "TR" | "TUR" => Country::Tr,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Country {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A plate in canonical form, with its country.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VehiclePlate {
    /// The country that issued it.
    pub country: Country,
    /// No spaces, Latin capitals and ASCII digits only: `01A123BC`, `A123BC777`.
    pub text: String,
    /// The format's name: `uz_private`, `kz_company`, `ru_trailer` … (see [`normalise_plate`]).
    pub format: &'static str,
}

impl VehiclePlate {
    /// As printed on the plate: `01 A 123 BC`, `123 ABC 01`, `A 123 BC 777`. A plate built
    /// by hand that fits none of its format's layouts is shown as its text.
    pub fn display(&self) -> String {
        let layout = FORMATS
            .iter()
            .filter(|f| f.country == self.country && f.name == self.format)
            .flat_map(|f| f.layouts)
            .find(|l| kinds_match(l, &self.text));
        let Some(layout) = layout else { return self.text.clone() };
        let mut text = self.text.chars();
        layout.chars().map(|k| if k == ' ' { ' ' } else { text.next().unwrap_or(' ') }).collect()
    }
}

/// Whether `text` has a digit where `layout` has `D` and a letter where it has `L`.
fn kinds_match(layout: &str, text: &str) -> bool {
    let kinds: Vec<char> = layout.chars().filter(|&k| k != ' ').collect();
    kinds.len() == text.chars().count()
        && kinds.iter().zip(text.chars()).all(|(&k, c)| matches!((k, c), ('D', '0'..='9') | ('L', 'A'..='Z')))
}

/// Why a read is not a plate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlateError {
    /// Nothing left after dropping separators.
    Empty,
    /// A character that is neither a Latin letter nor a digit nor a look-alike of one, and
    /// its position (in characters, from 0, in the read as given).
    Character { found: char, position: usize },
    /// No format of the country (`None`: of any country) fits the read, even after undoing
    /// confusions. `read` is the read with separators dropped and look-alikes folded.
    NoFormat { read: String, country: Option<Country> },
    /// A format fits but its region (province, velayat) code is not one in use.
    Region { country: Country, code: String },
    /// Formats of these countries fit equally well: the country must be given.
    Ambiguous(Vec<Country>),
    /// The read carries a sticker of one country but another was expected, and the whole
    /// read (sticker included) is no plate of the expected country either.
    Sticker { sticker: Country, expected: Country },
}

impl PlateError {
    /// A short fixed name for metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            PlateError::Empty => "empty",
            PlateError::Character { .. } => "character",
            PlateError::NoFormat { .. } => "no_format",
            PlateError::Region { .. } => "region",
            PlateError::Ambiguous(_) => "ambiguous",
            PlateError::Sticker { .. } => "sticker",
        }
    }
}

impl std::fmt::Display for PlateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlateError::Empty => write!(f, "no characters"),
            PlateError::Character { found, position } => {
                write!(f, "character {found:?} at position {position} is not a letter or digit of any plate")
            }
            PlateError::NoFormat { read, country: Some(country) } => {
                let examples: Vec<String> =
                    FORMATS.iter().filter(|f| f.country == *country).map(|f| format!("`{}`", f.example)).collect();
                write!(f, "{read:?} fits no plate format of {country} ({})", examples.join(", "))
            }
            PlateError::NoFormat { read, country: None } => {
                let codes: Vec<&str> = Country::ALL.iter().map(|c| c.code()).collect();
                write!(f, "{read:?} fits no plate format of {}", codes.join(", "))
            }
            PlateError::Region { country, code } => {
                write!(f, "region code {code:?} is not in use on plates of {country}")
            }
            PlateError::Ambiguous(countries) => {
                let names: Vec<&str> = countries.iter().map(|c| c.name()).collect();
                write!(f, "the read fits plates of {} equally well; the country must be given", names.join(" and "))
            }
            PlateError::Sticker { sticker, expected } => write!(
                f,
                "the read carries a {} sticker ({}) but a plate of {expected} was expected",
                sticker.name(),
                sticker.code()
            ),
        }
    }
}

/// A national plate format.
struct Format {
    country: Country,
    /// The name a [`VehiclePlate`] carries.
    name: &'static str,
    /// For messages: one plate as printed.
    example: &'static str,
    /// `D` a digit, `L` a letter, a space where the printed groups split; one layout per
    /// variant (length or letter count).
    layouts: &'static [&'static str],
    /// Letters the format uses.
    letters: &'static str,
    /// The region, province or velayat code of a canonical text when it is not one in use.
    unused_region: fn(&str) -> Option<String>,
}

const LATIN: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// `code` unless it is a number in `range`.
fn outside(code: &str, range: std::ops::RangeInclusive<u8>) -> Option<String> {
    (!code.parse::<u8>().is_ok_and(|n| range.contains(&n))).then(|| code.to_string())
}

/// Uzbekistan, private vehicles: `01 A 123 BC` (region, letter, three digits, two letters).
/// Read through [`crate::plates::normalise`], which checks the region against
/// [`crate::plates::REGIONS`].
const UZ_PRIVATE: Format = Format {
    country: Country::Uz,
    name: "uz_private",
    example: "01 A 123 BC",
    layouts: &["DD L DDD LL"],
    letters: LATIN,
    unused_region: |_| None,
};

/// Uzbekistan, legal entities: `01 123 ABC`. Same reading as [`UZ_PRIVATE`].
const UZ_COMPANY: Format = Format {
    country: Country::Uz,
    name: "uz_company",
    example: "01 123 ABC",
    layouts: &["DD DDD LLL"],
    letters: LATIN,
    unused_region: |_| None,
};

/// Kazakhstan since 2012, private vehicles: `123 ABC 01`, the region (01–20) last.
const KZ_PRIVATE: Format = Format {
    country: Country::Kz,
    name: "kz_private",
    example: "123 ABC 01",
    layouts: &["DDD LLL DD"],
    letters: LATIN,
    unused_region: |t| outside(&t[t.len() - 2..], 1..=20),
};

/// Kazakhstan, legal entities: `123 AB 01`.
const KZ_COMPANY: Format = Format {
    country: Country::Kz,
    name: "kz_company",
    example: "123 AB 01",
    layouts: &["DDD LL DD"],
    letters: LATIN,
    unused_region: |t| outside(&t[t.len() - 2..], 1..=20),
};

/// Kyrgyzstan since 2015/16, private vehicles: `01 123 ABC`, the region (01–09) first. The
/// layout is Uzbekistan's company one: only the region codes tell them apart, and `01` is
/// in use in both, so `01 123 ABC` needs the country.
const KG_PRIVATE: Format = Format {
    country: Country::Kg,
    name: "kg_private",
    example: "01 123 ABC",
    layouts: &["DD DDD LLL"],
    letters: LATIN,
    unused_region: |t| outside(&t[..2], 1..=9),
};

/// Kyrgyzstan, legal entities: `01 123 AB`.
const KG_COMPANY: Format = Format {
    country: Country::Kg,
    name: "kg_company",
    example: "01 123 AB",
    layouts: &["DD DDD LL"],
    letters: LATIN,
    unused_region: |t| outside(&t[..2], 1..=9),
};

/// Tajikistan since 2009/2014: `1234 AB 01`, the region last. The codes in use are not
/// all confirmed; 01–09 are accepted.
const TJ_STANDARD: Format = Format {
    country: Country::Tj,
    name: "tj_standard",
    example: "1234 AB 01",
    layouts: &["DDDD LL DD"],
    letters: LATIN,
    unused_region: |t| outside(&t[6..], 1..=9),
};

/// Turkmenistan's velayat codes, the last two letters: Ashgabat, Ahal, Balkan, Dashoguz,
/// Lebap, Mary.
const VELAYATS: [&str; 6] = ["AG", "AH", "BN", "DZ", "LB", "MR"];

/// Turkmenistan: `AB 1234 AG`, the velayat code last.
const TM_STANDARD: Format = Format {
    country: Country::Tm,
    name: "tm_standard",
    example: "AB 1234 AG",
    layouts: &["LL DDDD LL"],
    letters: LATIN,
    unused_region: |t| (!VELAYATS.contains(&&t[6..])).then(|| t[6..].to_string()),
};

/// Afghanistan since 2004, the Latin line: `KBL 12345`, a three-letter province code and
/// the number. Plates carry 1 to 5 digits; only 4 and 5 are accepted, as shorter ones
/// would fit too many misreads. The province codes are not all confirmed, so any three
/// letters are accepted; the class letters (`PRV`, `T`, `B` …) are not part of the plate.
const AF_STANDARD: Format = Format {
    country: Country::Af,
    name: "af_standard",
    example: "KBL 12345",
    layouts: &["LLL DDDD", "LLL DDDDD"],
    letters: LATIN,
    unused_region: |_| None,
};

/// The letters Russian plates use: the Cyrillic ones with a Latin look-alike.
const RU_LETTERS: &str = "ABEKMHOPCTYX";

/// A Russian region code: two digits other than `00`, or three not starting with `0`
/// (the three-digit codes in use are not all listed here).
fn ru_unused_region(text: &str) -> Option<String> {
    let code = &text[6..];
    (code == "00" || (code.len() == 3 && code.starts_with('0'))).then(|| code.to_string())
}

/// Russia, ordinary vehicles (type 1): `A 123 BC 77` or `A 123 BC 777`.
const RU_PRIVATE: Format = Format {
    country: Country::Ru,
    name: "ru_private",
    example: "A 123 BC 77",
    layouts: &["L DDD LL DD", "L DDD LL DDD"],
    letters: RU_LETTERS,
    unused_region: ru_unused_region,
};

/// Russia, trailers: `AB 1234 77` or `AB 1234 777`.
const RU_TRAILER: Format = Format {
    country: Country::Ru,
    name: "ru_trailer",
    example: "AB 1234 77",
    layouts: &["LL DDDD DD", "LL DDDD DDD"],
    letters: RU_LETTERS,
    unused_region: ru_unused_region,
};

/// Turkey: province (01–81), one to three letters, two to four digits, seven or eight
/// characters: `34 A 1234`, `34 AB 123`, `34 AB 1234`, `34 ABC 12`, `34 ABC 123`. The
/// police-only `34 A 12345` is not read. No Q, W or X (nor Turkish-only letters).
const TR_STANDARD: Format = Format {
    country: Country::Tr,
    name: "tr_standard",
    example: "34 ABC 123",
    layouts: &["DD L DDDD", "DD LL DDD", "DD LL DDDD", "DD LLL DD", "DD LLL DDD"],
    letters: "ABCDEFGHIJKLMNOPRSTUVYZ",
    unused_region: |t| outside(&t[..2], 1..=81),
};

/// Every format, in [`Country::ALL`] order; within a country, ties go to the first.
const FORMATS: &[&Format] = &[
    &UZ_PRIVATE,
    &UZ_COMPANY,
    &KZ_PRIVATE,
    &KZ_COMPANY,
    &KG_PRIVATE,
    &KG_COMPANY,
    &TJ_STANDARD,
    &TM_STANDARD,
    &AF_STANDARD,
    &RU_PRIVATE,
    &RU_TRAILER,
    &TR_STANDARD,
];

/// Dropped wherever they stand.
const SEPARATORS: [char; 5] = [' ', '-', '.', '|', '_'];

/// Cyrillic capitals that look like Latin ones: the only letters of Russian plates (and of
/// older Kazakh, Kyrgyz and Tajik ones), typed or read in Cyrillic as often as in Latin.
const CYRILLIC: [(char, char); 12] = [
    ('А', 'A'),
    ('В', 'B'),
    ('Е', 'E'),
    ('К', 'K'),
    ('М', 'M'),
    ('Н', 'H'),
    ('О', 'O'),
    ('Р', 'P'),
    ('С', 'C'),
    ('Т', 'T'),
    ('У', 'Y'),
    ('Х', 'X'),
];

/// The Latin capital or ASCII digit a character stands for; `None` when it stands for none.
fn fold(c: char) -> Option<char> {
    match c {
        'A'..='Z' | '0'..='9' => Some(c),
        'a'..='z' => Some(c.to_ascii_uppercase()),
        // Eastern Arabic and Persian digits, as on Afghan plates.
        '\u{0660}'..='\u{0669}' => char::from_digit(c as u32 - 0x0660, 10),
        '\u{06F0}'..='\u{06F9}' => char::from_digit(c as u32 - 0x06F0, 10),
        // A Turkish keyboard gives these for the I of a plate.
        'İ' | 'ı' => Some('I'),
        _ => {
            let upper = c.to_uppercase().next()?;
            CYRILLIC.iter().find(|&&(cyrillic, _)| cyrillic == upper).map(|&(_, latin)| latin)
        }
    }
}

/// The canonical text of `read` in `layout`, and how many characters had to be corrected
/// (a letter read where a digit stands, or the reverse); `None` when it does not fit.
fn fit(read: &[char], layout: &str, letters: &str) -> Option<(String, usize)> {
    let kinds: Vec<char> = layout.chars().filter(|&k| k != ' ').collect();
    if kinds.len() != read.len() {
        return None;
    }
    let mut text = String::with_capacity(read.len());
    let mut corrections = 0;
    for (&c, &kind) in read.iter().zip(&kinds) {
        let fixed = if kind == 'D' { as_digit(c) } else { as_letter(c).filter(|&l| letters.contains(l)) }?;
        corrections += usize::from(fixed != c);
        text.push(fixed);
    }
    Some((text, corrections))
}

/// A format that fits a read.
struct Fit {
    format: &'static Format,
    text: String,
    corrections: usize,
}

/// A format that fits a read but for its region code.
struct Unused {
    country: Country,
    code: String,
    corrections: usize,
}

/// Uzbek plates go through [`crate::plates::normalise`] so that one place decides them.
fn fit_uzbek(read: &[char], fits: &mut Vec<Fit>, unused: &mut Vec<Unused>) {
    let text: String = read.iter().collect();
    match crate::plates::normalise(&text) {
        Ok(plate) => {
            let format = match plate.format {
                crate::plates::Format::Private => &UZ_PRIVATE,
                crate::plates::Format::Company => &UZ_COMPANY,
            };
            let corrections = text.chars().zip(plate.text.chars()).filter(|(a, b)| a != b).count();
            fits.push(Fit { format, text: plate.text, corrections });
        }
        Err(crate::plates::Unread::Region(code)) => {
            // Only to rank this error against other countries' region errors.
            let corrections = [&UZ_PRIVATE, &UZ_COMPANY]
                .iter()
                .filter_map(|f| fit(read, f.layouts[0], f.letters))
                .map(|(_, n)| n)
                .min()
                .unwrap_or(0);
            unused.push(Unused { country: Country::Uz, code, corrections });
        }
        Err(_) => {}
    }
}

/// Normalises `chars[range]` with the countries `hint` allows (all when `None`).
fn read_in(chars: &[char], range: Range<usize>, hint: Option<Country>) -> Result<VehiclePlate, PlateError> {
    let mut read = Vec::with_capacity(range.len());
    for position in range {
        let found = chars[position];
        if !SEPARATORS.contains(&found) {
            read.push(fold(found).ok_or(PlateError::Character { found, position })?);
        }
    }
    if read.is_empty() {
        return Err(PlateError::Empty);
    }
    let countries = match &hint {
        Some(country) => std::slice::from_ref(country),
        None => &Country::ALL[..],
    };
    let (mut fits, mut unused) = (Vec::new(), Vec::new());
    for &country in countries {
        if country == Country::Uz {
            fit_uzbek(&read, &mut fits, &mut unused);
            continue;
        }
        for &format in FORMATS.iter().filter(|f| f.country == country) {
            for layout in format.layouts {
                let Some((text, corrections)) = fit(&read, layout, format.letters) else { continue };
                match (format.unused_region)(&text) {
                    None => fits.push(Fit { format, text, corrections }),
                    Some(code) => unused.push(Unused { country, code, corrections }),
                }
            }
        }
    }
    let Some(fewest) = fits.iter().map(|f| f.corrections).min() else {
        return Err(match unused.into_iter().min_by_key(|u| u.corrections) {
            Some(u) => PlateError::Region { country: u.country, code: u.code },
            None => PlateError::NoFormat { read: read.into_iter().collect(), country: hint },
        });
    };
    let best: Vec<&Fit> = fits.iter().filter(|f| f.corrections == fewest).collect();
    let mut tied: Vec<Country> = best.iter().map(|f| f.format.country).collect();
    // Fits come in country order, so equal countries are neighbours.
    tied.dedup();
    if tied.len() > 1 {
        return Err(PlateError::Ambiguous(tied));
    }
    let fit = best[0];
    Ok(VehiclePlate { country: fit.format.country, text: fit.text.clone(), format: fit.format.name })
}

/// The country of a sticker standing apart (between separators) at the start or end of
/// the read, and the range of the read without it.
fn split_sticker(chars: &[char]) -> Option<(Country, Range<usize>)> {
    let mut tokens: Vec<Range<usize>> = Vec::new();
    let mut start = None;
    for (i, c) in chars.iter().enumerate() {
        match (SEPARATORS.contains(c), start) {
            (true, Some(s)) => {
                tokens.push(s..i);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        tokens.push(s..chars.len());
    }
    let [first, .., last] = tokens.as_slice() else { return None };
    let named = |r: &Range<usize>| Country::from_sticker(&chars[r.clone()].iter().collect::<String>());
    if let Some(country) = named(first) {
        return Some((country, first.end..chars.len()));
    }
    named(last).map(|country| (country, 0..last.start))
}

/// Puts an OCR or keyed read into canonical form with its country.
///
/// Separators (space, `-`, `.`, `|`, `_`) are dropped, lower case is raised, Cyrillic
/// look-alikes and Eastern Arabic/Persian digits are folded, and letter/digit confusions
/// are undone by the positions of each format tried. With `country` only that country's
/// formats are tried; without, all are, and the fit with the fewest corrections wins, fits
/// of two countries tied being [`PlateError::Ambiguous`].
///
/// A sticker (`UZ`, `RUS`, `AFG` … see [`Country::from_sticker`]) apart at the start or
/// end of the read is taken as the country when the rest is a plate of it; otherwise the
/// whole read is tried as given, since such letters can begin a plate (`TM 1234 77` is a
/// Russian trailer). A sticker of another country than `country` is an error unless the
/// whole read is a plate of `country`.
///
/// The formats, `D` a digit and `L` a letter:
///
/// | Country | Format | Layout | Example |
/// |---|---|---|---|
/// | UZ | `uz_private` | `DD L DDD LL` | `01 A 123 BC` |
/// | UZ | `uz_company` | `DD DDD LLL` | `01 123 ABC` |
/// | KZ | `kz_private` | `DDD LLL DD` | `123 ABC 01` |
/// | KZ | `kz_company` | `DDD LL DD` | `123 AB 01` |
/// | KG | `kg_private` | `DD DDD LLL` | `01 123 ABC` |
/// | KG | `kg_company` | `DD DDD LL` | `01 123 AB` |
/// | TJ | `tj_standard` | `DDDD LL DD` | `1234 AB 01` |
/// | TM | `tm_standard` | `LL DDDD LL` | `AB 1234 AG` |
/// | AF | `af_standard` | `LLL DDDD(D)` | `KBL 12345` |
/// | RU | `ru_private` | `L DDD LL DD(D)` | `A 123 BC 77` |
/// | RU | `ru_trailer` | `LL DDDD DD(D)` | `AB 1234 77` |
/// | TR | `tr_standard` | `DD L… D…`, 7–8 characters | `34 ABC 123` |
pub fn normalise_plate(read: &str, country: Option<Country>) -> Result<VehiclePlate, PlateError> {
    let chars: Vec<char> = read.chars().collect();
    let whole = || read_in(&chars, 0..chars.len(), country);
    let Some((sticker, rest)) = split_sticker(&chars) else { return whole() };
    match country {
        Some(expected) if expected != sticker => whole().map_err(|_| PlateError::Sticker { sticker, expected }),
        _ => read_in(&chars, rest, Some(sticker)).or_else(|e| whole().map_err(|_| e)),
    }
}

#[cfg(test)]
mod tests;
