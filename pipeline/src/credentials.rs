//! Who may write to a node's feeds, and how each door knows it (docs/threat-model.md).
//!
//! Every record fed to a node (HTTP `POST /v1/*`, the zenoh feed keys) comes from an
//! identity declared in the node's credentials file: a device (a scanner, a portal
//! gateway), an integration (the 102 call-handling system, the customs declaration system)
//! or a person (an officer). Each is scoped to the feeds it may post to and the source ids
//! it may speak for (`lane1-mev` posts scans for `lane1-mev` only).
//!
//! Three kinds of credential, none stored in a form that would let the node's file be
//! used to write:
//! - a **bearer token** (HTTP): 32 random bytes; the file keeps only its sha256 (a token
//!   has 256 bits of entropy, so a plain hash cannot be searched; a password would need
//!   argon2). Rotation keeps the old token until an overlap ends.
//! - a **signing key** (zenoh, where a token in a message would reach every subscriber):
//!   the device signs each record with ed25519 over its key, time and a nonce; the file
//!   keeps the public key. Signed records older or newer than [`SIGNED_WINDOW_SECS`], or
//!   with a nonce already seen, are refused as replays.
//! - an **officer token**: short-lived, signed by the control room's issuer key and checked
//!   at the post against the issuer's public key, so a post cut off from the control room
//!   still knows its officers. It names the officer (never a free-text field in the record).
//!
//! The file is read again whenever it changes on disk, so a revocation acts on the next
//! request; a file that no longer loads refuses everything until it is fixed, so a
//! revocation is never silently lost. Authentication comes before any parsing of a body.

use crate::feed::FeedKind;
use crate::hash::{hex, sha256_hex};
use crate::personal::mask;
use chrono::{DateTime, Utc};
pub use ed25519_dalek::SigningKey;
use ed25519_dalek::{Signature, Signer as _, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A signed zenoh record more than this far from the node's clock is refused.
pub const SIGNED_WINDOW_SECS: i64 = 30;
/// Prefix of a bearer token issued by `qorovul credentials`.
pub const TOKEN_PREFIX: &str = "qv1_";
/// Prefix of an officer token signed by a control room.
pub const OFFICER_TOKEN_PREFIX: &str = "qvo1.";
/// The attachment's first word on a signed zenoh record.
const SIGNED_TAG: &str = "qvs1";
/// Nonces remembered for replay checks; beyond this the oldest go (they are outside the
/// window by then at any sane rate: 100,000 records in 60 s).
const MAX_NONCES: usize = 100_000;

/// What an identity is: it decides nothing by itself, but the audit and the list say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Device,
    Integration,
    Person,
}

/// A sender as a refusal's note names it. Notes are logged as well as answered: a device or
/// an integration by its name, a person (an officer) masked ([`mask`]).
fn shown(name: &str, kind: Kind) -> String {
    match kind {
        Kind::Person => mask(name),
        Kind::Device | Kind::Integration => name.to_string(),
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        match s {
            "device" => Ok(Kind::Device),
            "integration" => Ok(Kind::Integration),
            "person" => Ok(Kind::Person),
            other => Err(format!("{other:?} is not device, integration or person")),
        }
    }
}

/// One identity in the credentials file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub name: String,
    pub kind: Kind,
    /// The feeds it may post to.
    pub routes: Vec<FeedKind>,
    /// The source ids (sensors, scanners, lanes) it may speak for; `"*"` for any.
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default, rename = "token", skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<Token>,
    #[serde(default, rename = "key", skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<PublicKey>,
    /// When it was revoked: every credential of it refused from then on (officer tokens
    /// for this name included). Kept, not deleted, so the list says who was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<DateTime<Utc>>,
}

impl Identity {
    /// An identity without credentials yet ([`CredentialFile::issue`] or `issue_key` add one).
    pub fn new(name: &str, kind: Kind, routes: Vec<FeedKind>, sources: Vec<String>) -> Identity {
        Identity { name: name.into(), kind, routes, sources, tokens: vec![], keys: vec![], revoked: None }
    }
}

/// A bearer token, as its hash.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    pub sha256: String,
    pub issued: DateTime<Utc>,
    /// Set by a rotation: the old token works until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
}

/// An ed25519 public key (hex) for signed zenoh records.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKey {
    pub ed25519: String,
    pub issued: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
}

/// A control room whose officer tokens this node takes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    pub name: String,
    pub ed25519: String,
}

/// The credentials file (TOML): `[[identity]]` and `[[issuer]]` tables.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialFile {
    #[serde(default, rename = "identity")]
    pub identities: Vec<Identity>,
    #[serde(default, rename = "issuer")]
    pub issuers: Vec<Issuer>,
}

/// Why a request was refused: 401 (who are you?) or 403 (not yours to say), the metric's
/// reason label, and the note for the sender.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
    pub note: String,
}

impl Refusal {
    fn unauthenticated(reason: &'static str, note: impl Into<String>) -> Self {
        Refusal { status: 401, reason, note: note.into() }
    }
    fn forbidden(reason: &'static str, note: impl Into<String>) -> Self {
        Refusal { status: 403, reason, note: note.into() }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.note)
    }
}

/// An authenticated sender: what a door hands on with the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub name: String,
    pub kind: Kind,
    routes: Vec<FeedKind>,
    sources: Vec<String>,
}

impl Caller {
    /// An in-process sender with every right (a node's own replay files, tests of the desks).
    pub fn local(name: &str) -> Caller {
        Caller { name: name.into(), kind: Kind::Device, routes: FeedKind::ALL.to_vec(), sources: vec!["*".into()] }
    }

    /// 403 unless it may post to `feed`.
    pub fn may_post(&self, feed: FeedKind) -> Result<(), Refusal> {
        if self.routes.contains(&feed) {
            return Ok(());
        }
        Err(Refusal::forbidden(
            "route",
            format!("{:?} may not post {} records", shown(&self.name, self.kind), feed.as_str()),
        ))
    }

    /// 403 unless it may speak for `source` (named by `field` of the record).
    pub fn may_speak_for(&self, field: &str, source: &str) -> Result<(), Refusal> {
        if self.sources.iter().any(|s| s == "*" || s == source) {
            return Ok(());
        }
        Err(Refusal::forbidden(
            "source",
            format!("{field}: {:?} may not speak for {source:?}", shown(&self.name, self.kind)),
        ))
    }
}

impl CredentialFile {
    /// Reads and checks a credentials file; `Err` names the file, line and field.
    pub fn load(path: &Path) -> Result<CredentialFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: CredentialFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        file.check().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(file)
    }

    /// Writes the file so that a reader sees the old or the new one, never half (a node
    /// reloads it on change), readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let text = toml::to_string(self).map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        f.write_all(HEADER.as_bytes())
            .and_then(|()| f.write_all(text.as_bytes()))
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn check(&self) -> Result<(), String> {
        for (i, id) in self.identities.iter().enumerate() {
            let at = format!("identity[{i}] {:?}", id.name);
            if !crate::keys::is_segment(&id.name) {
                return Err(format!("{at}.name: not an id (A-Z a-z 0-9 _ . -)"));
            }
            if self.identities[..i].iter().any(|o| o.name == id.name) {
                return Err(format!("{at}.name: another identity has this name"));
            }
            for (j, t) in id.tokens.iter().enumerate() {
                if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!("{at}.token[{j}].sha256: not 64 hex digits"));
                }
            }
            for (j, k) in id.keys.iter().enumerate() {
                verifying_key(&k.ed25519).map_err(|e| format!("{at}.key[{j}].ed25519: {e}"))?;
            }
        }
        for (i, is) in self.issuers.iter().enumerate() {
            verifying_key(&is.ed25519).map_err(|e| format!("issuer[{i}] {:?}.ed25519: {e}", is.name))?;
        }
        Ok(())
    }

    /// Adds `identity` with a new bearer token; returns the token (shown once, never stored).
    pub fn issue(&mut self, mut identity: Identity, now: DateTime<Utc>) -> Result<String, String> {
        if self.identities.iter().any(|i| i.name == identity.name) {
            return Err(format!("{:?} exists: rotate or revoke it", identity.name));
        }
        let token = new_token()?;
        identity.tokens.push(Token { sha256: sha256_hex(&token), issued: now, expires: None });
        self.identities.push(identity);
        self.check()?;
        Ok(token)
    }

    /// Adds `identity` with a new signing key; returns its private seed (hex), for the
    /// device alone: the file keeps the public half.
    pub fn issue_key(&mut self, mut identity: Identity, now: DateTime<Utc>) -> Result<String, String> {
        if self.identities.iter().any(|i| i.name == identity.name) {
            return Err(format!("{:?} exists: revoke it, or issue another name", identity.name));
        }
        let (seed, public) = new_signing_key()?;
        identity.keys.push(PublicKey { ed25519: public, issued: now, expires: None });
        self.identities.push(identity);
        self.check()?;
        Ok(seed)
    }

    /// Takes officer tokens signed by the issuer `name` with the public key `ed25519`.
    pub fn trust(&mut self, name: &str, ed25519: &str) -> Result<(), String> {
        verifying_key(ed25519).map_err(|e| format!("issuer {name:?}: {e}"))?;
        self.issuers.retain(|i| i.name != name);
        self.issuers.push(Issuer { name: name.into(), ed25519: ed25519.into() });
        Ok(())
    }

    /// A new token for `name`; its current tokens keep working until `now + overlap`.
    pub fn rotate(&mut self, name: &str, overlap: chrono::Duration, now: DateTime<Utc>) -> Result<String, String> {
        let id = self.identity_mut(name)?;
        let until = Some(now + overlap);
        for t in &mut id.tokens {
            t.expires = t.expires.min(until).or(until);
        }
        let token = new_token()?;
        id.tokens.push(Token { sha256: sha256_hex(&token), issued: now, expires: None });
        Ok(token)
    }

    /// A new signing key for `name` (its private seed returned); its current keys keep
    /// working until `now + overlap`.
    pub fn rotate_key(&mut self, name: &str, overlap: chrono::Duration, now: DateTime<Utc>) -> Result<String, String> {
        let id = self.identity_mut(name)?;
        let until = Some(now + overlap);
        for k in &mut id.keys {
            k.expires = k.expires.min(until).or(until);
        }
        let (seed, public) = new_signing_key()?;
        id.keys.push(PublicKey { ed25519: public, issued: now, expires: None });
        Ok(seed)
    }

    /// Every credential of `name` refused from `now` on.
    pub fn revoke(&mut self, name: &str, now: DateTime<Utc>) -> Result<(), String> {
        self.identity_mut(name)?.revoked = Some(now);
        Ok(())
    }

    fn identity_mut(&mut self, name: &str) -> Result<&mut Identity, String> {
        self.identities.iter_mut().find(|i| i.name == name).ok_or_else(|| format!("no identity {name:?}"))
    }
}

impl std::fmt::Display for Identity {
    /// The identity and its credentials, one per line, secrets never (hash and key prefixes).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.revoked.map_or("live".to_string(), |r| format!("revoked {}", r.to_rfc3339()));
        let routes: Vec<&str> = self.routes.iter().map(|r| r.as_str()).collect();
        write!(
            f,
            "{} ({:?}, {state}): routes {}; sources {}",
            self.name,
            self.kind,
            routes.join(","),
            self.sources.join(",")
        )?;
        for t in &self.tokens {
            let until = t.expires.map_or("no end".into(), |e| format!("until {}", e.to_rfc3339()));
            write!(f, "\n  token sha256 {}… issued {} ({until})", &t.sha256[..12], t.issued.to_rfc3339())?;
        }
        for k in &self.keys {
            write!(f, "\n  signing key {}… issued {}", &k.ed25519[..12], k.issued.to_rfc3339())?;
        }
        Ok(())
    }
}

/// Writes a private key readable by its owner only; an existing file is not overwritten.
pub fn write_secret(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

const HEADER: &str = "# qorovul credentials: who may write to this node's feeds. Managed by\n\
# `qorovul credentials`; tokens are kept as their sha256 only, keys as public keys.\n\n";

/// 32 random bytes, hex, with the token prefix.
fn new_token() -> Result<String, String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness: {e}"))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex(&b)))
}

/// A new ed25519 key pair: (the private seed as hex, for the device alone; the public key
/// as hex, for the credentials file).
pub fn new_signing_key() -> Result<(String, String), String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    Ok((hex(&seed), hex(key.verifying_key().as_bytes())))
}

/// A signing key from its hex seed (a device's key file, an issuer's key file).
pub fn signing_key(seed_hex: &str) -> Result<SigningKey, String> {
    let b = unhex(seed_hex.trim()).ok_or("not hex")?;
    let seed: [u8; 32] = b.try_into().map_err(|_| "not 32 bytes")?;
    Ok(SigningKey::from_bytes(&seed))
}

fn verifying_key(public_hex: &str) -> Result<VerifyingKey, String> {
    let b = unhex(public_hex).ok_or("not hex")?;
    let b: [u8; 32] = b.try_into().map_err(|_| "not 32 bytes")?;
    VerifyingKey::from_bytes(&b).map_err(|e| format!("not an ed25519 public key: {e}"))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// What an officer token says, signed by a control room.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OfficerClaims {
    /// The officer's account name at the control room.
    pub officer: String,
    pub site: String,
    /// The lanes the officer works at.
    pub lanes: Vec<String>,
    pub issued: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

/// `qvo1.<claims as hex JSON>.<ed25519 signature as hex>`, signed by `issuer`.
pub fn officer_token(claims: &OfficerClaims, issuer: &SigningKey) -> String {
    let body = hex(&serde_json::to_vec(claims).unwrap_or_default());
    let sig = issuer.sign(body.as_bytes());
    format!("{OFFICER_TOKEN_PREFIX}{body}.{}", hex(&sig.to_bytes()))
}

type Expires = Option<DateTime<Utc>>;

/// The loaded file, indexed for the doors.
struct Loaded {
    file: CredentialFile,
    /// Token hash → (identity index, token index).
    tokens: HashMap<String, (usize, usize)>,
    /// Identity name → its live signing keys, each with its end (a rotation's overlap).
    keys: HashMap<String, Vec<(VerifyingKey, Expires)>>,
    issuers: Vec<VerifyingKey>,
}

impl Loaded {
    fn new(file: CredentialFile) -> Loaded {
        let mut tokens = HashMap::new();
        let mut keys: HashMap<String, Vec<_>> = HashMap::new();
        for (i, id) in file.identities.iter().enumerate() {
            for (j, t) in id.tokens.iter().enumerate() {
                tokens.insert(t.sha256.to_ascii_lowercase(), (i, j));
            }
            for k in &id.keys {
                if let Ok(v) = verifying_key(&k.ed25519) {
                    keys.entry(id.name.clone()).or_default().push((v, k.expires));
                }
            }
        }
        let issuers = file.issuers.iter().filter_map(|i| verifying_key(&i.ed25519).ok()).collect();
        Loaded { file, tokens, keys, issuers }
    }

    fn caller(&self, i: usize, now: DateTime<Utc>) -> Result<Caller, Refusal> {
        let id = &self.file.identities[i];
        if id.revoked.is_some_and(|r| r <= now) {
            let who = shown(&id.name, id.kind);
            return Err(Refusal::unauthenticated("revoked", format!("the credential of {who:?} is revoked")));
        }
        Ok(Caller { name: id.name.clone(), kind: id.kind, routes: id.routes.clone(), sources: id.sources.clone() })
    }
}

/// A node's credentials, as its doors use them. Cheap to share (`Arc`).
pub struct Credentials {
    path: PathBuf,
    site: String,
    state: Mutex<State>,
}

struct State {
    /// The file's modification time and length when last read.
    stamp: Option<(std::time::SystemTime, u64)>,
    loaded: Result<Loaded, String>,
    /// `(identity, nonce)` of signed records inside the window, oldest first.
    nonces: VecDeque<(String, String, i64)>,
    seen: std::collections::HashSet<(String, String)>,
}

impl Credentials {
    /// Opens the credentials of `site`'s node; `Err` when the file does not load (a node does
    /// not start with doors it cannot check).
    pub fn open(path: &Path, site: &str) -> Result<Credentials, String> {
        let file = CredentialFile::load(path)?;
        let stamp = stamp(path);
        let state = State { stamp, loaded: Ok(Loaded::new(file)), nonces: VecDeque::new(), seen: Default::default() };
        Ok(Credentials { path: path.to_path_buf(), site: site.to_string(), state: Mutex::new(state) })
    }

    /// The file, read again if it changed on disk.
    fn current(&self) -> std::sync::MutexGuard<'_, State> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = stamp(&self.path);
        if now != st.stamp {
            st.stamp = now;
            st.loaded = CredentialFile::load(&self.path).map(Loaded::new);
            match &st.loaded {
                Ok(_) => tracing::info!("credentials {} reloaded", self.path.display()),
                Err(e) => tracing::error!("credentials do not load, every feed request is refused: {e}"),
            }
        }
        st
    }

    /// The sender of an HTTP request from its `Authorization` header.
    pub fn bearer(&self, header: Option<&[u8]>, now: DateTime<Utc>) -> Result<Caller, Refusal> {
        let Some(header) = header else {
            return Err(Refusal::unauthenticated(
                "missing",
                "no Authorization header: send Authorization: Bearer <token>",
            ));
        };
        let token = std::str::from_utf8(header)
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| Refusal::unauthenticated("malformed", "Authorization: not \"Bearer <token>\""))?;
        let st = self.current();
        let loaded = st.loaded.as_ref().map_err(|_| Refusal {
            status: 503,
            reason: "credentials",
            note: "this node's credentials file does not load; nothing is taken until it is fixed".into(),
        })?;
        if let Some(signed) = token.strip_prefix(OFFICER_TOKEN_PREFIX) {
            return self.officer(loaded, signed, now);
        }
        let Some(&(i, j)) = loaded.tokens.get(&sha256_hex(token)) else {
            return Err(Refusal::unauthenticated("unknown", "the token is not one of this node's credentials"));
        };
        let caller = loaded.caller(i, now)?;
        if loaded.file.identities[i].tokens[j].expires.is_some_and(|e| e <= now) {
            return Err(Refusal::unauthenticated(
                "expired",
                format!("this token of {:?} was rotated out", shown(&caller.name, caller.kind)),
            ));
        }
        Ok(caller)
    }

    fn officer(&self, loaded: &Loaded, signed: &str, now: DateTime<Utc>) -> Result<Caller, Refusal> {
        let bad = || Refusal::unauthenticated("officer_token", "not an officer token signed by a known control room");
        let (body, sig) = signed.split_once('.').ok_or_else(bad)?;
        let sig = unhex(sig).and_then(|s| <[u8; 64]>::try_from(s).ok()).map(|s| Signature::from_bytes(&s));
        let sig = sig.ok_or_else(bad)?;
        if !loaded.issuers.iter().any(|k| k.verify(body.as_bytes(), &sig).is_ok()) {
            return Err(bad());
        }
        let claims: OfficerClaims = unhex(body).and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(bad)?;
        if claims.expires <= now {
            return Err(Refusal::unauthenticated(
                "expired",
                format!("the token of officer {:?} expired", mask(&claims.officer)),
            ));
        }
        if claims.site != self.site {
            return Err(Refusal::forbidden(
                "site",
                format!(
                    "the token of officer {:?} is for site {:?}, not {:?}",
                    mask(&claims.officer),
                    claims.site,
                    self.site
                ),
            ));
        }
        if let Some(id) = loaded.file.identities.iter().find(|i| i.name == claims.officer)
            && id.revoked.is_some_and(|r| r <= now)
        {
            return Err(Refusal::unauthenticated("revoked", format!("officer {:?} is revoked", mask(&claims.officer))));
        }
        Ok(Caller {
            name: claims.officer,
            kind: Kind::Person,
            routes: vec![FeedKind::Identity, FeedKind::Inspections],
            sources: claims.lanes,
        })
    }

    /// The sender of a signed zenoh record on `key` from its attachment.
    pub fn signed(
        &self,
        key: &str,
        payload: &[u8],
        attachment: Option<&[u8]>,
        now: DateTime<Utc>,
    ) -> Result<Caller, Refusal> {
        let bad = |note: &str| Refusal::unauthenticated("signature", format!("{key}: {note}"));
        let att = attachment.and_then(|a| std::str::from_utf8(a).ok()).ok_or_else(|| bad("not signed"))?;
        let mut words = att.split(' ');
        let (Some(SIGNED_TAG), Some(name), Some(ms), Some(nonce), Some(sig), None) =
            (words.next(), words.next(), words.next(), words.next(), words.next(), words.next())
        else {
            return Err(bad("the attachment is not a qorovul signature"));
        };
        let ms: i64 = ms.parse().map_err(|_| bad("the signature's time is not a number"))?;
        if (ms / 1000 - now.timestamp()).abs() > SIGNED_WINDOW_SECS {
            return Err(Refusal::unauthenticated(
                "stale",
                format!("{key}: signed at {ms} ms, more than {SIGNED_WINDOW_SECS} s from this node's clock"),
            ));
        }
        let sig = unhex(sig).and_then(|s| <[u8; 64]>::try_from(s).ok()).map(|s| Signature::from_bytes(&s));
        let sig = sig.ok_or_else(|| bad("the signature is not 64 bytes of hex"))?;
        let message = signed_message(key, ms, nonce, payload);
        let mut st = self.current();
        let st = &mut *st;
        let loaded = st.loaded.as_ref().map_err(|_| Refusal {
            status: 503,
            reason: "credentials",
            note: "this node's credentials file does not load".into(),
        })?;
        let keys = loaded.keys.get(name).ok_or_else(|| bad(&format!("{name:?} has no signing key here")))?;
        if !keys.iter().any(|(k, expires)| expires.is_none_or(|e| e > now) && k.verify(&message, &sig).is_ok()) {
            return Err(bad(&format!("not signed by a live key of {name:?}")));
        }
        let i = loaded.file.identities.iter().position(|i| i.name == name).ok_or_else(|| bad("unknown"))?;
        let caller = loaded.caller(i, now)?;
        // A valid record seen again is a replay, whoever sends it.
        let entry = (name.to_string(), nonce.to_string());
        if st.seen.contains(&entry) {
            return Err(Refusal::unauthenticated(
                "replay",
                format!("{key}: nonce {nonce} of {name:?} was seen before"),
            ));
        }
        let oldest = now.timestamp() - 2 * SIGNED_WINDOW_SECS;
        while st.nonces.front().is_some_and(|(_, _, t)| *t < oldest) || st.nonces.len() >= MAX_NONCES {
            if let Some((n, c, _)) = st.nonces.pop_front() {
                st.seen.remove(&(n, c));
            }
        }
        st.seen.insert(entry.clone());
        st.nonces.push_back((entry.0, entry.1, now.timestamp()));
        Ok(caller)
    }
}

fn stamp(path: &Path) -> Option<(std::time::SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn signed_message(key: &str, ms: i64, nonce: &str, payload: &[u8]) -> Vec<u8> {
    let mut m = format!("{SIGNED_TAG}\n{key}\n{ms}\n{nonce}\n").into_bytes();
    m.extend_from_slice(payload);
    m
}

/// A device's or integration's identity on the zenoh feed keys: its name and signing key.
#[derive(Clone)]
pub struct Signer {
    pub name: String,
    pub key: SigningKey,
}

impl Signer {
    /// Puts `body` on `key` with its signature as the attachment.
    pub fn put(&self, session: &zenoh::Session, key: &str, body: impl Into<Vec<u8>>) -> Result<(), String> {
        use zenoh::Wait;
        let body = body.into();
        let signature = sign_record(key, &body, &self.name, &self.key, Utc::now());
        session.put(key, body).attachment(signature).wait().map_err(|e| format!("put on {key}: {e}"))
    }
}

/// The attachment for a record put on zenoh `key` by identity `name` with its key:
/// `qvs1 <name> <unix ms> <nonce> <signature>`.
pub fn sign_record(key: &str, payload: &[u8], name: &str, signer: &SigningKey, now: DateTime<Utc>) -> Vec<u8> {
    let mut n = [0u8; 16];
    // Without randomness the nonce is the time and a counter: still unique per process.
    if getrandom::fill(&mut n).is_err() {
        static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let c = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        n[..8].copy_from_slice(&now.timestamp_nanos_opt().unwrap_or_default().to_be_bytes());
        n[8..].copy_from_slice(&c.to_be_bytes());
    }
    let (ms, nonce) = (now.timestamp_millis(), hex(&n));
    let sig = signer.sign(&signed_message(key, ms, &nonce, payload));
    format!("{SIGNED_TAG} {name} {ms} {nonce} {}", hex(&sig.to_bytes())).into_bytes()
}

#[cfg(test)]
mod tests;
