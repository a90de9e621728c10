use super::*;
use chrono::Duration;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qv-cred-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn device(name: &str, routes: &[FeedKind], sources: &[&str]) -> Identity {
    Identity {
        name: name.into(),
        kind: Kind::Device,
        routes: routes.to_vec(),
        sources: sources.iter().map(|s| s.to_string()).collect(),
        tokens: vec![],
        keys: vec![],
        revoked: None,
    }
}

fn bearer(t: &str) -> Vec<u8> {
    format!("Bearer {t}").into_bytes()
}

#[test]
fn a_token_speaks_for_its_routes_and_sources_only_and_rotation_and_revocation_act_on_the_next_request() {
    let d = dir("bearer");
    let path = d.join("credentials.toml");
    let now = Utc::now();
    let mut file = CredentialFile::default();
    let mev = file.issue(device("lane1-mev", &[FeedKind::Scans], &["lane1-mev"]), now).unwrap();
    let portal = file.issue(device("rpm-gw", &[FeedKind::Telemetry], &["rpm-1-gamma", "rpm-1-occ"]), now).unwrap();
    file.save(&path).unwrap();
    // Only the hash is on disk.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&mev) && text.contains(&sha256_hex(&mev)), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

    let creds = Credentials::open(&path, "t").unwrap();
    let c = creds.bearer(Some(&bearer(&mev)), now).unwrap();
    assert_eq!((c.name.as_str(), c.kind), ("lane1-mev", Kind::Device));
    assert!(c.may_post(FeedKind::Scans).is_ok() && c.may_speak_for("meta.scanner", "lane1-mev").is_ok());
    let r = c.may_post(FeedKind::Telemetry).unwrap_err();
    assert_eq!((r.status, r.reason), (403, "route"));
    let r = c.may_speak_for("meta.scanner", "lane2-mev").unwrap_err();
    assert_eq!((r.status, r.reason), (403, "source"));
    assert!(r.note.starts_with("meta.scanner: \"lane1-mev\" may not speak for \"lane2-mev\""), "{r:?}");
    let p = creds.bearer(Some(&bearer(&portal)), now).unwrap();
    assert!(p.may_speak_for("sensor", "rpm-1-gamma").is_ok());

    for (header, reason) in [
        (None, "missing"),
        (Some(b"Basic YWRtaW46YWRtaW4=".to_vec()), "malformed"),
        (Some(bearer(&format!("{TOKEN_PREFIX}{}", "0".repeat(64)))), "unknown"),
        (Some(bearer(&sha256_hex(&mev))), "unknown"), // the stored hash is not a token
    ] {
        let r = creds.bearer(header.as_deref(), now).unwrap_err();
        assert_eq!((r.status, r.reason), (401, reason), "{r:?}");
    }

    // Rotated with an overlap: both work until it ends, then only the new one.
    let mut file = CredentialFile::load(&path).unwrap();
    let mev2 = file.rotate("lane1-mev", Duration::seconds(60), now).unwrap();
    file.save(&path).unwrap();
    assert!(creds.bearer(Some(&bearer(&mev)), now).is_ok());
    assert!(creds.bearer(Some(&bearer(&mev2)), now).is_ok());
    let later = now + Duration::seconds(61);
    assert_eq!(creds.bearer(Some(&bearer(&mev)), later).unwrap_err().reason, "expired");
    assert!(creds.bearer(Some(&bearer(&mev2)), later).is_ok());

    // Revoked: the next request is refused; the other identity is untouched.
    let mut file = CredentialFile::load(&path).unwrap();
    file.revoke("lane1-mev", now).unwrap();
    file.save(&path).unwrap();
    assert_eq!(creds.bearer(Some(&bearer(&mev2)), now).unwrap_err().reason, "revoked");
    assert!(creds.bearer(Some(&bearer(&portal)), now).is_ok());

    // A file that no longer loads refuses everything rather than forgetting a revocation.
    std::fs::write(&path, "[[identity]]\nname = 3\n").unwrap();
    assert_eq!(creds.bearer(Some(&bearer(&portal)), now).unwrap_err().status, 503);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_signed_record_is_taken_once_from_its_key_holder_and_refused_tampered_replayed_stale_or_unsigned() {
    let d = dir("signed");
    let path = d.join("credentials.toml");
    let now = Utc::now();
    let (seed, public) = new_signing_key().unwrap();
    let mut gw = device("rpm-gw", &[FeedKind::Telemetry], &["rpm-1-gamma"]);
    gw.keys.push(PublicKey { ed25519: public, issued: now, expires: None });
    let file = CredentialFile { identities: vec![gw], issuers: vec![] };
    file.save(&path).unwrap();
    let creds = Credentials::open(&path, "t").unwrap();
    let key = signing_key(&seed).unwrap();
    let (k, body) = ("qv/t/feed/telemetry/rpm-1-gamma", br#"{"sensor":"rpm-1-gamma"}"#.as_slice());

    let att = sign_record(k, body, "rpm-gw", &key, now);
    let c = creds.signed(k, body, Some(&att), now).unwrap();
    assert_eq!(c.name, "rpm-gw");
    let reason = |r: Result<Caller, Refusal>| r.unwrap_err().reason;
    assert_eq!(reason(creds.signed(k, body, Some(&att), now)), "replay");
    let fresh = sign_record(k, body, "rpm-gw", &key, now);
    assert_eq!(reason(creds.signed(k, b"{\"sensor\":\"rpm-1-gamma\",\"value\":0}", Some(&fresh), now)), "signature");
    assert_eq!(reason(creds.signed("qv/t/feed/telemetry/other", body, Some(&fresh), now)), "signature");
    assert_eq!(reason(creds.signed(k, body, None, now)), "signature");
    let old = sign_record(k, body, "rpm-gw", &key, now - Duration::seconds(SIGNED_WINDOW_SECS + 5));
    assert_eq!(reason(creds.signed(k, body, Some(&old), now)), "stale");
    let (other_seed, _) = new_signing_key().unwrap();
    let forged = sign_record(k, body, "rpm-gw", &signing_key(&other_seed).unwrap(), now);
    assert_eq!(reason(creds.signed(k, body, Some(&forged), now)), "signature");
    assert!(creds.signed(k, body, Some(&fresh), now).is_ok(), "the rightful fresh record is taken");

    // A rotated key: the old one works through the overlap, then only the new one.
    let mut file = CredentialFile::load(&path).unwrap();
    let new = signing_key(&file.rotate_key("rpm-gw", Duration::seconds(60), now).unwrap()).unwrap();
    file.save(&path).unwrap();
    let later = now + Duration::seconds(61);
    let by = |key: &SigningKey, at| creds.signed(k, body, Some(&sign_record(k, body, "rpm-gw", key, at)), at);
    assert!(by(&key, now).is_ok() && by(&new, now).is_ok());
    assert_eq!(by(&key, later).unwrap_err().reason, "signature");
    assert!(by(&new, later).is_ok());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn an_officer_token_from_the_control_room_is_checked_at_the_post_by_signature_site_expiry_and_revocation() {
    let d = dir("officer");
    let path = d.join("credentials.toml");
    let now = Utc::now();
    let (issuer_seed, issuer_public) = new_signing_key().unwrap();
    let issuer = signing_key(&issuer_seed).unwrap();
    let file = CredentialFile {
        identities: vec![],
        issuers: vec![Issuer { name: "control-room".into(), ed25519: issuer_public }],
    };
    file.save(&path).unwrap();
    let creds = Credentials::open(&path, "post1").unwrap();
    let claims = OfficerClaims {
        officer: "a.karimov".into(),
        site: "post1".into(),
        lanes: vec!["post1-cargo1".into()],
        issued: now,
        expires: now + Duration::hours(12),
    };
    let token = officer_token(&claims, &issuer);
    let c = creds.bearer(Some(&bearer(&token)), now).unwrap();
    assert_eq!((c.name.as_str(), c.kind), ("a.karimov", Kind::Person));
    assert!(c.may_post(FeedKind::Inspections).is_ok() && c.may_post(FeedKind::Declarations).is_err());
    assert!(c.may_speak_for("lane", "post1-cargo1").is_ok() && c.may_speak_for("lane", "post1-cargo2").is_err());

    let reason = |t: &str, at| creds.bearer(Some(&bearer(t)), at).unwrap_err();
    assert_eq!(reason(&token, now + Duration::hours(13)).reason, "expired");
    let other_site = officer_token(&OfficerClaims { site: "post2".into(), ..claims.clone() }, &issuer);
    assert_eq!(reason(&other_site, now).reason, "site");
    // A note is logged as well as answered: it names the officer masked, never in clear.
    for note in [
        reason(&token, now + Duration::hours(13)).note,
        reason(&other_site, now).note,
        c.may_post(FeedKind::Declarations).unwrap_err().note,
        c.may_speak_for("lane", "post1-cargo2").unwrap_err().note,
    ] {
        assert!(note.contains("\"a.*****ov\"") && !note.contains("karimov"), "{note}");
    }
    let (self_seed, _) = new_signing_key().unwrap();
    let self_signed = officer_token(&claims, &signing_key(&self_seed).unwrap());
    assert_eq!(reason(&self_signed, now).reason, "officer_token");
    // Another name written into a real token's claims breaks its signature.
    let (body, sig) = token.strip_prefix(OFFICER_TOKEN_PREFIX).unwrap().split_once('.').unwrap();
    let renamed = String::from_utf8(unhex(body).unwrap()).unwrap().replace("a.karimov", "b.supervisor");
    let tampered = format!("{OFFICER_TOKEN_PREFIX}{}.{sig}", hex(renamed.as_bytes()));
    assert_eq!(reason(&tampered, now).reason, "officer_token");

    let mut file = CredentialFile::load(&path).unwrap();
    file.identities.push(Identity { revoked: Some(now), ..device("a.karimov", &[], &[]) });
    file.save(&path).unwrap();
    assert_eq!(reason(&token, now).reason, "revoked");
    assert!(!reason(&token, now).note.contains("karimov"), "{}", reason(&token, now).note);
    std::fs::remove_dir_all(&d).unwrap();
}
