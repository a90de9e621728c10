//! Every key expression of the fabric, in one place (docs/ARCHITECTURE.md, "Contracts").
//! Nothing else in the code writes a `qv/…` key by hand.
//!
//! Integrator-facing: `alert`, `incident`, `health`, `cap`. Personal data, whole, only under
//! `pii` (docs/personal-data.md): alerts, lane decision records and the personal feeds.
//! Fed in from outside systems: `feed`. Internal to edge ↔ control room: `ack` (alert
//! acknowledgements), `evidence` and `evidence-ack` (the evidence transfer), `audit-head`.
//!
//! The one rule for a key segment (a site, node, source, lane or sensor id) is
//! [`is_segment`]: the contract's `key_chunk` (`^[A-Za-z0-9_.-]+$`), checked wherever an id
//! that will become a segment enters.

use crate::feed::FeedKind;

/// Everything qorovul publishes: `qv/**`.
pub const EVERYTHING: &str = "qv/**";

/// True when `s` may stand as one segment of a key expression: letters, digits, `_`, `.`,
/// `-` (the alert contract's `key_chunk`). Ids of sites, nodes, sources and lanes are
/// checked against it where they enter (config, feeds, the API).
pub fn is_segment(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Where one alert is published: `qv/{site}/alert/{source_kind}/{source_id}/{kind}`.
pub fn alert(site: &str, source_kind: &str, source_id: &str, kind: &str) -> String {
    format!("qv/{site}/alert/{source_kind}/{source_id}/{kind}")
}

/// Every alert of a site: `qv/{site}/alert/**`.
pub fn alerts(site: &str) -> String {
    format!("qv/{site}/alert/**")
}

/// Every alert of every site: what a control room takes in and answers history queries on.
pub fn alerts_of_every_site() -> String {
    alerts("*")
}

/// Alerts of one kind from every source of one kind at a site, e.g. every camera's
/// `plate_read`: `qv/{site}/alert/{source_kind}/*/{kind}`.
pub fn alerts_of_kind(site: &str, source_kind: &str, kind: &str) -> String {
    alert(site, source_kind, "*", kind)
}

/// Every alert of every camera of a site: `qv/{site}/alert/camera/**`.
pub fn camera_alerts(site: &str) -> String {
    format!("qv/{site}/alert/camera/**")
}

/// Where an incident's created / updated / closed messages go.
pub fn incident(site: &str, id: &str) -> String {
    format!("qv/{site}/incident/{id}")
}

/// Every incident of a site: `qv/{site}/incident/**`.
pub fn incidents(site: &str) -> String {
    format!("qv/{site}/incident/**")
}

/// A customs lane's decision records: `qv/{site}/pii/lane/{lane}/decision`, under `pii`
/// because a record names the vehicle, the importer and the officers; its public form is the
/// `lane_decision` alert.
pub fn lane_decision(site: &str, lane: &str) -> String {
    format!("qv/{site}/pii/lane/{lane}/decision")
}

/// An incident as a CAP 1.2 document, asked of the control room: `qv/{site}/cap/{id}`.
pub fn cap(site: &str, incident_id: &str) -> String {
    format!("qv/{site}/cap/{incident_id}")
}

/// The CAP documents of every site, as the control room answers them.
pub fn caps_of_every_site() -> String {
    cap("*", "*")
}

/// True when `key` asks for CAP documents (`qv/{site}/cap/…`) rather than alerts.
pub fn is_cap(key: &str) -> bool {
    key.split('/').nth(2) == Some("cap")
}

/// True when `key` is under a site's alerts (`qv/{site}/alert/…`).
pub fn is_alert(key: &str) -> bool {
    key.split('/').nth(2) == Some("alert")
}

/// The site segment of a `qv/{site}/…` key, when it is a valid segment (not a wildcard).
pub fn site_of(key: &str) -> Option<&str> {
    key.split('/').nth(1).filter(|s| is_segment(s))
}

/// A node's heartbeat: `qv/{site}/health/{node}`.
pub fn health(site: &str, node: &str) -> String {
    format!("qv/{site}/health/{node}")
}

/// Every node's heartbeat, of every site.
pub fn health_of_every_node() -> String {
    health("*", "*")
}

/// Acknowledgements of stored alerts, addressed to the node that sent them, under the
/// alerts' site. The payload is the acknowledged ids, 16 bytes each.
pub fn ack(site: &str, node: &str) -> String {
    format!("qv/{site}/ack/{node}")
}

/// An acknowledgement's payload: the ids, 16 bytes each.
pub fn encode_ack(ids: &[uuid::Uuid]) -> Vec<u8> {
    ids.iter().flat_map(|id| *id.as_bytes()).collect()
}

/// The ids of an acknowledgement payload; `None` when it is not a whole number of ids.
pub fn decode_ack(bytes: &[u8]) -> Option<Vec<uuid::Uuid>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(16) {
        return None;
    }
    Some(bytes.chunks_exact(16).map(|c| uuid::Uuid::from_slice(c).expect("16 bytes")).collect())
}

/// What a node subscribes to for its acknowledgements (`qv/*/ack/{node}`); the uplink takes
/// them only on its own site's key and refuses the others.
pub fn acks_for(node: &str) -> String {
    ack("*", node)
}

/// One evidence file held by a node, addressed by its sha256 (hex).
pub fn evidence(site: &str, node: &str, sha256: &str) -> String {
    format!("qv/{site}/evidence/{node}/{sha256}")
}

/// Where the control room tells `node` that it holds an evidence file (payload: the sha256
/// in hex), so the edge may evict its copy first.
pub fn evidence_ack(site: &str, node: &str) -> String {
    format!("qv/{site}/evidence-ack/{node}")
}

/// Where a control room publishes the signed head of its audit chain.
pub fn audit_head(site: &str, node: &str) -> String {
    format!("qv/{site}/audit-head/{node}")
}

/// Personal data (docs/personal-data.md), readable only with the router's right to it:
/// `qv/{site}/pii/**`.
pub fn pii(site: &str) -> String {
    format!("qv/{site}/pii/**")
}

/// The personal twin of a public key: `qv/{site}/rest` → `qv/{site}/pii/rest`. A message
/// with personal fields goes whole there, and only its masked form on the public key.
pub fn pii_of(key: &str) -> String {
    match key.strip_prefix("qv/").and_then(|k| k.split_once('/')) {
        Some((site, rest)) => format!("qv/{site}/pii/{rest}"),
        None => panic!("pii_of({key:?}): not a qv/{{site}}/… key"),
    }
}

/// The public key a personal one stands for: `qv/{site}/pii/rest` → `qv/{site}/rest`;
/// `None` when `key` is not under a site's `pii/`.
pub fn public_of(key: &str) -> Option<String> {
    let (site, rest) = key.strip_prefix("qv/")?.split_once('/')?;
    Some(format!("qv/{site}/{}", rest.strip_prefix("pii/")?))
}

/// Every alert of every site, whole (personal fields included): what a control room
/// ingests, `qv/*/pii/alert/**`.
pub fn pii_alerts_of_every_site() -> String {
    pii_of(&alerts_of_every_site())
}

/// Where the call-handling system puts 102 call records (JSON, one per message): under
/// `pii`, because records carry caller numbers.
pub fn calls_feed(site: &str) -> String {
    format!("qv/{site}/pii/feed/{}", feed_segment(FeedKind::Calls))
}

/// The segment after `feed/` in a feed's keys; scans have no zenoh feed (uploads only).
pub fn feed_segment(kind: FeedKind) -> &'static str {
    match kind {
        FeedKind::DeclarationImports => "declaration-imports",
        other => other.as_str(),
    }
}

/// Where patrol unit `unit` puts its position reports.
pub fn unit_feed(site: &str, unit: &str) -> String {
    format!("qv/{site}/feed/{}/{unit}", feed_segment(FeedKind::Units))
}

/// Every patrol unit's reports: `qv/{site}/feed/units/*`.
pub fn units_feed(site: &str) -> String {
    unit_feed(site, "*")
}

/// Where sensor `sensor` puts its telemetry readings.
pub fn sensor_feed(site: &str, sensor: &str) -> String {
    format!("qv/{site}/feed/{}/{sensor}", feed_segment(FeedKind::Telemetry))
}

/// Every sensor's telemetry: `qv/{site}/feed/telemetry/*`.
pub fn telemetry_feed(site: &str) -> String {
    sensor_feed(site, "*")
}

/// Where the customs declaration system puts declarations: under `pii`, because they name
/// importers, their tax numbers, plates and containers.
pub fn declarations_feed(site: &str) -> String {
    format!("qv/{site}/pii/feed/{}", feed_segment(FeedKind::Declarations))
}

/// Where the customs system loads past declarations into the importers' history (a
/// privileged route of its own: the lane feed refuses past declarations); under `pii`.
pub fn declaration_imports_feed(site: &str) -> String {
    format!("qv/{site}/pii/feed/{}", feed_segment(FeedKind::DeclarationImports))
}

/// Where inspection results come back into the importers' history: under `pii`, because
/// they carry the officer's token (a name).
pub fn inspections_feed(site: &str) -> String {
    format!("qv/{site}/pii/feed/{}", feed_segment(FeedKind::Inspections))
}

/// The attachment an edge node puts on each alert it sends: its node id, so the control
/// room knows where to send the acknowledgement.
pub const NODE_ATTACHMENT_PREFIX: &str = "node=";

/// Builds the attachment naming `node`.
pub fn node_attachment(node: &str) -> String {
    format!("{NODE_ATTACHMENT_PREFIX}{node}")
}

/// The node named by an alert's attachment, if it has one.
pub fn node_from_attachment(attachment: &[u8]) -> Option<&str> {
    std::str::from_utf8(attachment).ok()?.strip_prefix(NODE_ATTACHMENT_PREFIX).filter(|n| is_segment(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_payloads_round_trip_and_bad_ones_are_refused() {
        let ids = [uuid::Uuid::now_v7(), uuid::Uuid::now_v7()];
        assert_eq!(decode_ack(&encode_ack(&ids)), Some(ids.to_vec()));
        assert_eq!(decode_ack(&[1, 2, 3]), None);
        assert_eq!(decode_ack(&[]), None);
    }

    #[test]
    fn node_attachment_round_trips_and_refuses_bad_names() {
        assert_eq!(node_from_attachment(node_attachment("post-7").as_bytes()), Some("post-7"));
        assert_eq!(node_from_attachment(b"node=a/b"), None);
        assert_eq!(node_from_attachment(b"node="), None);
        assert_eq!(node_from_attachment(b"other"), None);
        assert_eq!(node_from_attachment(&[0xff, 0xfe]), None);
    }

    #[test]
    fn a_segment_is_the_contracts_key_chunk() {
        for good in ["post-1", "cam_2.north", "A9"] {
            assert!(is_segment(good), "{good}");
        }
        for bad in ["", "a/b", "*", "a*", "$x", "a?b", "a#", "a b", "ü", "a@b"] {
            assert!(!is_segment(bad), "{bad}");
        }
        let schema: serde_json::Value = serde_json::from_str(crate::alert::JSON_SCHEMA).unwrap();
        assert_eq!(schema["$defs"]["key_chunk"]["pattern"], "^[A-Za-z0-9_.-]+$", "the rule above is the contract's");
    }

    #[test]
    fn wildcard_keys_cover_the_keys_they_stand_for() {
        assert_eq!(alert("s", "camera", "c1", "plate_read"), "qv/s/alert/camera/c1/plate_read");
        assert_eq!(alerts_of_kind("s", "xray", "xray_scan"), "qv/s/alert/xray/*/xray_scan");
        assert_eq!(alerts_of_every_site(), "qv/*/alert/**");
        assert_eq!(health_of_every_node(), "qv/*/health/*");
        assert_eq!(caps_of_every_site(), "qv/*/cap/*");
        assert_eq!(acks_for("n"), "qv/*/ack/n");
        assert_eq!(units_feed("s"), "qv/s/feed/units/*");
        assert_eq!(telemetry_feed("s"), "qv/s/feed/telemetry/*");
        assert_eq!(pii_of(&alert("s", "camera", "c1", "plate_read")), "qv/s/pii/alert/camera/c1/plate_read");
        assert_eq!(
            public_of("qv/s/pii/alert/camera/c1/plate_read").as_deref(),
            Some("qv/s/alert/camera/c1/plate_read")
        );
        assert_eq!(public_of("qv/s/alert/camera/c1/plate_read"), None);
        assert_eq!(pii_alerts_of_every_site(), "qv/*/pii/alert/**");
        assert_eq!(lane_decision("s", "l1"), "qv/s/pii/lane/l1/decision");
        assert!(is_cap(&cap("s", "i")) && !is_cap(&alerts("s")) && is_alert(&alerts("s")));
        assert_eq!(site_of("qv/post-1/alert/**"), Some("post-1"));
        assert_eq!(site_of("qv/*/alert/**"), None);
    }
}
