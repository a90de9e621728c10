use super::*;

const ROUTER_TOML: &str = include_str!("../../../configs/router.toml");

fn tls_bus(dir: &Path) -> BusConfig {
    BusConfig {
        mode: "router".into(),
        listen: vec!["tls/127.0.0.1:7447".into()],
        tls: Some(TlsConfig {
            root_ca: dir.join("ca.pem"),
            certificate: Some(dir.join("node.pem")),
            private_key: Some(dir.join("node.key")),
            mtls: true,
        }),
        ..Default::default()
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qv-bus-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_router_example_parses_and_zenoh_accepts_its_access_rules() {
    let bus = BusConfig::parse_file(ROUTER_TOML, "configs/router.toml").unwrap();
    // The example's certificate paths exist only on a deployed router.
    bus.check_shape().unwrap();
    assert_eq!(bus.mode, "router");
    let tls = bus.tls.as_ref().unwrap();
    assert!(tls.mtls);
    let access = bus.access.as_ref().unwrap();
    assert!(access.allow.iter().any(|r| r.cert_common_names == ["integrator"]));
    // zenoh parses the section into its own AclConfig here (unknown fields, empty
    // lists and bad enum values are refused).
    let mut c = zenoh::Config::default();
    c.insert_json5("access_control", &access.to_zenoh_json().to_string()).unwrap();
    assert!(c.insert_json5("access_control", r#"{"enabled": true, "rules": [{"id": "x"}]}"#).is_err());
    // The config hash serialises the whole section.
    assert!(toml::to_string(&bus).unwrap().contains("cert_common_names"));
}

#[test]
fn tls_files_are_checked_and_named_in_the_error() {
    let dir = temp_dir("files");
    let bus = tls_bus(&dir);
    let err = bus.validate().unwrap_err();
    assert!(err.starts_with("tls.root_ca: ") && err.contains("ca.pem"), "{err}");
    std::fs::write(dir.join("ca.pem"), "-----BEGIN CERTIFICATE-----\n").unwrap();
    std::fs::write(dir.join("node.pem"), "not pem").unwrap();
    let err = bus.validate().unwrap_err();
    assert!(err.contains("tls.certificate: ") && err.contains("node.pem") && err.contains("not a PEM"), "{err}");
    std::fs::write(dir.join("node.pem"), "-----BEGIN CERTIFICATE-----\n").unwrap();
    std::fs::write(dir.join("node.key"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
    bus.validate().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_endpoints_need_a_tls_section_and_a_certificate_to_listen() {
    let bus = BusConfig { listen: vec!["tls/127.0.0.1:7447".into()], ..Default::default() };
    assert!(bus.validate().unwrap_err().starts_with("tls: "));
    let mut bus = tls_bus(Path::new("/nonexistent"));
    bus.tls.as_mut().unwrap().certificate = None;
    assert!(bus.check_shape().unwrap_err().starts_with("tls.certificate: needed to listen"));
    // A client without mTLS needs only the CA.
    let client = BusConfig {
        mode: "client".into(),
        connect: vec!["tls/127.0.0.1:7447".into()],
        tls: Some(TlsConfig { root_ca: "/x/ca.pem".into(), certificate: None, private_key: None, mtls: false }),
        ..Default::default()
    };
    client.check_shape().unwrap();
    let mtls_client = BusConfig { tls: Some(TlsConfig { mtls: true, ..client.tls.clone().unwrap() }), ..client };
    assert!(mtls_client.check_shape().unwrap_err().contains("tls.mtls"));
}

#[test]
fn bad_access_rules_name_the_field() {
    let text = |rule: &str| format!("[bus]\n[[bus.access.allow]]\n{rule}\n");
    let good = "cert_common_names = [\"a\"]\nmessages = [\"put\"]\nkey_exprs = [\"qv/**\"]";
    let bus = BusConfig::parse_file(&text(good), "t").unwrap();
    bus.validate().unwrap();
    assert_eq!(bus.access.unwrap().allow[0].flows, both_flows());

    let err = BusConfig::parse_file(&text(&good.replace("\"put\"", "\"pub\"")), "t").unwrap_err();
    assert!(err.contains("pub") && err.contains("declare_subscriber"), "{err}");
    let bus = BusConfig::parse_file(&text(&good.replace("qv/**", "qv//x")), "t").unwrap();
    assert!(bus.validate().unwrap_err().starts_with("access.allow[0].key_exprs: \"qv//x\""));
    let bus = BusConfig::parse_file(&text(&good.replace("[\"a\"]", "[]")), "t").unwrap();
    assert!(bus.validate().unwrap_err().starts_with("access.allow[0].cert_common_names"));
    let err = BusConfig::parse_file(&text(&format!("{good}\nflow = [\"egress\"]")), "t").unwrap_err();
    assert!(err.contains("flow"), "{err}");
}

#[test]
fn plain_tcp_is_refused_off_loopback_and_tls_or_loopback_is_taken() {
    let with = |field: &str, ep: &str| {
        let mut bus = BusConfig::default();
        if field == "listen" { &mut bus.listen } else { &mut bus.connect }.push(ep.into());
        bus.check_shape()
    };
    for field in ["listen", "connect"] {
        for ep in [
            "tcp/0.0.0.0:7447",
            "tcp/10.0.0.5:7447",
            "tcp/[::]:7447",
            "tcp/router.post-1:7447",
            "tcp/127.0.0.1.example.org:7447",
        ] {
            let err = with(field, ep).unwrap_err();
            assert!(err.starts_with(&format!("{field}: {ep:?}: plain tcp/ is for this machine only")), "{err}");
        }
        for ep in ["tcp/127.0.0.1:7447", "tcp/127.1.2.3:7447", "tcp/[::1]:7447", "tcp/localhost:7447"] {
            with(field, ep).unwrap_or_else(|e| panic!("{ep}: {e}"));
        }
        let err = with(field, "udp/127.0.0.1:7447").unwrap_err();
        assert!(err.contains("protocol \"udp\" is not one of tcp (loopback), tls"), "{err}");
    }
    // Off loopback, tls/ is the way (its files are checked by `validate`).
    let mut bus = tls_bus(Path::new("/nonexistent"));
    bus.listen = vec!["tls/0.0.0.0:7447".into()];
    bus.check_shape().unwrap();
}
