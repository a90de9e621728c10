use super::*;
use Country::*;

/// Reads `read` (with the hint) and returns (country, text, format, display).
fn plate(read: &str, hint: Option<Country>) -> (Country, String, &'static str, String) {
    let p = normalise_plate(read, hint).unwrap_or_else(|e| panic!("{read:?} ({hint:?}): {e}"));
    (p.country, p.text.clone(), p.format, p.display())
}

/// Each row: a read, its country and format, and the plate as printed. Read without a
/// hint, then with its own country as the hint.
fn assert_reads(cases: &[(&str, Country, &str, &str)]) {
    for &(read, country, format, printed) in cases {
        let text = printed.replace(' ', "");
        let want = (country, text, format, printed.to_string());
        assert_eq!(plate(read, None), want, "{read:?} without a hint");
        assert_eq!(plate(read, Some(country)), want, "{read:?} with hint {country:?}");
    }
}

#[test]
fn clean_reads_of_every_format() {
    assert_reads(&[
        ("01A123BC", Uz, "uz_private", "01 A 123 BC"),
        ("30123ABC", Uz, "uz_company", "30 123 ABC"),
        ("123ABC01", Kz, "kz_private", "123 ABC 01"),
        ("123AB20", Kz, "kz_company", "123 AB 20"),
        ("05123ABC", Kg, "kg_private", "05 123 ABC"),
        ("08123AB", Kg, "kg_company", "08 123 AB"),
        ("1234AB01", Tj, "tj_standard", "1234 AB 01"),
        ("AB1234AG", Tm, "tm_standard", "AB 1234 AG"),
        ("CD5678MR", Tm, "tm_standard", "CD 5678 MR"),
        ("KBL12345", Af, "af_standard", "KBL 12345"),
        ("HRT1234", Af, "af_standard", "HRT 1234"),
        ("A123BC77", Ru, "ru_private", "A 123 BC 77"),
        ("A123BC777", Ru, "ru_private", "A 123 BC 777"),
        ("AB123477", Ru, "ru_trailer", "AB 1234 77"),
        ("34A1234", Tr, "tr_standard", "34 A 1234"),
        ("06AB123", Tr, "tr_standard", "06 AB 123"),
        ("06AB1234", Tr, "tr_standard", "06 AB 1234"),
        ("34ABC12", Tr, "tr_standard", "34 ABC 12"),
        ("81ABC123", Tr, "tr_standard", "81 ABC 123"),
    ]);
}

#[test]
fn separators_and_lower_case_are_dropped_and_raised() {
    assert_reads(&[
        ("01 a 123 bc", Uz, "uz_private", "01 A 123 BC"),
        ("123-abc-01", Kz, "kz_private", "123 ABC 01"),
        ("05.123.abc", Kg, "kg_private", "05 123 ABC"),
        (" 1234 | ab | 01 ", Tj, "tj_standard", "1234 AB 01"),
        ("ab_1234_ag", Tm, "tm_standard", "AB 1234 AG"),
        ("kbl - 12345", Af, "af_standard", "KBL 12345"),
        ("a 123 bc 77", Ru, "ru_private", "A 123 BC 77"),
        ("34 abc 123", Tr, "tr_standard", "34 ABC 123"),
    ]);
}

#[test]
fn ocr_confusions_are_undone_by_position() {
    assert_reads(&[
        // O for 0 in the region, I for 1 in the number, 8 for B in the letters.
        ("O1A123 8C", Uz, "uz_private", "01 A 123 BC"),
        ("I23 A8C OI", Kz, "kz_private", "123 ABC 01"),
        ("O5 I23 ABC", Kg, "kg_private", "05 123 ABC"),
        ("I234 A8 O1", Tj, "tj_standard", "1234 AB 01"),
        ("A8 I234 AG", Tm, "tm_standard", "AB 1234 AG"),
        // 8 for B in the province, S for 5 in the number.
        ("K8L 1234S", Af, "af_standard", "KBL 12345"),
        ("A I23 8C 77", Ru, "ru_private", "A 123 BC 77"),
        ("34 A8C I23", Tr, "tr_standard", "34 ABC 123"),
    ]);
}

#[test]
fn cyrillic_letters_and_persian_digits_are_folded() {
    let cases = [
        ("А123ВС77", Ru, "A 123 BC 77"),
        ("а 123 вс 777", Ru, "A 123 BC 777"),
        ("ХМ 1234 99", Ru, "XM 1234 99"),
        // An older Kazakh-style read keyed in Cyrillic still folds to the Latin plate.
        ("123 КОР 02", Kz, "123 KOP 02"),
        ("KBL ۱۲۳۴۵", Af, "KBL 12345"),
        ("HRT ١٢٣٤", Af, "HRT 1234"),
    ];
    for (read, country, printed) in cases {
        assert!(!read.is_ascii(), "{read:?} should hold Cyrillic letters or Persian digits");
        let (c, _, _, display) = plate(read, None);
        assert_eq!((c, display.as_str()), (country, printed), "{read:?}");
    }
    // A Turkish keyboard's dotted capital I.
    assert_eq!(plate("34 İAB 12", None).3, "34 IAB 12");
}

#[test]
fn wrong_reads_are_refused_with_the_reason() {
    let region = |country, code: &str| PlateError::Region { country, code: code.to_string() };
    let no_format = |read: &str, country| PlateError::NoFormat { read: read.to_string(), country };
    let cases: [(&str, Option<Country>, PlateError); 14] = [
        ("02A123BC", Some(Uz), region(Uz, "02")),
        ("01A12BC", Some(Uz), no_format("01A12BC", Some(Uz))),
        ("123ABC21", Some(Kz), region(Kz, "21")),
        ("1234ABC01", Some(Kz), no_format("1234ABC01", Some(Kz))),
        ("10123ABC", Some(Kg), region(Kg, "10")),
        ("1234AB00", Some(Tj), region(Tj, "00")),
        ("AB1234XY", Some(Tm), region(Tm, "XY")),
        ("AB12345AG", Some(Tm), no_format("AB12345AG", Some(Tm))),
        ("KBL123456", Some(Af), no_format("KBL123456", Some(Af))),
        // D is no letter of Russian plates.
        ("A123BD77", Some(Ru), no_format("A123BD77", Some(Ru))),
        ("A123BC00", Some(Ru), region(Ru, "00")),
        ("82ABC123", Some(Tr), region(Tr, "82")),
        // Turkish plates use no Q, W or X.
        ("34QWX12", Some(Tr), no_format("34QWX12", Some(Tr))),
        ("12 A 345 67 89", None, no_format("12A3456789", None)),
    ];
    for (read, hint, error) in cases {
        assert_eq!(normalise_plate(read, hint), Err(error), "{read:?} ({hint:?})");
    }
    assert_eq!(normalise_plate(" - | ", None), Err(PlateError::Empty));
    assert_eq!(normalise_plate("01A12?BC", None), Err(PlateError::Character { found: '?', position: 5 }));
    assert_eq!(normalise_plate("01 Ж 123 BC", None), Err(PlateError::Character { found: 'Ж', position: 3 }));
    // A plate of one country read with another's hint.
    assert_eq!(normalise_plate("123 ABC 01", Some(Uz)), Err(no_format("123ABC01", Some(Uz))));
}

#[test]
fn errors_say_what_is_wrong_and_name_a_metrics_code() {
    let cases = [
        (normalise_plate("", None), "empty", "no characters"),
        (normalise_plate("01A1#3BC", None), "character", "'#' at position 4"),
        (normalise_plate("1234ABC01", Some(Kz)), "no_format", "Kazakhstan (`123 ABC 01`, `123 AB 01`)"),
        (normalise_plate("X", None), "no_format", "UZ, KZ, KG, TJ, TM, AF, RU, TR"),
        (normalise_plate("123ABC21", Some(Kz)), "region", "\"21\" is not in use on plates of Kazakhstan"),
        (normalise_plate("01123ABC", None), "ambiguous", "Uzbekistan and Kyrgyzstan equally well"),
        (normalise_plate("KZ 01 123 ABC", Some(Uz)), "sticker", "Kazakhstan sticker (KZ) but a plate of Uzbekistan"),
    ];
    for (result, code, says) in cases {
        let e = result.unwrap_err();
        assert_eq!(e.code(), code, "{e}");
        assert!(e.to_string().contains(says), "{e:?}: {e}");
    }
}

#[test]
fn kyrgyz_and_uzbek_company_plates_need_the_country_when_the_region_fits_both() {
    assert_eq!(normalise_plate("01 123 ABC", None), Err(PlateError::Ambiguous(vec![Uz, Kg])));
    // A confusion on both sides does not settle it either.
    assert_eq!(normalise_plate("01 I23 ABC", None), Err(PlateError::Ambiguous(vec![Uz, Kg])));
    // The region settles it: 10 is Uzbek only, 05 Kyrgyz only.
    assert_eq!(plate("10 123 ABC", None).0, Uz);
    assert_eq!(plate("05 123 ABC", None).0, Kg);
    // So does a hint or a sticker, at either end.
    let cases = [
        ("01 123 ABC", Some(Uz), Uz, "uz_company"),
        ("01 123 ABC", Some(Kg), Kg, "kg_private"),
        ("UZ 01 123 ABC", None, Uz, "uz_company"),
        ("01 123 ABC-UZ", None, Uz, "uz_company"),
        ("KG 01 123 ABC", None, Kg, "kg_private"),
        ("01-123-ABC KS", None, Kg, "kg_private"),
        ("kg 01 123 abc", Some(Kg), Kg, "kg_private"),
    ];
    for (read, hint, country, format) in cases {
        let (c, text, f, _) = plate(read, hint);
        assert_eq!((c, text.as_str(), f), (country, "01123ABC", format), "{read:?} ({hint:?})");
    }
}

#[test]
fn stickers_name_the_country() {
    let names = [
        ("UZ", Some(Uz)),
        ("uzb", Some(Uz)),
        ("KZ", Some(Kz)),
        ("KG", Some(Kg)),
        ("KS", Some(Kg)),
        ("TJ", Some(Tj)),
        ("TM", Some(Tm)),
        ("AFG", Some(Af)),
        ("RUS", Some(Ru)),
        ("Ru", Some(Ru)),
        ("TR", Some(Tr)),
        ("TUR", Some(Tr)),
        ("D", None),
        ("RUSS", None),
        ("", None),
    ];
    for (sticker, country) in names {
        assert_eq!(Country::from_sticker(sticker), country, "{sticker:?}");
    }
    let reads = [
        ("RUS A 123 BC 77", Ru, "A123BC77"),
        ("A123BC777 RUS", Ru, "A123BC777"),
        ("AFG-KBL-12345", Af, "KBL12345"),
        ("TR 34 ABC 123", Tr, "34ABC123"),
        ("KZ 123 ABC 01", Kz, "123ABC01"),
        ("1234 AB 01 TJ", Tj, "1234AB01"),
        ("TM AB 1234 AG", Tm, "AB1234AG"),
        // TM could be a sticker, but what follows is no Turkmen plate: the whole read
        // is a Russian trailer.
        ("TM 1234 77", Ru, "TM123477"),
        // The same Turkmen plate whose letters are read as given.
        ("TM 1234 AG", Tm, "TM1234AG"),
    ];
    for (read, country, text) in reads {
        let (c, t, _, _) = plate(read, None);
        assert_eq!((c, t.as_str()), (country, text), "{read:?}");
    }
    // A sticker glued to the plate is not one.
    assert_eq!(
        normalise_plate("UZ01A123BC", None),
        Err(PlateError::NoFormat { read: "UZ01A123BC".into(), country: None })
    );
    // A sticker whose plate does not fit says so for the sticker's country.
    assert_eq!(
        normalise_plate("KZ 01 A 123 BC", None),
        Err(PlateError::NoFormat { read: "01A123BC".into(), country: Some(Kz) })
    );
    // A sticker that contradicts the hint.
    assert_eq!(normalise_plate("KZ 123 ABC 01", Some(Uz)), Err(PlateError::Sticker { sticker: Kz, expected: Uz }));
    // Unless the whole read is a plate of the hinted country: TM here are a trailer's letters.
    assert_eq!(plate("TM 1234 77", Some(Ru)).1, "TM123477");
}

#[test]
fn country_codes_round_trip() {
    for country in Country::ALL {
        assert_eq!(Country::from_code(country.code()), Some(country));
        assert_eq!(Country::from_code(&country.code().to_lowercase()), Some(country));
        assert_eq!(Country::from_sticker(country.code()), Some(country));
        let json = serde_json::to_string(&country).unwrap();
        assert_eq!(json, format!("\"{}\"", country.code().to_lowercase()));
        assert_eq!(serde_json::from_str::<Country>(&json).unwrap(), country);
    }
    assert_eq!(Country::from_code("RUS"), None, "alpha-2 only");
    let p = normalise_plate("A123BC77", None).unwrap();
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        serde_json::json!({"country": "ru", "text": "A123BC77", "format": "ru_private"})
    );
}

#[test]
fn every_format_reads_its_own_example() {
    for format in FORMATS {
        let country = format.country;
        let hinted = normalise_plate(format.example, Some(country)).unwrap();
        assert_eq!((hinted.format, hinted.display()), (format.name, format.example.to_string()));
    }
}
