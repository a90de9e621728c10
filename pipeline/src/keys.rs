//! The key expressions of the fabric, in one place (DESIGN.md, "Key expressions").
//!
//! Integrator-facing: `alert`, `incident`, `health`, `pii`. Internal to edge ↔ control
//! room: `ack` (alert acknowledgements) and `evidence` (the evidence lane).

/// Every alert of a site: `qv/{site}/alert/**`.
pub fn alerts(site: &str) -> String {
    format!("qv/{site}/alert/**")
}

/// Where an incident's created / updated / closed messages go.
pub fn incident(site: &str, id: &str) -> String {
    format!("qv/{site}/incident/{id}")
}

/// A node's heartbeat: `qv/{site}/health/{node}`.
pub fn health(site: &str, node: &str) -> String {
    format!("qv/{site}/health/{node}")
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

/// What a node subscribes to for its acknowledgements, whatever site its alerts name.
pub fn acks_for(node: &str) -> String {
    format!("qv/*/ack/{node}")
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

/// True for a sha256 as evidence files are named: 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The hex hash of an alert's evidence reference: the contract writes `sha256:<hex>`
/// (alert.schema.json); a bare hex hash is accepted from older nodes. `None` for anything
/// else — references come from the network and become file names.
pub fn evidence_hash(reference: &str) -> Option<&str> {
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    is_sha256_hex(hex).then_some(hex)
}

/// An evidence reference as the contract writes it.
pub fn evidence_ref(sha256_hex: &str) -> String {
    format!("sha256:{sha256_hex}")
}

/// Personal data (plates, caller numbers, unblurred media), readable only with the ACL right.
pub fn pii(site: &str) -> String {
    format!("qv/{site}/pii/**")
}

/// Where the call-handling system puts 102 call records (JSON, one per message): under
/// `pii`, because records carry caller numbers.
pub fn calls_feed(site: &str) -> String {
    format!("qv/{site}/pii/feed/calls")
}

/// Patrol units put their position reports on `qv/{site}/feed/units/{unit}`.
pub fn units_feed(site: &str) -> String {
    format!("qv/{site}/feed/units/*")
}

/// Sensors put telemetry readings on `qv/{site}/feed/telemetry/{sensor}`.
pub fn telemetry_feed(site: &str) -> String {
    format!("qv/{site}/feed/telemetry/*")
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
    std::str::from_utf8(attachment).ok()?.strip_prefix(NODE_ATTACHMENT_PREFIX).filter(|n| is_chunk(n))
}

/// True when `s` can stand as one chunk of a key expression: non-empty, no `/`, `*`, `$`,
/// `?`, `#`.
pub fn is_chunk(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '*', '$', '?', '#'])
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
}
