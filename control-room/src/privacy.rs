//! What the dashboard shows of personal data: every personal field masked, for every role,
//! until a user who may reveal asks for one alert with a reason (`/alerts/{id}/reveal`,
//! audited). Which fields are personal, and their masked forms, are `pipeline::personal`'s;
//! this module applies them to the incident view, whose fusion message is not an alert.

use crate::store::dashboard::IncidentDetail;
use pipeline::personal;
use serde_json::Value;

/// The plates and containers fusion lists in its incident message. Fusion already masks
/// them (since incident 1.2); an incident stored before then holds them whole. Their keyed
/// hashes (`plate_key`, `container_key`) are not personal and stay.
const INCIDENT_FIELDS: &[&str] = &["/incident/keys/plate", "/incident/keys/container"];

/// Masks fusion's incident message (`{"incident": {"keys": …}}`); returns how many strings.
/// Masking a masked value changes nothing.
pub fn mask_incident_message(message: &mut Value) -> usize {
    let mut n = 0;
    for ptr in INCIDENT_FIELDS {
        match message.pointer_mut(ptr) {
            Some(Value::Array(values)) => {
                for v in values {
                    if let Value::String(s) = v {
                        *s = personal::mask(s);
                        n += 1;
                    }
                }
            }
            Some(Value::String(s)) => {
                *s = personal::mask(s);
                n += 1;
            }
            _ => {}
        }
    }
    n
}

/// Masks every personal field of an incident view: its alerts and fusion's message. The
/// timeline and legal hold hold what officers wrote (notes, reasons), shown as written.
pub fn mask_incident(detail: &mut IncidentDetail) -> usize {
    let alerts: usize = detail.alerts.iter_mut().map(personal::mask_alert_json).sum();
    alerts + mask_incident_message(&mut detail.incident)
}

/// The personal fields `alert` holds (JSON pointers of `pipeline::personal::alert_fields`,
/// any JSON value but null): what a reveal shows and its audit entry names, never their values.
pub fn personal_fields(alert: &Value) -> Vec<String> {
    personal::alert_fields().filter(|f| alert.pointer(f).is_some_and(|v| !v.is_null())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incident_message_keeps_its_keyed_hashes_and_masks_whole_plates_and_containers() {
        let mut m = serde_json::json!({ "incident": { "keys": {
            "plate": ["01A777BC", "01****BD"], "container": ["MSCU1234565"], "call": ["c-1"],
            "plate_key": ["0123456789abcdef0123456789abcdef"], "container_key": [] } } });
        assert_eq!(mask_incident_message(&mut m), 3);
        let keys = &m["incident"]["keys"];
        assert_eq!(keys["plate"], serde_json::json!(["01****BC", "01****BD"]), "masking twice changes nothing");
        assert_eq!(keys["container"][0], "MS*******65");
        assert_eq!(keys["call"][0], "c-1");
        assert_eq!(keys["plate_key"][0], "0123456789abcdef0123456789abcdef");
        assert_eq!(mask_incident_message(&mut serde_json::json!({ "incident": {} })), 0);
    }

    #[test]
    fn the_fields_a_reveal_names_are_those_the_alert_holds_of_any_shape() {
        let a = serde_json::json!({
            "correlation": { "plate": "01A777BC", "plate_key": "ab" },
            "attributes": { "reasons": ["plate 01A777BC on the watch list"], "vehicle": { "plate": "01A777BC" },
                            "corridor": "red", "notes": null }
        });
        assert_eq!(personal_fields(&a), ["/correlation/plate", "/attributes/vehicle", "/attributes/reasons"]);
    }
}
