//! `qorovul credentials`: who may write to a node's feeds (`pipeline::credentials`): issue,
//! list, rotate (with an overlap) and revoke identities; at a control room, the issuer key
//! that signs officers' short-lived tokens. Secrets are shown (or written 0600) once; the
//! node's file holds hashes and public keys, and is read again when it changes.

use chrono::Utc;
use pipeline::credentials::{self, CredentialFile, Identity, Kind, OfficerClaims};
use pipeline::feed::FeedKind;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub enum CredentialsCmd {
    /// Add an identity with a new bearer token (printed once) or a signing key (written to
    /// --key-out) for the zenoh feed keys.
    Issue {
        /// The node's credentials file (`[feeds] credentials`); created if missing.
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        name: String,
        /// device, integration or person.
        #[arg(long)]
        kind: Kind,
        /// Feeds it may post to, comma-separated: calls, units, telemetry, scans,
        /// declarations, declaration_imports, inspections, identity.
        #[arg(long, value_delimiter = ',', required = true, value_parser = FeedKind::parse)]
        routes: Vec<FeedKind>,
        /// Source ids it may speak for (sensors, scanners, lanes, units), or `*`.
        #[arg(long, value_delimiter = ',', default_value = "*")]
        sources: Vec<String>,
        /// Make a signing key instead of a token: its private half is written here (0600).
        #[arg(long)]
        key_out: Option<PathBuf>,
    },
    /// Print the identities: kind, routes, sources, tokens and keys, revoked or not.
    List {
        #[arg(long)]
        file: PathBuf,
    },
    /// A new token (or with --key-out, signing key) for NAME; the old ones keep working for
    /// --overlap-secs.
    Rotate {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 3600)]
        overlap_secs: i64,
        #[arg(long)]
        key_out: Option<PathBuf>,
    },
    /// Refuse every credential of NAME from now on (officer tokens for that name included).
    Revoke {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        name: String,
    },
    /// At a control room: make the key that signs officer tokens (private half to --key-out,
    /// 0600); its public half goes into each post's credentials file with `trust-issuer`.
    IssuerKey {
        #[arg(long)]
        key_out: PathBuf,
    },
    /// At a post: take officer tokens signed by this control room's issuer key.
    TrustIssuer {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        name: String,
        /// The issuer's public key (hex), as `issuer-key` printed it.
        #[arg(long)]
        public_key: String,
    },
    /// At a control room: a short-lived token for an officer, checked at the post against
    /// the issuer's public key even while the post is cut off.
    Officer {
        #[arg(long)]
        issuer_key: PathBuf,
        /// The officer's account name.
        #[arg(long)]
        name: String,
        #[arg(long)]
        site: String,
        /// The lanes the officer works at, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        lanes: Vec<String>,
        #[arg(long, default_value_t = 12.0)]
        hours: f64,
    },
}

pub fn run(cmd: CredentialsCmd) -> Result<(), String> {
    let now = Utc::now();
    match cmd {
        CredentialsCmd::Issue { file, name, kind, routes, sources, key_out } => {
            let mut f = load_or_new(&file)?;
            let identity = Identity::new(&name, kind, routes, sources);
            match key_out {
                None => {
                    let token = f.issue(identity, now)?;
                    f.save(&file)?;
                    eprintln!("issued {name:?}; its token, shown once:");
                    println!("{token}");
                }
                Some(out) => {
                    let seed = f.issue_key(identity, now)?;
                    credentials::write_secret(&out, &seed)?;
                    f.save(&file)?;
                    println!("issued {name:?}: its signing key is in {}", out.display());
                }
            }
        }
        CredentialsCmd::List { file } => {
            let f = CredentialFile::load(&file)?;
            for i in &f.identities {
                println!("{i}");
            }
            for is in &f.issuers {
                println!("issuer {} (officer tokens), key {}…", is.name, &is.ed25519[..12]);
            }
        }
        CredentialsCmd::Rotate { file, name, overlap_secs, key_out } => {
            if overlap_secs < 0 {
                return Err(format!("--overlap-secs: {overlap_secs} is negative"));
            }
            let (mut f, overlap) = (CredentialFile::load(&file)?, chrono::Duration::seconds(overlap_secs));
            let token = match &key_out {
                Some(out) => credentials::write_secret(out, &f.rotate_key(&name, overlap, now)?).map(|()| None)?,
                None => Some(f.rotate(&name, overlap, now)?),
            };
            f.save(&file)?;
            eprintln!("rotated {name:?}: the old credential works for {overlap_secs} s more");
            token.into_iter().for_each(|t| println!("{t}"));
        }
        CredentialsCmd::Revoke { file, name } => {
            let mut f = CredentialFile::load(&file)?;
            f.revoke(&name, now)?;
            f.save(&file)?;
            println!("revoked {name:?} at {}", now.to_rfc3339());
        }
        CredentialsCmd::IssuerKey { key_out } => {
            let (seed, public) = credentials::new_signing_key()?;
            credentials::write_secret(&key_out, &seed)?;
            println!("{public}");
        }
        CredentialsCmd::TrustIssuer { file, name, public_key } => {
            let mut f = load_or_new(&file)?;
            f.trust(&name, &public_key)?;
            f.save(&file)?;
        }
        CredentialsCmd::Officer { issuer_key, name, site, lanes, hours } => {
            if !(hours > 0.0 && hours <= 24.0) {
                return Err(format!("--hours: {hours} is not in (0, 24]: officer tokens are short-lived"));
            }
            let seed = std::fs::read_to_string(&issuer_key).map_err(|e| format!("{}: {e}", issuer_key.display()))?;
            let key = credentials::signing_key(&seed).map_err(|e| format!("{}: {e}", issuer_key.display()))?;
            let expires = now + chrono::Duration::seconds((hours * 3600.0) as i64);
            let claims = OfficerClaims { officer: name, site, lanes, issued: now, expires };
            println!("{}", credentials::officer_token(&claims, &key));
        }
    }
    Ok(())
}

fn load_or_new(file: &Path) -> Result<CredentialFile, String> {
    if file.exists() { CredentialFile::load(file) } else { Ok(CredentialFile::default()) }
}
