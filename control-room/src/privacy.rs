//! Personal data in alerts — plates and callers — is masked wherever the dashboard shows an
//! alert; seeing it whole is an explicit, audited request (`/alerts/{id}/reveal`).

use serde_json::Value;

/// The fields of an alert that hold personal data, as JSON pointers.
pub const PERSONAL_FIELDS: &[&str] =
    &["/correlation/plate", "/attributes/plate", "/attributes/caller_number", "/attributes/caller_name"];

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

/// Masks every personal field of `alert` (objects' plates included); returns how many.
pub fn mask_alert(alert: &mut Value) -> usize {
    let mut n = 0;
    for ptr in PERSONAL_FIELDS {
        if let Some(Value::String(s)) = alert.pointer_mut(ptr) {
            *s = mask(s);
            n += 1;
        }
    }
    if let Some(objects) = alert.get_mut("objects").and_then(Value::as_array_mut) {
        for o in objects {
            if let Some(Value::String(s)) = o.pointer_mut("/attributes/plate") {
                *s = mask(s);
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plates_and_callers_are_masked_and_the_rest_is_untouched() {
        let mut a = serde_json::json!({
            "kind": "plate_watchlist",
            "correlation": { "plate": "01A123BC", "call": "c-1" },
            "attributes": { "caller_number": "+998901234567", "address": "Amir Temur 1" },
            "objects": [{ "class": "car", "attributes": { "plate": "01 123 ABC" } }]
        });
        assert_eq!(mask_alert(&mut a), 3);
        assert_eq!(a["correlation"]["plate"], "01****BC");
        assert_eq!(a["attributes"]["caller_number"], "+9*********67");
        assert_eq!(a["objects"][0]["attributes"]["plate"], "01 *** *BC");
        assert_eq!(a["correlation"]["call"], "c-1");
        assert_eq!(a["attributes"]["address"], "Amir Temur 1");
        assert_eq!(mask("ab"), "**");
    }
}
