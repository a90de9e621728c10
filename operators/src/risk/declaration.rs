//! Customs declarations: the JSON the declaration system sends, checked field by field.
//!
//! The idea to understand first: a declaration is untrusted bytes until
//! [`parse_declaration`] has accepted it. What cannot be right (a negative weight, a TIN
//! of 8 digits) is refused naming the field path (`goods[1].net_kg`) and the value; what
//! may be right but is not known here (an HS code missing from `[hs]`) is accepted with a
//! [`Note`], which the selectivity rules turn into a yellow reason — never green.
//!
//! ```json
//! { "id": "26001/20250301/0012345", "importer_tin": "301234567", "importer_name": "Tashkent Textile LLC",
//!   "submitted": "2025-03-01T08:00:00Z", "origin": "CN", "route": ["KZ"],
//!   "goods": [{ "hs_code": "620442", "description": "women's dresses, cotton", "net_kg": 4200, "value_usd": 71400 }],
//!   "plates": ["01A123BC"], "containers": ["MSCU1234565"] }
//! ```

use super::config::{HsTable, is_country};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest body accepted, checked before parsing.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Heaviest goods line believed, kg: no road vehicle carries more.
pub const MAX_LINE_KG: f64 = 100_000.0;
/// Most plates, and most containers, on one declaration.
pub const MAX_PLATES: usize = 8;
/// Most goods lines on one declaration (the declaration system's own limit).
pub const MAX_GOODS_LINES: usize = 999;

/// A checked customs declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// The declaration system's number, `[A-Za-z0-9/_-]{1,64}`.
    pub id: String,
    /// The importer's taxpayer identification number (9 digits).
    pub importer_tin: String,
    #[serde(default)]
    pub importer_name: Option<String>,
    /// When the declaration was submitted.
    pub submitted: DateTime<Utc>,
    /// Country of origin, ISO 3166 alpha-2.
    pub origin: String,
    /// Transit countries, ISO 3166 alpha-2, in order.
    #[serde(default)]
    pub route: Vec<String>,
    #[serde(default)]
    pub goods: Vec<GoodsLine>,
    /// Vehicle plates as declared (not normalised).
    #[serde(default)]
    pub plates: Vec<String>,
    /// Container numbers as declared (not normalised).
    #[serde(default)]
    pub containers: Vec<String>,
    /// Declared empty: no goods at all.
    #[serde(default)]
    pub empty: bool,
}

/// One goods line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoodsLine {
    /// 6–10 digits.
    pub hs_code: String,
    #[serde(default)]
    pub description: String,
    /// Net mass, kg: positive, at most [`MAX_LINE_KG`].
    pub net_kg: f64,
    /// Customs value, USD: 0 or more.
    pub value_usd: f64,
}

/// Something accepted but worth a look; the selectivity rules make it a yellow reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// Field path, e.g. `goods[1].hs_code`.
    pub field: String,
    /// For the officer.
    pub text: String,
    /// Fixed label, e.g. `unknown_hs_code`.
    pub code: String,
}

/// An accepted declaration and what was noted about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checked {
    pub declaration: Declaration,
    /// What was accepted but is not known here; each becomes a yellow reason.
    pub notes: Vec<Note>,
}

/// Why a declaration was refused. The message names the field path and the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeclarationError {
    /// The body is over [`MAX_BODY_BYTES`]; nothing was parsed.
    #[error("body: {bytes} bytes is over the limit of {limit}")]
    TooLarge { bytes: usize, limit: usize },
    /// Not JSON, or not a JSON object.
    #[error("body: not a JSON declaration: {0}")]
    NotJson(String),
    /// A field the declaration format does not have.
    #[error("{field}: unknown field")]
    UnknownField { field: String },
    /// A required field is absent (or null).
    #[error("{field}: missing")]
    Missing { field: String },
    /// A field of the wrong JSON type (a string for a number, a bad timestamp).
    #[error("{field}: {value} — {reason}")]
    WrongType { field: String, value: String, reason: String },
    /// A value of the right type that cannot be right; `code` is the metrics label.
    #[error("{field}: {value} — {expected}")]
    Invalid { field: String, value: String, expected: String, code: &'static str },
}

impl DeclarationError {
    /// A short fixed label for metrics: `too_large`, `not_json`, `unknown_field`,
    /// `missing_field`, `wrong_type`, or the invalid value's (`bad_id`, `bad_tin`,
    /// `bad_weight`, `bad_value`, `bad_hs_code`, `bad_country`, `no_goods`, `no_vehicle`,
    /// `too_many`, `bad_text`, `empty_with_goods`).
    pub fn code(&self) -> &'static str {
        match self {
            DeclarationError::TooLarge { .. } => "too_large",
            DeclarationError::NotJson(_) => "not_json",
            DeclarationError::UnknownField { .. } => "unknown_field",
            DeclarationError::Missing { .. } => "missing_field",
            DeclarationError::WrongType { .. } => "wrong_type",
            DeclarationError::Invalid { code, .. } => code,
        }
    }

    /// The field path the error is about (`body` for the whole body).
    pub fn field(&self) -> &str {
        match self {
            DeclarationError::TooLarge { .. } | DeclarationError::NotJson(_) => "body",
            DeclarationError::UnknownField { field }
            | DeclarationError::Missing { field }
            | DeclarationError::WrongType { field, .. }
            | DeclarationError::Invalid { field, .. } => field,
        }
    }
}

fn invalid(
    field: impl Into<String>,
    value: impl std::fmt::Debug,
    expected: &str,
    code: &'static str,
) -> DeclarationError {
    let mut value = format!("{value:?}");
    if value.len() > 80 {
        let cut = (0..=77).rev().find(|i| value.is_char_boundary(*i)).unwrap_or(0);
        value.truncate(cut);
        value.push('…');
    }
    DeclarationError::Invalid { field: field.into(), value, expected: expected.into(), code }
}

/// Parses and checks a declaration body; `Err` names the field path and the value. The size
/// is checked before anything is parsed.
pub fn parse_declaration(bytes: &[u8], hs: &HsTable) -> Result<Checked, DeclarationError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(DeclarationError::TooLarge { bytes: bytes.len(), limit: MAX_BODY_BYTES });
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| DeclarationError::NotJson(e.to_string()))?;
    let Value::Object(o) = v else {
        return Err(DeclarationError::NotJson("not a JSON object".into()));
    };
    const FIELDS: [&str; 10] = [
        "id",
        "importer_tin",
        "importer_name",
        "submitted",
        "origin",
        "route",
        "goods",
        "plates",
        "containers",
        "empty",
    ];
    unknown_fields(&o, "", &FIELDS)?;
    let goods: Vec<Value> = field(&o, "", "goods")?.unwrap_or_default();
    let mut lines = Vec::with_capacity(goods.len().min(MAX_GOODS_LINES));
    if goods.len() > MAX_GOODS_LINES {
        return Err(invalid("goods", goods.len(), &format!("more than {MAX_GOODS_LINES} goods lines"), "too_many"));
    }
    for (i, g) in goods.into_iter().enumerate() {
        let at = format!("goods[{i}]");
        let Value::Object(g) = g else {
            return Err(DeclarationError::WrongType { field: at, value: short(&g), reason: "not an object".into() });
        };
        unknown_fields(&g, &at, &["hs_code", "description", "net_kg", "value_usd"])?;
        lines.push(GoodsLine {
            hs_code: required(&g, &at, "hs_code")?,
            description: field(&g, &at, "description")?.unwrap_or_default(),
            net_kg: required(&g, &at, "net_kg")?,
            value_usd: required(&g, &at, "value_usd")?,
        });
    }
    let d = Declaration {
        id: required(&o, "", "id")?,
        importer_tin: required(&o, "", "importer_tin")?,
        importer_name: field(&o, "", "importer_name")?,
        submitted: required(&o, "", "submitted")?,
        origin: required(&o, "", "origin")?,
        route: field(&o, "", "route")?.unwrap_or_default(),
        goods: lines,
        plates: field(&o, "", "plates")?.unwrap_or_default(),
        containers: field(&o, "", "containers")?.unwrap_or_default(),
        empty: field(&o, "", "empty")?.unwrap_or(false),
    };
    check_declaration(d, hs)
}

/// Checks a declaration already in memory (as [`parse_declaration`] does after parsing):
/// `Err` for what cannot be right, notes for what is not known here.
pub fn check_declaration(d: Declaration, hs: &HsTable) -> Result<Checked, DeclarationError> {
    let id_ok =
        (1..=64).contains(&d.id.len()) && d.id.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b));
    if !id_ok {
        return Err(invalid("id", &d.id, "an id is 1–64 of A-Z a-z 0-9 / _ -", "bad_id"));
    }
    if !(d.importer_tin.len() == 9 && d.importer_tin.bytes().all(|b| b.is_ascii_digit())) {
        return Err(invalid("importer_tin", &d.importer_tin, "a TIN is 9 digits", "bad_tin"));
    }
    if let Some(n) = &d.importer_name
        && (n.chars().count() > 256 || n.chars().any(char::is_control))
    {
        return Err(invalid("importer_name", n, "at most 256 characters, no control characters", "bad_text"));
    }
    if !is_country(&d.origin) {
        return Err(invalid("origin", &d.origin, "an ISO 3166 alpha-2 code (two capital letters)", "bad_country"));
    }
    if d.route.len() > 16 {
        return Err(invalid("route", d.route.len(), "more than 16 transit countries", "too_many"));
    }
    for (i, c) in d.route.iter().enumerate() {
        if !is_country(c) {
            return Err(invalid(
                format!("route[{i}]"),
                c,
                "an ISO 3166 alpha-2 code (two capital letters)",
                "bad_country",
            ));
        }
    }
    if d.goods.is_empty() && !d.empty {
        return Err(invalid("goods", "[]", "no goods lines, and the declaration is not declared empty", "no_goods"));
    }
    if d.empty && !d.goods.is_empty() {
        return Err(invalid("empty", true, "declared empty, yet it lists goods", "empty_with_goods"));
    }
    let mut notes = vec![];
    for (i, g) in d.goods.iter().enumerate() {
        let at = format!("goods[{i}]");
        if !((6..=10).contains(&g.hs_code.len()) && g.hs_code.bytes().all(|b| b.is_ascii_digit())) {
            return Err(invalid(format!("{at}.hs_code"), &g.hs_code, "an HS code is 6–10 digits", "bad_hs_code"));
        }
        if g.description.chars().count() > 1000 || g.description.chars().any(|c| c.is_control() && c != '\n') {
            return Err(invalid(
                format!("{at}.description"),
                &g.description,
                "at most 1000 characters, no control characters",
                "bad_text",
            ));
        }
        if !(g.net_kg.is_finite() && g.net_kg > 0.0) {
            return Err(invalid(
                format!("{at}.net_kg"),
                g.net_kg,
                "net mass must be a positive number of kg",
                "bad_weight",
            ));
        }
        if g.net_kg > MAX_LINE_KG {
            return Err(invalid(
                format!("{at}.net_kg"),
                g.net_kg,
                &format!("over {MAX_LINE_KG} kg on one line is not believable"),
                "bad_weight",
            ));
        }
        if !(g.value_usd.is_finite() && g.value_usd >= 0.0) {
            return Err(invalid(
                format!("{at}.value_usd"),
                g.value_usd,
                "value must be a number of USD, 0 or more",
                "bad_value",
            ));
        }
        if hs.lookup(&g.hs_code).is_none() {
            notes.push(Note {
                field: format!("{at}.hs_code"),
                text: format!("HS {} is not in the reference table: goods not known here", g.hs_code),
                code: "unknown_hs_code".into(),
            });
        }
    }
    if d.plates.is_empty() && d.containers.is_empty() {
        return Err(invalid(
            "plates",
            "[]",
            "neither plates nor containers: the vehicle cannot be matched",
            "no_vehicle",
        ));
    }
    for (field, list) in [("plates", &d.plates), ("containers", &d.containers)] {
        if list.len() > MAX_PLATES {
            return Err(invalid(field, list.len(), &format!("more than {MAX_PLATES}"), "too_many"));
        }
        for (i, p) in list.iter().enumerate() {
            if p.trim().is_empty() || p.chars().count() > 32 || p.chars().any(char::is_control) {
                return Err(invalid(format!("{field}[{i}]"), p, "1–32 characters, no control characters", "bad_text"));
            }
        }
    }
    Ok(Checked { declaration: d, notes })
}

impl Declaration {
    /// What the X-ray analysis compares a scan with: per line the HS chapter (first two
    /// digits) and net kg, and whether it is declared empty.
    pub fn for_xray(&self) -> crate::xray::cargo::Declaration {
        crate::xray::cargo::Declaration {
            id: Some(self.id.clone()),
            empty: self.empty,
            goods: self
                .goods
                .iter()
                .map(|g| crate::xray::cargo::DeclaredGoods {
                    hs_chapter: g.hs_code.get(..2).and_then(|c| c.parse().ok()).unwrap_or(0),
                    description: g.description.clone(),
                    kg: g.net_kg,
                })
                .collect(),
        }
    }

    /// sha256 of the declaration's canonical JSON: a re-submitted id with another digest is
    /// an amendment.
    pub fn content_sha256(&self) -> String {
        pipeline::hash::sha256_hex(serde_json::to_string(self).unwrap_or_default().as_bytes())
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 80 {
        let cut = (0..=77).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn unknown_fields(o: &Map<String, Value>, path: &str, known: &[&str]) -> Result<(), DeclarationError> {
    match o.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(DeclarationError::UnknownField { field: join(path, k) }),
        None => Ok(()),
    }
}

/// The field, `None` when absent or null; a value of the wrong type names the field.
fn field<T: DeserializeOwned>(o: &Map<String, Value>, path: &str, key: &str) -> Result<Option<T>, DeclarationError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::deserialize(v).map(Some).map_err(|e| DeclarationError::WrongType {
            field: join(path, key),
            value: short(v),
            reason: e.to_string(),
        }),
    }
}

fn required<T: DeserializeOwned>(o: &Map<String, Value>, path: &str, key: &str) -> Result<T, DeclarationError> {
    field(o, path, key)?.ok_or_else(|| DeclarationError::Missing { field: join(path, key) })
}
