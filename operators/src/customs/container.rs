//! ISO 6346 freight container numbers: `CSQU 305438 3` is a three-letter owner code, a
//! category letter, a six-digit serial number and a check digit.
//!
//! The one idea: the check digit is a weighted sum of the first ten characters modulo 11,
//! so a read with one wrong digit, or two adjacent digits swapped, fails the check and is
//! refused instead of being matched to another container. Letter/digit confusions of the
//! OCR are undone by position first (the layout is fixed), since they are not errors of
//! the number itself.
//!
//! The check has one blind spot worth knowing: letters whose values differ by 11 (A, K
//! and U; B, L and V; …) weigh the same modulo 11, so a misread *owner* letter can yield
//! another valid number. The owner code is registered (BIC), which is where that is caught.

use serde::Serialize;

/// A container number that passed its check digit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerNumber {
    /// Owner code: three Latin capitals, registered with the BIC (`CSQ`).
    pub owner: String,
    /// Equipment category: `U` freight container, `J` detachable equipment, `Z` trailer
    /// or chassis.
    pub category: char,
    /// Serial number: six digits, leading zeros kept (`305438`).
    pub serial: String,
    /// Check digit, 0–9.
    pub check: u8,
}

impl ContainerNumber {
    /// The eleven characters with nothing between them: `CSQU3054383`.
    pub fn text(&self) -> String {
        format!("{}{}{}{}", self.owner, self.category, self.serial, self.check)
    }

    /// As marked on the container: `CSQU 305438 3`.
    pub fn display(&self) -> String {
        format!("{}{} {} {}", self.owner, self.category, self.serial, self.check)
    }
}

/// Why a read is not a valid container number. Positions count the characters of the
/// number once separators are dropped, from 0 (first owner letter) to 10 (check digit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerError {
    /// Nothing left after dropping separators.
    Empty,
    /// Not the number of characters expected (11 for a number, 10 for [`check_digit`]).
    Length { found: usize, expected: usize },
    /// A character that cannot stand at its position, even after undoing OCR confusions.
    Character { found: char, position: usize },
    /// The fourth character is a letter but not `U`, `J` or `Z`.
    Category(char),
    /// The check digit read is not the one the first ten characters give.
    CheckDigit { expected: u8, read: u8 },
}

impl ContainerError {
    /// A short fixed name for metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            ContainerError::Empty => "empty",
            ContainerError::Length { .. } => "length",
            ContainerError::Character { .. } => "character",
            ContainerError::Category(_) => "category",
            ContainerError::CheckDigit { .. } => "check_digit",
        }
    }
}

/// What belongs at a position of the number, for error messages.
fn expected_at(position: usize) -> &'static str {
    match position {
        0..=2 => "a letter (owner code)",
        3 => "a letter (category)",
        4..=9 => "a digit (serial number)",
        _ => "a digit (check digit)",
    }
}

impl std::fmt::Display for ContainerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContainerError::Empty => write!(f, "no characters"),
            ContainerError::Length { found, expected } => write!(
                f,
                "{found} characters; {expected} expected (owner code, category, serial number{})",
                if *expected == 11 { ", check digit" } else { "" }
            ),
            ContainerError::Character { found, position } => {
                write!(f, "character {found:?} at position {position} is not {}", expected_at(*position))
            }
            ContainerError::Category(c) => write!(
                f,
                "category letter {c:?} at position 3 is not U (freight), J (detachable equipment) or Z (trailer, chassis)"
            ),
            ContainerError::CheckDigit { expected, read } => {
                write!(f, "check digit read is {read}, the first ten characters give {expected}")
            }
        }
    }
}

/// Letter values: A = 10 upward, leaving out 11, 22 and 33 (multiples of 11 would weigh
/// nothing modulo 11).
const LETTER_VALUES: [u32; 26] =
    [10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 34, 35, 36, 37, 38];

fn letter_value(c: char) -> Option<u32> {
    c.is_ascii_uppercase().then(|| LETTER_VALUES[(c as u8 - b'A') as usize])
}

/// The ISO 6346 check digit of the first ten characters (`CSQU305438` → 3): four letters,
/// then six digits; lower case is taken as upper case, nothing else is forgiven.
///
/// Each character's value (digits their own, letters from [`LETTER_VALUES`]) is weighted
/// by 2^position; the check digit is the sum modulo 11, with a remainder of 10 giving 0.
pub fn check_digit(first10: &str) -> Result<u8, ContainerError> {
    let chars: Vec<char> = first10.chars().collect();
    match chars.len() {
        0 => return Err(ContainerError::Empty),
        10 => {}
        n => return Err(ContainerError::Length { found: n, expected: 10 }),
    }
    let mut sum = 0u32;
    for (position, &found) in chars.iter().enumerate() {
        let c = found.to_ascii_uppercase();
        let value = if position < 4 { letter_value(c) } else { c.to_digit(10) };
        sum += value.ok_or(ContainerError::Character { found, position })? << position;
    }
    // A remainder of 10 gives 0, the same digit as a remainder of 0, so one substitution in
    // such a number can go unnoticed; ISO 6346 recommends that owners not issue those serials.
    Ok((sum % 11 % 10) as u8)
}

/// The letter an OCR read means at a letter position (0–3): the plates' confusion table
/// ([`crate::plates::as_letter`]), except that 6 and 7 are not read as G and T. A 6 taken
/// for G would open a second way into the check digit's G/Q blind spot (a 6 misread where
/// a Q stands would give another valid number); the exhaustive test below pins what is undone.
fn as_letter(c: char) -> Option<char> {
    crate::plates::as_letter(c).filter(|_| !matches!(c, '6' | '7'))
}

/// The digit an OCR read means at a digit position (4–10): the plates' table, except that
/// T is not read as 7 (kept symmetrical with [`as_letter`]).
fn as_digit(c: char) -> Option<char> {
    crate::plates::as_digit(c).filter(|_| c != 'T')
}

/// Parses an OCR or keyed read: upper case, whitespace, `-`, `.` and `/` dropped,
/// letter/digit confusions undone by position, then the category and check digit checked.
/// `"csqu 305438-3"` and `"C5QU3O54383"` both give `CSQU 305438 3`.
pub fn parse_container(read: &str) -> Result<ContainerNumber, ContainerError> {
    // Whitespace of any kind: numbers are often marked on two or three lines.
    let chars: Vec<char> = read
        .chars()
        .filter(|c| !(c.is_whitespace() || matches!(c, '-' | '.' | '/')))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match chars.len() {
        0 => return Err(ContainerError::Empty),
        11 => {}
        n => return Err(ContainerError::Length { found: n, expected: 11 }),
    }
    let mut fixed = String::with_capacity(11);
    for (position, &found) in chars.iter().enumerate() {
        let c = if position < 4 { as_letter(found) } else { as_digit(found) };
        fixed.push(c.ok_or(ContainerError::Character { found, position })?);
    }
    let category = fixed.as_bytes()[3] as char;
    if !matches!(category, 'U' | 'J' | 'Z') {
        return Err(ContainerError::Category(category));
    }
    let expected = check_digit(&fixed[..10])?;
    let read = fixed.as_bytes()[10] - b'0';
    if read != expected {
        return Err(ContainerError::CheckDigit { expected, read });
    }
    Ok(ContainerNumber { owner: fixed[..3].to_string(), category, serial: fixed[4..10].to_string(), check: read })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Well-formed numbers under real owner prefixes. By hand for CSQU305438 (the example
    /// of ISO 6346): C 13·1 + S 30·2 + Q 28·4 + U 32·8 + 3·16 + 0·32 + 5·64 + 4·128
    /// + 3·256 + 8·512 = 6185 = 562·11 + 3, so the check digit is 3.
    const VALID: [(&str, u8); 8] = [
        ("CSQU3054383", 3),
        ("MSCU1234566", 6),
        ("MSKU9070323", 3),
        ("MAEU1234567", 7),
        ("TGHU1234567", 7),
        ("HLXU1234561", 1),
        ("CMAU1234564", 4),
        ("MEDU1234562", 2),
    ];

    #[test]
    fn valid_numbers_parse_and_print_as_marked() {
        for (text, check) in VALID {
            assert_eq!(check_digit(&text[..10]), Ok(check), "{text}");
            let n = parse_container(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((n.text(), n.check), (text.to_string(), check));
        }
        let n = parse_container("CSQU3054383").unwrap();
        assert_eq!(
            (n.owner.as_str(), n.category, n.serial.as_str(), n.display()),
            ("CSQ", 'U', "305438", "CSQU 305438 3".to_string())
        );
        // Category J and Z numbers check the same way.
        let j = format!("CSQJ305438{}", check_digit("CSQJ305438").unwrap());
        assert_eq!(parse_container(&j).unwrap().category, 'J');
        let z = format!("CSQZ305438{}", check_digit("CSQZ305438").unwrap());
        assert_eq!(parse_container(&z).unwrap().category, 'Z');
    }

    #[test]
    fn a_remainder_of_ten_gives_check_digit_zero() {
        // MSCU100007: the weighted sum leaves 10 modulo 11.
        assert_eq!(check_digit("MSCU100007"), Ok(0));
        assert_eq!(parse_container("MSCU 100007 0").unwrap().check, 0);
    }

    #[test]
    fn separators_case_and_confusions_are_forgiven() {
        for read in [
            "CSQU 305438 3",
            "CSQU-305438-3",
            "csqu.305438/3",
            "CSQU\n305438\n3",
            " C S Q U 3 0 5 4 3 8 3 ",
            // 5 read for S in the owner code, O for 0 in the serial.
            "C5QU3O54383",
            // B read for the last 8 of the serial.
            "CSQU30543B3",
            // 2 read for the category Z.
            &format!("CSQ2305438{}", check_digit("CSQZ305438").unwrap()),
        ] {
            let n = parse_container(read).unwrap_or_else(|e| panic!("{read:?}: {e}"));
            assert!(n.text().starts_with("CSQ"), "{read:?} gave {}", n.text());
        }
        assert_eq!(parse_container("c5qu 3o5438 3").unwrap().text(), "CSQU3054383");
    }

    #[test]
    fn every_single_substitution_is_refused_or_undone_except_owner_letters_eleven_apart() {
        let valid = "CSQU3054383";
        let alphabet: Vec<char> = ('A'..='Z').chain('0'..='9').collect();
        let mut other_valid = Vec::new();
        for position in 0..11 {
            for &c in &alphabet {
                let mut read: Vec<char> = valid.chars().collect();
                if read[position] == c {
                    continue;
                }
                read[position] = c;
                let read: String = read.into_iter().collect();
                match parse_container(&read) {
                    Err(_) => {}
                    // A letter/digit confusion undone by position: the same container.
                    Ok(n) if n.text() == valid => {
                        let undone = if position < 4 { as_letter(c) } else { as_digit(c) };
                        assert_eq!(undone, valid.chars().nth(position), "{read}");
                    }
                    Ok(n) => other_valid.push((position, c, n.text())),
                }
            }
        }
        // ISO 6346's blind spot, in the owner code only: M (24) and W (35) weigh as C (13)
        // modulo 11, I (19, also read from 1) as S (30), G (17) as Q (28). Serial, category
        // and check digit substitutions are all caught.
        assert_eq!(
            other_valid,
            vec![
                (0, 'M', "MSQU3054383".to_string()),
                (0, 'W', "WSQU3054383".to_string()),
                (1, 'I', "CIQU3054383".to_string()),
                (1, '1', "CIQU3054383".to_string()),
                (2, 'G', "CSGU3054383".to_string()),
            ]
        );
    }

    #[test]
    fn swapping_two_adjacent_digits_is_refused() {
        for (text, _) in VALID {
            let chars: Vec<char> = text.chars().collect();
            // Serial digits and the check digit, pair by pair.
            for i in 4..10 {
                if chars[i] == chars[i + 1] {
                    continue;
                }
                let mut swapped = chars.clone();
                swapped.swap(i, i + 1);
                let read: String = swapped.into_iter().collect();
                assert!(parse_container(&read).is_err(), "{text}: {read} (positions {i}, {}) accepted", i + 1);
            }
        }
    }

    #[test]
    fn what_is_not_a_container_number_is_said_plainly() {
        use ContainerError::*;
        let cases: [(&str, ContainerError, &str); 8] = [
            (" - ", Empty, "no characters"),
            ("CSQU305438", Length { found: 10, expected: 11 }, "11 expected"),
            ("CSQU30543833", Length { found: 12, expected: 11 }, "11 expected"),
            ("CSQU30#4383", Character { found: '#', position: 6 }, "position 6 is not a digit (serial number)"),
            ("C3QU3054383", Character { found: '3', position: 1 }, "position 1 is not a letter (owner code)"),
            ("CSQA3054383", Category('A'), "not U (freight), J"),
            (
                "CSQU3054384",
                CheckDigit { expected: 3, read: 4 },
                "check digit read is 4, the first ten characters give 3",
            ),
            ("CSQU305438X", Character { found: 'X', position: 10 }, "not a digit (check digit)"),
        ];
        for (read, error, says) in cases {
            let e = parse_container(read).unwrap_err();
            assert_eq!(e, error, "{read:?}");
            assert!(e.to_string().contains(says), "{read:?}: {e}");
        }
        assert_eq!(check_digit("CSQU30543"), Err(Length { found: 9, expected: 10 }));
        assert_eq!(check_digit("CSQU3O5438"), Err(Character { found: 'O', position: 5 }), "no confusions undone");
        assert_eq!(CheckDigit { expected: 3, read: 4 }.code(), "check_digit");
        assert_eq!(Category('A').code(), "category");
    }
}
