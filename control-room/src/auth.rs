//! Who may do what: users and their roles and sites, passwords (argon2id), session and
//! bearer tokens (random, stored only as their SHA-256), and the permissions of each role.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Customs,
    Supervisor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Viewer, Role::Operator, Role::Customs, Role::Supervisor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Customs => "customs",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role holds `p`.
    pub fn may(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Supervisor => !matches!(p, Admin),
            // Customs officers act only on incidents with an X-ray source, checked per incident
            // ([`User::may_work`]), and read the rest.
            Role::Operator | Role::Customs => matches!(p, Read | Act | RevealPersonal | RequestOriginal),
            Role::Viewer => matches!(p, Read),
        }
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// See alerts, incidents, sources, nodes, lanes.
    Read,
    /// Workflow actions on the incidents of the user's sites (customs: X-ray incidents only).
    Act,
    /// See personal data (plates, caller numbers) unmasked: audited.
    RevealPersonal,
    /// Ask to see an unblurred original.
    RequestOriginal,
    /// Approve another user's request to see an original.
    ApproveOriginal,
    /// Mute and unmute sources.
    Mute,
    /// Place and lift legal holds (evidence kept past retention).
    Hold,
    /// Read the audit log.
    ReadAudit,
    /// Users, tokens, metrics, audit verification.
    Admin,
}

/// A signed-in user or an integrator's token, as the API sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The sites this user works; `["*"]` for every site.
    pub sites: Vec<String>,
    pub language: String,
}

impl User {
    pub fn sees_site(&self, site: &str) -> bool {
        self.sites.iter().any(|s| s == "*" || s == site)
    }

    /// Whether this user may act on an incident with these source kinds.
    pub fn may_work(&self, source_kinds: &[pipeline::alert::SourceKind]) -> bool {
        self.role.may(Permission::Act)
            && (self.role != Role::Customs || source_kinds.contains(&pipeline::alert::SourceKind::Xray))
    }

    pub fn all_sites(&self) -> bool {
        self.sites.iter().any(|s| s == "*")
    }
}

/// Languages of the interface.
pub const LANGUAGES: [&str; 3] = ["uz", "ru", "en"];

/// The argon2id hash (PHC string) of `password`.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| format!("salt: {e}"))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing a password: {e}"))
}

/// Whether `password` matches `phc`. A malformed stored hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A fresh random token (session cookie, CSRF token, bearer token, password): 32 bytes as
/// URL-safe text.
pub fn random_token() -> Result<String, String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness for a token: {e}"))?;
    Ok(pipeline::hash::hex(&b))
}

/// A readable random password for seeded users (printed once).
pub fn random_password() -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness for a password: {e}"))?;
    Ok(b.iter().map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char).collect())
}

/// What the store keeps of a token: its SHA-256, so a stolen database holds no live token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct hors", &h));
        assert!(!verify_password("x", "not a phc string"));
        assert_ne!(hash_password("correct horse").unwrap(), h, "salted");
    }

    #[test]
    fn roles_hold_their_permissions_only() {
        use Permission::*;
        assert!(!Role::Viewer.may(Act) && Role::Viewer.may(Read));
        assert!(Role::Operator.may(Act) && !Role::Operator.may(ApproveOriginal) && !Role::Operator.may(Mute));
        let customs = User {
            username: "c".into(),
            display_name: "C".into(),
            role: Role::Customs,
            sites: vec!["*".into()],
            language: "en".into(),
        };
        use pipeline::alert::SourceKind;
        assert!(customs.may_work(&[SourceKind::Xray, SourceKind::Camera]) && !customs.may_work(&[SourceKind::Camera]));
        assert!(Role::Supervisor.may(ApproveOriginal) && Role::Supervisor.may(Mute) && !Role::Supervisor.may(Admin));
        assert!(Role::Admin.may(Admin));
    }
}
