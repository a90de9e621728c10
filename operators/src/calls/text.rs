//! How a 102 narrative is written: its script, language and writing form, and the one
//! spelling-free form of its words that the triage matches on.
//!
//! The one idea: every word, in any script and any way of typing it, is reduced to a *sound
//! key* in a small Latin alphabet — `пожар`, `pozhar`, `pojar` and `POJAR` are all `pojar`;
//! `ўғри`, `угри` (typed on a Russian keyboard) are `ugri`; `oʻgʻri`, `ogri` and the reformed
//! `óǵri` are `ogri`; `что`, `chto` and `4to` are `cto`. Keywords are keyed the same way, so a
//! Russian lexicon reads Russian typed in Latin letters and no form needs a lexicon of its own.
//! What the key loses (ч and ц, ш and щ, и and ы, doubled letters) costs little for stems of
//! four letters or more, and matching allows one typo on top.
//!
//! The detected language and form are reported with the triage result (a call-taker sees
//! why a note was read as it was), and the embedding is given the standard spelling where
//! one can be restored: Russian typed in Latin letters back in Cyrillic, reformed Uzbek
//! letters back to oʻ gʻ sh ch ng.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

/// Lowercases; drops apostrophes of every kind (oʻ o' o` oʼ o‘ o’ gʻ …, and the Cyrillic ъ) so
/// that `oʻgʻri`, `o'g'ri` and `ogri` are one word; folds ё→е, the Uzbek Cyrillic letters
/// ў қ ғ ҳ to у к г х (a Russian keyboard has none of them), the reformed Uzbek Latin letters
/// ó ǵ ş ç ñ to o g sh ch ng, and other accented Latin letters to their base; every other
/// character that is not a letter or digit becomes a space.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_apostrophe(c) {
            continue;
        }
        for l in c.to_lowercase() {
            match l {
                'ъ' | '\u{0301}' | '\u{0300}' | '\u{0306}' | '\u{0327}' | '\u{0303}' => {}
                'ё' => out.push('е'),
                'ў' => out.push('у'),
                'қ' => out.push('к'),
                'ғ' => out.push('г'),
                'ҳ' => out.push('х'),
                'ş' | 'ș' | 'š' => out.push_str("sh"),
                'ç' | 'č' => out.push_str("ch"),
                'ñ' => out.push_str("ng"),
                'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ŏ' => out.push('o'),
                'ǵ' | 'ğ' | 'ĝ' => out.push('g'),
                'á' | 'à' | 'â' | 'ä' | 'ã' => out.push('a'),
                'é' | 'è' | 'ê' | 'ë' => out.push('e'),
                'í' | 'ì' | 'î' | 'ï' | 'ı' => out.push('i'),
                'ú' | 'ù' | 'û' | 'ü' | 'ū' => out.push('u'),
                'ž' => out.push_str("zh"),
                l if l.is_alphanumeric() => out.push(l),
                _ => out.push(' '),
            }
        }
    }
    out
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '`' | '´' | 'ʻ' | 'ʼ' | 'ʹ' | '‘' | '’' | '‛' | 'ʽ' | 'ʾ' | 'ʿ' | 'ˈ' | '′')
}

/// The words of a normalised text.
pub fn words(normalised: &str) -> impl Iterator<Item = &str> {
    normalised.split_whitespace()
}

/// The sound key of one normalised word (see the module comment). Cyrillic and Latin
/// spellings of one sound meet: ж zh j → `j`; ш щ sh sch shch w → `w`; ч ц ch ts c 4 → `c`;
/// х kh h x → `h`; к q → `k`; й ы y → `i`; я ya → `ia`; ю yu → `iu`; е ё э ye yo → `e`;
/// ь and doubled letters are dropped. A `4` inside a word is `ч` ("4to"); other digits stay.
pub fn key(word: &str) -> Vec<char> {
    let c: Vec<char> = word.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(c.len());
    let mut i = 0;
    let has_letter = c.iter().any(|ch| ch.is_alphabetic());
    while i < c.len() {
        let rest = &c[i..];
        let starts = |s: &str| s.chars().enumerate().all(|(j, x)| rest.get(j) == Some(&x));
        let (emit, used): (&str, usize) = if starts("shch") {
            ("w", 4)
        } else if starts("sch") {
            ("w", 3)
        } else if starts("sh") {
            ("w", 2)
        } else if starts("ch") || starts("ts") || starts("tz") {
            ("c", 2)
        } else if starts("zh") || starts("dj") {
            ("j", 2)
        } else if starts("kh") {
            ("h", 2)
        } else if starts("ya") || starts("ia") {
            ("ia", 2)
        } else if starts("yu") || starts("iu") {
            ("iu", 2)
        } else if starts("yo") || starts("ye") {
            ("e", 2)
        } else if rest[0] == 'j' && i > 0 && is_consonant(c[i - 1]) && rest.get(1).is_some_and(|v| "aeou".contains(*v))
        {
            // after a consonant, j is the ь + vowel of Russian typed in Latin letters (bjot, ubjet)
            (
                match rest[1] {
                    'a' => "ia",
                    'u' => "iu",
                    _ => "e",
                },
                2,
            )
        } else {
            let one = match rest[0] {
                'а' | 'a' => "a",
                'б' | 'b' => "b",
                'в' | 'v' => "v",
                'г' | 'g' => "g",
                'д' | 'd' => "d",
                'е' | 'э' | 'e' => "e",
                'ж' | 'j' => "j",
                'з' | 'z' => "z",
                'и' | 'й' | 'ы' | 'i' | 'y' => "i",
                'к' | 'k' | 'q' => "k",
                'л' | 'l' => "l",
                'м' | 'm' => "m",
                'н' | 'n' => "n",
                'о' | 'o' => "o",
                'п' | 'p' => "p",
                'р' | 'r' => "r",
                'с' | 's' => "s",
                'т' | 't' => "t",
                'у' | 'u' => "u",
                'ф' | 'f' => "f",
                'х' | 'h' | 'x' => "h",
                'ц' | 'ч' | 'c' => "c",
                'ш' | 'щ' | 'w' => "w",
                'я' => "ia",
                'ю' => "iu",
                'ь' | 'ъ' => "",
                '4' if has_letter => "c",
                _ => {
                    push_dedup(&mut out, rest[0]);
                    i += 1;
                    continue;
                }
            };
            (one, 1)
        };
        for ch in emit.chars() {
            push_dedup(&mut out, ch);
        }
        i += used;
    }
    out
}

fn is_consonant(c: char) -> bool {
    c.is_ascii_alphabetic() && !"aeiouy".contains(c)
}

/// Pushes a letter unless it repeats the last one (doubled letters are often typed single).
fn push_dedup(out: &mut Vec<char>, ch: char) {
    if out.last() != Some(&ch) || ch.is_ascii_digit() {
        out.push(ch);
    }
}

// ---------------------------------------------------------------------------------------
// Script.

/// The writing system of a narrative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Script {
    /// No letters at all.
    None,
    /// Latin letters (English, Uzbek Latin, Russian typed in Latin letters).
    Latin,
    /// Cyrillic letters (Russian, Uzbek Cyrillic).
    Cyrillic,
    /// Latin and Cyrillic, each at least 15 % of the letters.
    Mixed,
    /// Mostly letters of another script, named (e.g. `arabic`, `han`, `georgian`).
    Other(&'static str),
}

impl Script {
    /// A name for reasons and logs.
    pub fn name(self) -> &'static str {
        match self {
            Script::None => "none",
            Script::Latin => "latin",
            Script::Cyrillic => "cyrillic",
            Script::Mixed => "mixed",
            Script::Other(n) => n,
        }
    }
}

fn script_of(c: char) -> Option<&'static str> {
    if !c.is_alphabetic() {
        return None;
    }
    Some(match c as u32 {
        0x0041..=0x024F | 0x1E00..=0x1EFF | 0x02B0..=0x02FF => "latin",
        0x0400..=0x052F => "cyrillic",
        0x0370..=0x03FF => "greek",
        0x0530..=0x058F => "armenian",
        0x0590..=0x05FF => "hebrew",
        0x0600..=0x06FF | 0x0750..=0x077F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => "arabic",
        0x0900..=0x097F => "devanagari",
        0x0E00..=0x0E7F => "thai",
        0x10A0..=0x10FF => "georgian",
        0x1100..=0x11FF | 0xAC00..=0xD7AF => "hangul",
        0x3040..=0x30FF => "kana",
        0x3400..=0x4DBF | 0x4E00..=0x9FFF => "han",
        _ => "other",
    })
}

/// Detects the script: the other scripts win when they hold more than half of the letters.
pub fn detect_script(text: &str) -> Script {
    let (mut latin, mut cyr, mut total) = (0usize, 0usize, 0usize);
    let mut others: BTreeMap<&'static str, usize> = BTreeMap::new();
    for s in text.chars().filter_map(script_of) {
        total += 1;
        match s {
            "latin" => latin += 1,
            "cyrillic" => cyr += 1,
            o => *others.entry(o).or_default() += 1,
        }
    }
    if total == 0 {
        return Script::None;
    }
    if (latin + cyr) * 2 < total {
        let top = others.iter().max_by_key(|(_, n)| **n).map(|(s, _)| *s).unwrap_or("other");
        return Script::Other(top);
    }
    let minor = latin.min(cyr) as f32 / (latin + cyr) as f32;
    if minor >= 0.15 {
        Script::Mixed
    } else if latin >= cyr {
        Script::Latin
    } else {
        Script::Cyrillic
    }
}

// ---------------------------------------------------------------------------------------
// Language and writing form.

/// The language a narrative is written in, as detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Russian, in either script.
    Ru,
    /// Uzbek, in either script.
    Uz,
    /// Russian and Uzbek in one narrative.
    RuUz,
    /// English.
    En,
    /// Too little to tell.
    Unknown,
}

/// How a narrative is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// The language's standard spelling and script.
    Clean,
    /// Russian in Latin letters.
    Translit,
    /// Uzbek Latin without the apostrophes of oʻ and gʻ.
    NoApostrophe,
    /// Uzbek Latin in the reformed letters ó ǵ ş ç ñ.
    Reformed,
    /// Uzbek Cyrillic without ў қ ғ ҳ (typed on a Russian keyboard).
    RuKeyboard,
    /// Russian and Uzbek in one narrative.
    Mixed,
    /// A note of a few words.
    Short,
}

impl Form {
    /// The name used in data files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Form::Clean => "clean",
            Form::Translit => "translit",
            Form::NoApostrophe => "no_apostrophe",
            Form::Reformed => "reformed",
            Form::RuKeyboard => "ru_keyboard",
            Form::Mixed => "mixed",
            Form::Short => "short",
        }
    }
}

/// A note of at most this many words is `short`.
pub const SHORT_NOTE_WORDS: usize = 4;

/// What [`detect`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Writing {
    /// The script.
    pub script: Script,
    /// The language.
    pub language: Language,
    /// The writing form.
    pub form: Form,
    /// Words in the narrative.
    pub words: usize,
}

// Words that say which language a text is in, written in their standard spelling and
// compared by sound key, so they count in either script and any typing of it. A word in two
// lists (Russian `мы` and English `my`, Russian `у` and Uzbek `u`) says nothing.
const RU_WORDS: &str = "в на и не что это у с к по я он оно мы вы они опять щас есть нет где как там тут здесь очень уже был была было были его меня мне нас вас из за до при для кто или но же ли бы так все всё сейчас срочно пожалуйста помогите помощь человек мужчина женщина улица квартира дом дома около возле который которая которые тоже еще ещё просто быстрее скорее приезжайте приедьте вызовите";
const UZ_WORDS: &str = "va bu shu u men biz siz ular bor yoʻq edi ham bilan uchun bir ikki emas deb kerak tez iltimos yordam uyda uyimiz koʻcha koʻchada oldida yonida yerda qiling keling kelinglar boʻldi qildi ketdi hozir juda bitta odam ayol erkak yana lekin ammo nima qayerda qani shunday endi oʻzi";
const EN_WORDS: &str = "the is are was were my his her someone somebody there please help with and of at near from he she they we it this that have has not been our your just";

// Endings that lean one way (weaker than a whole word).
const RU_ENDINGS: [&str; 9] = ["ся", "ого", "его", "ая", "ое", "ют", "ают", "ость", "ешь"];
const UZ_ENDINGS: [&str; 14] = [
    "lar", "larni", "larga", "lari", "moqda", "yapti", "yabdi", "ibdi", "ganda", "dagi", "ning", "imiz", "ingiz",
    "ishdi",
];

struct LanguageCues {
    words: HashMap<Vec<char>, Language>,
    ru_endings: Vec<Vec<char>>,
    uz_endings: Vec<Vec<char>>,
}

static CUES: LazyLock<LanguageCues> = LazyLock::new(|| {
    let mut words: HashMap<Vec<char>, Option<Language>> = HashMap::new();
    for (list, lang) in [(RU_WORDS, Language::Ru), (UZ_WORDS, Language::Uz), (EN_WORDS, Language::En)] {
        for w in list.split_whitespace() {
            let k = key(&normalise(w));
            let e = words.entry(k).or_insert(Some(lang));
            if *e != Some(lang) {
                *e = None; // in two lists: says nothing
            }
        }
    }
    let keyed = |list: &[&str]| list.iter().map(|e| key(&normalise(e))).collect();
    LanguageCues {
        words: words.into_iter().filter_map(|(k, l)| Some((k, l?))).collect(),
        ru_endings: keyed(&RU_ENDINGS),
        uz_endings: keyed(&UZ_ENDINGS),
    }
});

/// Detects script, language and writing form of a narrative.
pub fn detect(text: &str) -> Writing {
    detect_normalised(text, &normalise(text))
}

/// [`detect`], given the text's [`normalise`]d form already made by the caller.
pub fn detect_normalised(text: &str, normalised: &str) -> Writing {
    let script = detect_script(text);
    let words: Vec<&str> = normalised.split_whitespace().collect();
    let (mut ru, mut uz, mut en) = (0f32, 0f32, 0f32);
    let lower = text.to_lowercase();
    // letters only one language has
    for w in lower.split(|c: char| !(c.is_alphanumeric() || is_apostrophe(c))) {
        if w.chars().any(|c| matches!(c, 'ў' | 'қ' | 'ғ' | 'ҳ' | 'ó' | 'ǵ' | 'ş' | 'ç' | 'ñ' | 'q'))
            || w.chars().zip(w.chars().skip(1)).any(|(a, b)| (a == 'o' || a == 'g') && is_apostrophe(b))
        {
            uz += 2.0;
        } else if w.chars().any(|c| matches!(c, 'ы' | 'щ' | 'ь'))
            || (w.is_ascii() && (w.contains("zh") || w.contains("kh") || w.ends_with("iy") || w.ends_with("yy")))
        {
            ru += 1.5;
        }
    }
    let cues = &*CUES;
    for w in &words {
        let k = key(w);
        let latin = w.chars().next().is_some_and(|c| c.is_ascii());
        match cues.words.get(&k) {
            Some(Language::Ru) => ru += 1.0,
            Some(Language::Uz) => uz += 1.0,
            Some(Language::En) if latin => en += 1.0,
            _ if k.len() >= 5 => {
                if cues.uz_endings.iter().any(|e| k.ends_with(e)) {
                    uz += 0.5;
                } else if cues.ru_endings.iter().any(|e| k.ends_with(e)) {
                    ru += 0.5;
                }
            }
            _ => {}
        }
    }
    let language = if ru + uz + en == 0.0 {
        Language::Unknown
    } else if en > ru + uz {
        Language::En
    } else if ru >= 1.0 && uz >= 1.0 && ru.min(uz) >= 0.25 * (ru + uz) {
        Language::RuUz
    } else if ru >= uz {
        Language::Ru
    } else {
        Language::Uz
    };
    let any = |f: fn(char) -> bool| text.chars().any(f);
    let form = if words.len() <= SHORT_NOTE_WORDS {
        Form::Short
    } else if language == Language::RuUz || script == Script::Mixed {
        Form::Mixed
    } else if language == Language::Ru && script == Script::Latin {
        Form::Translit
    } else if language == Language::Uz && script == Script::Latin {
        if any(|c| matches!(c.to_lowercase().next(), Some('ó' | 'ǵ' | 'ş' | 'ç' | 'ñ'))) {
            Form::Reformed
        } else if !any(is_apostrophe) && words.iter().any(|w| has_dropped_apostrophe(w)) {
            Form::NoApostrophe
        } else {
            Form::Clean
        }
    } else if language == Language::Uz
        && script == Script::Cyrillic
        && !any(|c| matches!(c.to_lowercase().next(), Some('ў' | 'қ' | 'ғ' | 'ҳ')))
    {
        Form::RuKeyboard
    } else {
        Form::Clean
    };
    Writing { script, language, form, words: words.len() }
}

// Common Uzbek words spelt with oʻ or gʻ, as typed without the apostrophe: one of them with
// no apostrophe anywhere in the text says the writer leaves them out.
const UZ_APOSTROPHE_WORDS: [&str; 24] = [
    "ogri", "yoq", "boldi", "bolib", "kocha", "togri", "ogil", "yongin", "oldir", "song", "kop", "ozi", "yol", "qol",
    "qoy", "orta", "otib", "kor", "sogl", "boy", "ogirla", "tol", "yoqol", "toqnash",
];

fn has_dropped_apostrophe(word: &str) -> bool {
    UZ_APOSTROPHE_WORDS.iter().any(|w| word.starts_with(w))
}

/// Years/лет/yosh after a number: the age a narrative states ("9 лет", "4 yoshli",
/// "7 year old"), the first one.
pub fn stated_age(normalised: &str) -> Option<u32> {
    const YEARS: [&str; 9] = ["лет", "год", "yosh", "ёш", "еш", "yasha", "яша", "year", "y"];
    let words: Vec<&str> = normalised.split_whitespace().collect();
    words.windows(2).find_map(|w| {
        let n: u32 = w[0].parse().ok()?;
        let unit = w[1];
        (n < 120 && YEARS.iter().any(|y| if y.len() == 1 { unit == *y } else { unit.starts_with(y) })).then_some(n)
    })
}

/// The narrative in its language's standard spelling, where the form allows restoring it:
/// Russian typed in Latin letters back in Cyrillic, reformed Uzbek letters back to oʻ gʻ sh ch
/// ng. `None` when it is already standard or cannot be restored. For the embedding, which
/// was trained on standard text.
pub fn standard_spelling(text: &str, writing: &Writing) -> Option<String> {
    match (writing.form, writing.language) {
        (Form::Translit, _) | (Form::Short, Language::Ru) if writing.script == Script::Latin => {
            Some(russian_from_latin(text))
        }
        (Form::Reformed, _) => Some(
            text.chars()
                .map(|c| match c {
                    'ó' => "oʻ".to_string(),
                    'Ó' => "Oʻ".to_string(),
                    'ǵ' => "gʻ".to_string(),
                    'Ǵ' => "Gʻ".to_string(),
                    'ş' => "sh".to_string(),
                    'Ş' => "Sh".to_string(),
                    'ç' => "ch".to_string(),
                    'Ç' => "Ch".to_string(),
                    'ñ' => "ng".to_string(),
                    c => c.to_string(),
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Russian typed in Latin letters, back in Cyrillic (lowercase; what is not a Latin letter
/// is kept). The common conventions: zh/j ж, sh ш, sch/shch щ, ch/4 ч, kh/h/x х, ts/c ц,
/// ya/ja я, yu/ju ю, yo ё, y ы (й after a vowel), ' ь.
pub fn russian_from_latin(text: &str) -> String {
    // multi-letter first; `j` is ж (as in Uzbek Latin), so ja/ju are not я/ю
    const RULES: [(&str, &str); 11] = [
        ("shch", "щ"),
        ("sch", "щ"),
        ("zh", "ж"),
        ("kh", "х"),
        ("ch", "ч"),
        ("sh", "ш"),
        ("ts", "ц"),
        ("ya", "я"),
        ("yu", "ю"),
        ("yo", "ё"),
        ("ye", "е"),
    ];
    const SINGLE: [(char, &str); 25] = [
        ('a', "а"),
        ('e', "е"),
        ('b', "б"),
        ('v', "в"),
        ('g', "г"),
        ('d', "д"),
        ('z', "з"),
        ('i', "и"),
        ('j', "ж"),
        ('k', "к"),
        ('l', "л"),
        ('m', "м"),
        ('n', "н"),
        ('o', "о"),
        ('p', "п"),
        ('r', "р"),
        ('s', "с"),
        ('t', "т"),
        ('u', "у"),
        ('f', "ф"),
        ('h', "х"),
        ('x', "х"),
        ('c', "ц"),
        ('w', "ш"),
        ('q', "к"),
    ];
    let lower: Vec<char> = text.to_lowercase().chars().collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut i = 0;
    let is_vowel = |c: Option<&char>| c.is_some_and(|c| "aeiouаеиоуыэюяё".contains(*c));
    while i < lower.len() {
        let rest = &lower[i..];
        let word_start = i == 0 || !lower[i - 1].is_alphanumeric();
        let starts = |s: &str| s.chars().enumerate().all(|(j, x)| rest.get(j) == Some(&x));
        if let Some((from, to)) = RULES.iter().find(|(from, _)| starts(from)) {
            out.push_str(to);
            i += from.chars().count();
            continue;
        }
        let c = rest[0];
        match c {
            // word-initial e of это, этот, эта
            'e' if word_start && starts("et") => out.push('э'),
            'y' => out.push(if is_vowel(out.chars().last().as_ref()) || word_start { 'й' } else { 'ы' }),
            '\'' | '’' | 'ʼ' | '`' if i > 0 && lower[i - 1].is_alphabetic() => out.push('ь'),
            '4' if rest.get(1).is_some_and(|c| c.is_alphabetic()) || (i > 0 && lower[i - 1].is_alphabetic()) => {
                out.push('ч')
            }
            c => match SINGLE.iter().find(|(l, _)| *l == c) {
                Some((_, to)) => out.push_str(to),
                None => out.push(c),
            },
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(w: &str) -> String {
        key(&normalise(w)).into_iter().collect()
    }

    #[test]
    fn one_word_typed_many_ways_has_one_key() {
        for group in [
            &["пожар", "pozhar", "pojar", "POJAR"][..],
            &["что", "chto", "4to"],
            &["ўғри", "угри"],
            &["oʻgʻri", "o'g'ri", "ogri", "óǵri", "OGRI"],
            &["щас", "sch'as", "shas"],
            &["ёнғин", "ёнгин", "yongʻin", "yongin", "yonǵin"],
            &["убивают", "ubivayut"],
            &["шошилинг", "shoshiling", "şoşiliñ"],
        ] {
            let first = k(group[0]);
            for w in &group[1..] {
                assert_eq!(k(w), first, "{w} vs {}", group[0]);
            }
        }
        assert_ne!(k("пожар"), k("пожарник")); // a key is not a stem
        assert_eq!(k("2"), "2");
        assert_eq!(k("44"), "44");
    }

    #[test]
    fn language_and_form_are_detected() {
        let cases = [
            ("Горит квартира на третьем этаже, дым идёт из окна", Language::Ru, Form::Clean),
            ("u nas v pod'ezde pozhar, dym valit, deti vnutri", Language::Ru, Form::Translit),
            ("uyimizga ogri tushdi hamma narsani olib ketdi tez keling", Language::Uz, Form::NoApostrophe),
            ("Uyimizga oʻgʻri tushdi, hamma narsani olib ketdi", Language::Uz, Form::Clean),
            ("Uyimizga óǵri tuşdi, hamma narsani olib ketdi", Language::Uz, Form::Reformed),
            ("уйимизга угри тушди хамма нарсани олиб кетди тез келинглар", Language::Uz, Form::RuKeyboard),
            ("Уйимизга ўғри тушди, ҳамма нарсани олиб кетди", Language::Uz, Form::Clean),
            ("akamni urishyapti, кровь идет, tez keling iltimos", Language::RuUz, Form::Mixed),
            ("Someone is lying on the road near the bazaar and not moving", Language::En, Form::Clean),
        ];
        for (text, language, form) in cases {
            let w = detect(text);
            assert_eq!((w.language, w.form), (language, form), "{text}");
        }
        let w = detect("pojar 3 etaj");
        assert_eq!((w.form, w.words), (Form::Short, 3));
    }

    #[test]
    fn russian_typed_in_latin_letters_is_restored() {
        assert_eq!(russian_from_latin("u nas pozhar, 4to delat'"), "у нас пожар, что делать");
        assert_eq!(russian_from_latin("ubivayut sosedku"), "убивают соседку");
        assert_eq!(russian_from_latin("eto schas"), "это щас");
        assert_eq!(russian_from_latin("zhena"), "жена");
        let w = detect("u nas v pod'ezde pozhar, dym valit, deti vnutri");
        assert_eq!(
            standard_spelling("u nas v pod'ezde pozhar, dym valit, deti vnutri", &w).unwrap(),
            "у нас в подьезде пожар, дым валит, дети внутри"
        );
        let w = detect("Uyimizga óǵri tuşdi, hamma narsani olib ketdi");
        assert_eq!(standard_spelling("Uyimizga óǵri tuşdi", &w).unwrap(), "Uyimizga oʻgʻri tushdi");
        assert_eq!(
            standard_spelling("Горит квартира на третьем этаже, дым", &detect("Горит квартира на третьем этаже, дым")),
            None
        );
    }
}
