//! Evidence: the files an alert points to as proof (snapshot JPEGs, clips, X-ray renders),
//! named by their content hash. This module is the contract both ends keep: how an alert
//! refers to a file, how the edge serves it and the control room fetches it, and how an
//! unblurred original is sealed at rest ([`seal`]).
//!
//! The one idea: a file's name *is* its sha256. Storing is idempotent, a transfer can
//! resume at any offset, and the receiver verifies what it got without trusting the sender.
//!
//! The transfer, on the wire (the edge serves: `edge::evidence_server`; the control room
//! fetches: `control_room::evidence_fetcher`; keys in [`crate::keys`]):
//! - `get qv/{site}/evidence/{node}/{sha256}?offset=O;len=L` is answered with one reply:
//!   the bytes `[O, O + min(L, MAX_CHUNK, size - O))` (empty at the end of the file), with
//!   the attachment `size=<file size>` ([`SIZE_ATTACHMENT_PREFIX`]). `offset` defaults to
//!   0, `len` to [`MAX_CHUNK`]. A bad request gets a reply error `"<cause>: <what>"`,
//!   cause one of [`REFUSAL_CAUSES`].
//! - `put` on `qv/{site}/evidence-ack/{node}` with the sha256 (hex) as payload: the
//!   control room has verified and stored that file, which becomes the first to go under
//!   the edge's disk quota.

pub mod seal;

pub use seal::{HEADER_LEN, SealError, SealKey, Sealed, is_sealed, open_sealed};

/// The most bytes one reply carries; a larger `len` is cut to this.
pub const MAX_CHUNK: u64 = 256 * 1024;

/// The prefix of the attachment on each reply that gives the whole file's size.
pub const SIZE_ATTACHMENT_PREFIX: &str = "size=";

/// The causes a request can be refused for: the prefix of the reply error and the
/// `cause` label of `qv_evidence_refused_total`.
pub const REFUSAL_CAUSES: [&str; 6] = ["bad_hash", "unknown_hash", "bad_offset", "bad_len", "busy", "io"];

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
