//! Personal data (docs/personal-data.md): which fields hold it, their masked forms, and the
//! keyed hash fusion joins on instead of the plate or container itself.
//!
//! An alert leaves its node twice: whole on `qv/{site}/pii/alert/…`, which only the control
//! room may read, and as its [`public`] form on `qv/{site}/alert/…`, in which every personal
//! field is masked. Where fusion must join alerts on a vehicle, the alert carries
//! `correlation.plate_key` / `container_key`: HMAC-SHA256 of the normalised plate or
//! container under the deployment's [`CorrelationKey`], equal for the same vehicle across
//! the deployment and useless to whoever lacks the key (a plate cannot be tried against it).

use crate::alert::Alert;
use crate::evidence::seal::SealKey;
use crate::hash::{hex, hmac_sha256};
use serde_json::Value;
use std::path::Path;

/// Attributes that identify a person or a vehicle: masked keeping their two ends.
pub const IDENTIFIER_ATTRIBUTES: &[&str] = &["plate", "container", "vehicle", "caller_number", "importer_tin"];

/// Attributes of free text that may name, place or describe a person: masked word by word.
pub const TEXT_ATTRIBUTES: &[&str] = &["caller_name", "importer_name", "narrative", "address", "reasons", "notes"];

/// Correlation fields that hold a plate or a container (their keyed hashes, `plate_key` and
/// `container_key`, are not personal).
pub const CORRELATION_FIELDS: &[&str] = &["plate", "container"];

/// Every personal field of an alert, as JSON pointers (`/correlation/plate`, …,
/// `/attributes/notes`), derived from the lists above: what is masked, revealed and audited.
pub fn alert_fields() -> impl Iterator<Item = String> {
    let correlation = CORRELATION_FIELDS.iter().map(|f| format!("/correlation/{f}"));
    correlation.chain(IDENTIFIER_ATTRIBUTES.iter().chain(TEXT_ATTRIBUTES).map(|a| format!("/attributes/{a}")))
}

/// `01A123BC` → `01****BC`: enough to tell two apart on screen, not enough to identify.
pub fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let keep = if chars.len() >= 8 { 2 } else { usize::from(chars.len() >= 4) };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep || i + keep >= chars.len() || c.is_whitespace() { *c } else { '*' })
        .collect()
}

/// `Amir Temur 15, kv. 3` → `A*** T**** **, k*. *`: each word keeps its first letter (never
/// a digit), so text reads as masked text and names, numbers and plates inside it are gone.
pub fn mask_text(s: &str) -> String {
    let mut first = true;
    s.chars()
        .map(|c| {
            let out = if !c.is_alphanumeric() || (first && c.is_alphabetic()) { c } else { '*' };
            first = !c.is_alphanumeric();
            out
        })
        .collect()
}

/// Masks every string inside `v` (arrays and objects included); returns how many.
fn mask_value(v: &mut Value, text: bool) -> usize {
    match v {
        Value::String(s) => {
            *s = if text { mask_text(s) } else { mask(s) };
            1
        }
        Value::Array(items) => items.iter_mut().map(|i| mask_value(i, text)).sum(),
        Value::Object(map) => map.values_mut().map(|i| mask_value(i, text)).sum(),
        _ => 0,
    }
}

/// Masks the personal attributes of an alert's `attributes`; returns how many strings.
fn mask_attributes(attributes: &mut serde_json::Map<String, Value>) -> usize {
    let mut n = 0;
    for (name, v) in attributes.iter_mut() {
        if IDENTIFIER_ATTRIBUTES.contains(&name.as_str()) {
            n += mask_value(v, false);
        } else if TEXT_ATTRIBUTES.contains(&name.as_str()) {
            n += mask_value(v, true);
        }
    }
    n
}

/// The alert as it may travel on the public keys: every personal field masked; the keyed
/// hashes, ids and everything else as they are.
pub fn public(alert: &Alert) -> Alert {
    let mut a = alert.clone();
    mask_attributes(&mut a.attributes);
    for field in [&mut a.correlation.plate, &mut a.correlation.container].into_iter().flatten() {
        *field = mask(field);
    }
    a
}

/// True when the alert holds any personal field (its public form differs from it).
pub fn has_personal(alert: &Alert) -> bool {
    alert.correlation.plate.is_some()
        || alert.correlation.container.is_some()
        || alert
            .attributes
            .keys()
            .any(|k| IDENTIFIER_ATTRIBUTES.contains(&k.as_str()) || TEXT_ATTRIBUTES.contains(&k.as_str()))
}

/// [`public`] on an alert as JSON (the dashboard's stored alerts); returns how many strings
/// were masked. Masking a masked alert changes nothing.
pub fn mask_alert_json(alert: &mut Value) -> usize {
    let mut n = 0;
    if let Some(Value::Object(attributes)) = alert.get_mut("attributes") {
        n += mask_attributes(attributes);
    }
    for field in CORRELATION_FIELDS {
        if let Some(v) = alert.pointer_mut(&format!("/correlation/{field}")) {
            n += mask_value(v, false);
        }
    }
    n
}

/// The deployment's correlation key: 32 random bytes in a key file (mode 0600) that every
/// node of one deployment holds, so the same vehicle gets the same keyed hash at every post.
pub struct CorrelationKey([u8; 32]);

impl CorrelationKey {
    /// Reads the key file, or creates it with a new random key when absent.
    pub fn load_or_create(path: &Path) -> Result<Self, String> {
        Ok(Self(*SealKey::load_or_create(path)?.bytes()))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A new random key: for a process alone (tests, benchmarks), never a deployment's.
    pub fn generate() -> Self {
        Self(*SealKey::generate().expect("the operating system's random generator").bytes())
    }

    /// The keyed hash of a plate or container (`what`), normalised first (letters upper
    /// case, only letters and digits), so `01 a 777 bc` and `01A777BC` join: 32 hex digits.
    pub fn hash(&self, what: &str, value: &str) -> String {
        let normal: String = value.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_uppercase).collect();
        let mac = hmac_sha256(&self.0, format!("{what}\0{normal}").as_bytes());
        hex(&mac[..16])
    }

    /// Sets the alert's `correlation.plate_key` / `container_key` from its plate and
    /// container: the join keys that survive masking.
    pub fn seal(&self, alert: &mut Alert) {
        let c = &mut alert.correlation;
        c.plate_key = c.plate.as_deref().map(|p| self.hash("plate", p));
        c.container_key = c.container.as_deref().map(|k| self.hash("container", k));
    }
}

impl std::fmt::Debug for CorrelationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CorrelationKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::SourceKind;

    fn lane_alert() -> Alert {
        let mut a = Alert::minimal("s", SourceKind::Lane, "post1-cargo1", "lane_decision");
        a.correlation.plate = Some("01A777BC".into());
        a.correlation.container = Some("MSCU1234565".into());
        for (k, v) in [
            ("vehicle", Value::from("01A777BC")),
            ("importer_tin", "301234567".into()),
            ("reasons", serde_json::json!(["plate 01A777BC on the watch list", "new importer Ipak Yo'li MChJ"])),
            ("corridor", "red".into()),
        ] {
            a.attributes.insert(k.into(), v);
        }
        a
    }

    #[test]
    fn the_public_form_masks_every_personal_field_and_keeps_the_rest() {
        let key = CorrelationKey::from_bytes([7; 32]);
        let mut a = lane_alert();
        key.seal(&mut a);
        let p = public(&a);
        let text = p.to_json();
        for clear in ["01A777BC", "MSCU1234565", "301234567", "Ipak", "watch list"] {
            assert!(!text.contains(clear), "{clear} in {text}");
        }
        assert_eq!(p.correlation.plate.as_deref(), Some("01****BC"));
        assert_eq!(p.attributes["importer_tin"], "30*****67");
        assert_eq!(p.attributes["reasons"][0], "p**** ******** o* t** w**** l***");
        assert_eq!(p.attributes["corridor"], "red");
        assert_eq!(p.correlation.plate_key, a.correlation.plate_key, "the join key survives");
        assert!(has_personal(&a) && !has_personal(&Alert::minimal("s", SourceKind::Camera, "c", "motion")));
        // The JSON form masks the same way, and masking twice changes nothing.
        let mut v = serde_json::to_value(&a).unwrap();
        assert_eq!(mask_alert_json(&mut v), 6);
        assert_eq!(v, serde_json::to_value(&p).unwrap());
        mask_alert_json(&mut v);
        assert_eq!(v, serde_json::to_value(&p).unwrap());
    }

    #[test]
    fn the_keyed_hash_joins_spellings_of_one_vehicle_and_differs_per_key_and_per_kind() {
        let (k1, k2) = (CorrelationKey::from_bytes([1; 32]), CorrelationKey::from_bytes([2; 32]));
        assert_eq!(k1.hash("plate", "01 a 777 bc"), k1.hash("plate", "01A777BC"));
        assert_ne!(k1.hash("plate", "01A777BC"), k1.hash("plate", "01A777BD"));
        assert_ne!(k1.hash("plate", "01A777BC"), k2.hash("plate", "01A777BC"), "useless outside the deployment");
        assert_ne!(k1.hash("plate", "MSCU1"), k1.hash("container", "MSCU1"));
        assert_eq!(k1.hash("plate", "x").len(), 32);
        assert_eq!(mask("ab"), "**");
        let fields: Vec<String> = alert_fields().collect();
        assert_eq!(
            (fields.len(), fields[0].as_str(), fields[12].as_str()),
            (13, "/correlation/plate", "/attributes/notes")
        );
        assert_eq!(mask_text("Amir Temur 15, kv. 3"), "A*** T**** **, k*. *");
    }
}
