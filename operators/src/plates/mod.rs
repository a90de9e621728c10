//! Uzbek licence plates as text: what an OCR read becomes once it is put into one of the
//! national formats, and how it is matched against a watch list.
//!
//! The one idea: a plate's format says which positions hold digits and which hold letters,
//! so the classic OCR confusions (0/O, 1/I, 8/B, 5/S, 2/Z, 6/G) are undone by position;
//! what is left of a confusion (a letter read as another letter, a digit as another
//! digit) is tolerated once when matching a watch list.
//!
//! [`ocr`] reads plates in images (PP-OCRv4), [`vote`] settles a track's plate over its
//! frames, [`render`] draws synthetic plates for tests and the demo, [`countries`] reads
//! plates of Uzbekistan's neighbours too (at customs lanes), [`config`] is `[plates]`.
//! [`as_digit`] and [`as_letter`] are the one table of OCR letter/digit confusions, for
//! plates and container numbers alike.

pub mod config;
pub mod countries;
pub mod ocr;
pub mod render;
pub mod vote;

pub use config::{PlatesConfig, WatchEntry};
pub use countries::{Country, PlateError, VehiclePlate, normalise_plate};

#[cfg(test)]
mod ocr_tests;

use serde::Serialize;

/// The formats read. `D` a digit, `L` a Latin letter; the first two digits are the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Private vehicles: `01 A 123 BC`.
    Private,
    /// Legal entities: `01 123 ABC`.
    Company,
}

impl Format {
    const ALL: [Format; 2] = [Format::Private, Format::Company];

    fn pattern(self) -> &'static [u8; 8] {
        match self {
            Format::Private => b"DDLDDDLL",
            Format::Company => b"DDDDDLLL",
        }
    }

    /// Where the groups split for display.
    fn groups(self) -> &'static [usize] {
        match self {
            Format::Private => &[2, 3, 6],
            Format::Company => &[2, 5],
        }
    }
}

/// Region codes in use (the first two digits).
pub const REGIONS: [&str; 14] = ["01", "10", "20", "25", "30", "40", "50", "60", "70", "75", "80", "85", "90", "95"];

/// A plate in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plate {
    /// Eight characters, no spaces: `01A123BC`.
    pub text: String,
    pub format: Format,
}

impl Plate {
    /// As printed on the plate: `01 A 123 BC`, `01 123 ABC`.
    pub fn display(&self) -> String {
        let mut out = String::with_capacity(12);
        for (i, c) in self.text.chars().enumerate() {
            if self.format.groups().contains(&i) {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }
}

/// Why a read is not a plate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unread {
    /// Nothing left after dropping separators.
    Empty,
    /// Not eight characters once separators are dropped.
    Length(usize),
    /// A character that is neither a Latin letter nor a digit, and its position.
    Character(char, usize),
    /// Eight characters that fit no format, even after undoing confusions.
    NoFormat(String),
    /// A format fits but the region code is not one in use.
    Region(String),
    /// The image found no text line at all.
    NoText,
    /// The image cannot be read (empty, too small, not 8-bit): why.
    Image(String),
    /// A model failed on the image (logged; the next image may do).
    Inference(String),
}

impl Unread {
    /// A short fixed name for metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Unread::Empty => "empty",
            Unread::Length(_) => "length",
            Unread::Character(..) => "character",
            Unread::NoFormat(_) => "no_format",
            Unread::Region(_) => "region",
            Unread::NoText => "no_text",
            Unread::Image(_) => "image",
            Unread::Inference(_) => "inference",
        }
    }
}

impl std::fmt::Display for Unread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unread::Empty => write!(f, "no characters"),
            Unread::Length(n) => write!(f, "{n} characters; Uzbek plates have 8"),
            Unread::Character(c, i) => write!(f, "character {c:?} at position {i} is not a letter or digit"),
            Unread::NoFormat(t) => write!(f, "{t:?} fits neither `01 A 123 BC` nor `01 123 ABC`"),
            Unread::Region(r) => write!(f, "region code {r:?} is not in use"),
            Unread::NoText => write!(f, "no text found"),
            Unread::Image(why) => write!(f, "unreadable image: {why}"),
            Unread::Inference(why) => write!(f, "text model failed: {why}"),
        }
    }
}

/// The one table of OCR confusions: the digit a character at a digit position means
/// (a digit itself, or a letter mistaken for one). [`as_letter`] is the other way.
pub(crate) fn as_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        'O' | 'D' | 'Q' => Some('0'),
        'I' | 'L' => Some('1'),
        'Z' => Some('2'),
        'S' => Some('5'),
        'G' => Some('6'),
        'T' => Some('7'),
        'B' => Some('8'),
        _ => None,
    }
}

/// The letter a character at a letter position means (a letter itself, or a digit
/// mistaken for one): [`as_digit`]'s pairs the other way.
pub(crate) fn as_letter(c: char) -> Option<char> {
    match c {
        'A'..='Z' => Some(c),
        '0' => Some('O'),
        '1' => Some('I'),
        '2' => Some('Z'),
        '5' => Some('S'),
        '6' => Some('G'),
        '7' => Some('T'),
        '8' => Some('B'),
        _ => None,
    }
}

/// Puts an OCR read into canonical form: uppercase, separators (space, `-`, `.`, `|`)
/// dropped, confusions undone by the format's positions. When both formats fit, the one
/// needing fewer corrections wins (ties: private).
pub fn normalise(read: &str) -> Result<Plate, Unread> {
    let mut chars = Vec::with_capacity(8);
    for (i, c) in read.chars().enumerate() {
        match c {
            ' ' | '-' | '.' | '|' | '_' => continue,
            c if c.is_ascii_alphanumeric() => chars.push(c.to_ascii_uppercase()),
            c => return Err(Unread::Character(c, i)),
        }
    }
    match chars.len() {
        0 => return Err(Unread::Empty),
        8 => {}
        n => return Err(Unread::Length(n)),
    }
    let mut best: Option<(usize, Plate)> = None;
    for format in Format::ALL {
        let mut text = String::with_capacity(8);
        let mut corrections = 0;
        let fits = chars.iter().zip(format.pattern()).all(|(&c, &kind)| {
            let fixed = if kind == b'D' { as_digit(c) } else { as_letter(c) };
            fixed
                .inspect(|&f| {
                    corrections += usize::from(f != c);
                    text.push(f);
                })
                .is_some()
        });
        if fits && best.as_ref().is_none_or(|(n, _)| corrections < *n) {
            best = Some((corrections, Plate { text, format }));
        }
    }
    let (_, plate) = best.ok_or_else(|| Unread::NoFormat(chars.iter().collect()))?;
    if !REGIONS.contains(&&plate.text[..2]) {
        return Err(Unread::Region(plate.text[..2].to_string()));
    }
    Ok(plate)
}

/// Pairs an OCR model confuses within one kind of character (after [`normalise`] has
/// undone the letter/digit ones).
fn confusable(a: char, b: char) -> bool {
    const GROUPS: [&str; 8] = ["0869", "38", "17", "56", "OQDC", "BRP", "EF", "MNH"];
    a == b || GROUPS.iter().any(|g| g.contains(a) && g.contains(b))
}

/// Plates to look for.
#[derive(Debug, Clone, Default)]
pub struct WatchList {
    entries: Vec<(Plate, String)>,
}

/// A watch-list hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    /// The plate as listed.
    pub listed: String,
    /// Why it is listed (as given with the entry).
    pub reason: String,
    /// Characters that differ, each a known confusion (0 for an exact match).
    pub confusions: usize,
}

impl WatchList {
    /// Builds the list from `(plate, reason)` pairs; `Err` names the entry that is not a
    /// plate. An empty list is allowed and matches nothing.
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, String> {
        let mut list = Vec::new();
        for (i, (plate, reason)) in entries.into_iter().enumerate() {
            // Said at start-up, to the log: the entry by its index and masked, never the plate.
            let p = normalise(plate).map_err(|e| {
                let why = match e {
                    Unread::NoFormat(_) => "fits neither `01 A 123 BC` nor `01 123 ABC`".to_string(),
                    e => e.to_string(),
                };
                format!("watch list entry {i} ({}): {why}", pipeline::personal::mask(plate))
            })?;
            list.push((p, reason.to_string()));
        }
        Ok(Self { entries: list })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The listed plate `read` is, exactly or with at most one confusable character; the
    /// exact match (then the first listed) wins.
    pub fn find(&self, read: &Plate) -> Option<Hit> {
        let mut best: Option<Hit> = None;
        for (listed, reason) in &self.entries {
            if listed.format != read.format {
                continue;
            }
            let mut confusions = 0;
            let close = listed.text.chars().zip(read.text.chars()).all(|(a, b)| {
                confusions += usize::from(a != b);
                confusable(a, b)
            });
            if close && confusions <= 1 && best.as_ref().is_none_or(|h| confusions < h.confusions) {
                best = Some(Hit { listed: listed.display(), reason: reason.clone(), confusions });
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_become_canonical_plates_with_confusions_undone_by_position() {
        let p = normalise("01 a 123 bc").unwrap();
        assert_eq!((p.text.as_str(), p.format, p.display()), ("01A123BC", Format::Private, "01 A 123 BC".into()));
        // O read for 0 in the region, 8 for B and 0 for O in the letters, I for 1 in the number.
        assert_eq!(normalise("O1-A-I23-8C").unwrap().text, "01A123BC");
        let c = normalise("30 123 ABC").unwrap();
        assert_eq!((c.format, c.display()), (Format::Company, "30 123 ABC".into()));
        // `01 0 123 BC` fits the private format only with 0 read as O.
        assert_eq!(normalise("0100123BC").unwrap_err(), Unread::Length(9));
        assert_eq!(normalise("010123BC").unwrap().display(), "01 O 123 BC");
    }

    #[test]
    fn what_is_not_a_plate_is_said_plainly() {
        assert_eq!(normalise("  - ").unwrap_err(), Unread::Empty);
        assert_eq!(normalise("01A12BC").unwrap_err(), Unread::Length(7));
        assert_eq!(normalise("01A12?BC").unwrap_err(), Unread::Character('?', 5));
        assert!(matches!(normalise("01AXYZBC").unwrap_err(), Unread::NoFormat(_)));
        assert_eq!(normalise("02A123BC").unwrap_err(), Unread::Region("02".into()));
        assert!(Unread::Length(7).to_string().contains("8"));
    }

    #[test]
    fn a_watch_list_hits_exactly_and_with_one_confusion_not_two() {
        let list = WatchList::new([("01 A 123 BC", "stolen"), ("30 777 ABC", "customs hold")]).unwrap();
        let hit = |read: &str| list.find(&normalise(read).unwrap());
        assert_eq!(
            hit("01A123BC").map(|h| (h.listed, h.reason, h.confusions)),
            Some(("01 A 123 BC".into(), "stolen".into(), 0))
        );
        // A letter/digit confusion is undone by position: still exact.
        assert_eq!(hit("O1AI23BC").unwrap().confusions, 0);
        // One same-kind confusion (8 read for 3) still hits; two do not; an unrelated digit does not.
        assert_eq!(hit("01A128BC").unwrap().confusions, 1);
        assert_eq!(hit("01A128BP"), None);
        assert_eq!(hit("01A124BC"), None);
        assert_eq!(hit("30 777 ABO").unwrap().reason, "customs hold", "C read as O");
        assert!(WatchList::new([]).unwrap().find(&normalise("01A123BC").unwrap()).is_none(), "an empty list");
        let e = WatchList::new([("01 A 123 BC", "x"), ("not a plate", "y")]).unwrap_err();
        assert!(e.contains("entry 1 (no* * ***te)") && !e.contains("not a plate"), "{e}");
        let e = WatchList::new([("ABCDEFGH", "x")]).unwrap_err();
        assert!(e.contains("entry 0 (AB****GH): fits neither") && !e.contains("ABCDEFGH"), "{e}");
    }
}
