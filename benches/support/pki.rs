//! The production transport for the benchmarks that compare it with the embedded default
//! (included by `#[path]`): a certificate authority made with the `openssl` CLI (as
//! tests/it/acl_tls.rs uses too), and a `qorovul router` child with mutual TLS and
//! `[bus.access]` rules, so the router checks every message against the rules.

use pipeline::bus::{BusConfig, TlsConfig};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A certificate authority in `dir`, issuing `{dir}/{cn}.pem` + `{dir}/{cn}.key`.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    /// A CA in `dir` (created) with a leaf for each of `cns`, plus one for the router.
    pub fn new(dir: &Path, cns: &[&str]) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        openssl(
            dir,
            &["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                &format!("/CN=qorovul-ca-{}", dir.file_name().unwrap_or_default().to_string_lossy()),
            ],
        );
        let pki = Pki { dir: dir.to_path_buf() };
        for cn in cns.iter().chain(&["router"]) {
            pki.issue(cn);
        }
        pki
    }

    /// A leaf for `cn`, valid as server and client on 127.0.0.1 / localhost.
    fn issue(&self, cn: &str) {
        let ext = self.dir.join(format!("{cn}.ext"));
        std::fs::write(
            &ext,
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        let (key, csr, pem) = (format!("{cn}.key"), format!("{cn}.csr"), format!("{cn}.pem"));
        openssl(
            &self.dir,
            &["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
            &["-keyout", &key, "-out", &csr, "-subj", &format!("/CN={cn}")],
        );
        openssl(
            &self.dir,
            &["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"],
            &["-out", &pem, "-days", "2", "-extfile", ext.to_str().unwrap()],
        );
    }

    /// `cn`'s TLS identity (mutual TLS).
    pub fn tls(&self, cn: &str) -> TlsConfig {
        TlsConfig {
            root_ca: self.dir.join("ca.pem"),
            certificate: Some(self.dir.join(format!("{cn}.pem"))),
            private_key: Some(self.dir.join(format!("{cn}.key"))),
            mtls: true,
        }
    }

    /// A client of the router at `port` presenting `cn`'s certificate.
    pub fn client(&self, cn: &str, port: u16) -> BusConfig {
        BusConfig {
            mode: "client".into(),
            connect: vec![format!("tls/127.0.0.1:{port}")],
            tls: Some(self.tls(cn)),
            ..Default::default()
        }
    }
}

fn openssl(dir: &Path, a: &[&str], b: &[&str]) {
    let out = Command::new("openssl").args(a).args(b).current_dir(dir).output().expect("running openssl");
    assert!(out.status.success(), "openssl {a:?} {b:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Every message kind an access rule can name: what the control room may send and receive.
#[allow(dead_code)] // a module of each bench that includes it; the calls and lane benches do not use it
pub const EVERY_MESSAGE: [&str; 9] = [
    "put",
    "delete",
    "declare_subscriber",
    "query",
    "declare_queryable",
    "reply",
    "liveliness_token",
    "liveliness_query",
    "declare_liveliness_subscriber",
];

/// One `[[bus.access.allow]]` rule: `cn` may send (flow `ingress`) or receive (`egress`)
/// `messages` on `keys`.
pub fn allow(cn: &str, messages: &[&str], flow: &str, keys: &[&str]) -> String {
    let list = |xs: &[&str]| xs.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(", ");
    format!(
        "[[bus.access.allow]]\ncert_common_names = [{cn:?}]\nmessages = [{}]\nflows = [{flow:?}]\nkey_exprs = [{}]\n",
        list(messages),
        list(keys)
    )
}

/// `qorovul router` with mutual TLS on 127.0.0.1:`port` and `rules` (from [`allow`]); everything
/// else is denied, as in configs/router.toml. Stopped when dropped.
pub struct Router(Child);

impl Router {
    pub fn start(pki: &Pki, port: u16, rules: &str) -> Router {
        let path = pki.dir.join("router.toml");
        std::fs::write(
            &path,
            format!(
                "[bus]\nmode = \"router\"\nlisten = [\"tls/127.0.0.1:{port}\"]\n[bus.tls]\nroot_ca = \"{}\"\n\
                 certificate = \"{}\"\nprivate_key = \"{}\"\nmtls = true\n{rules}",
                pki.dir.join("ca.pem").display(),
                pki.dir.join("router.pem").display(),
                pki.dir.join("router.key").display()
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_qorovul"))
            .args(["router", "--config", &path.display().to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting qorovul router");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("router listening on") => break,
                Some(Ok(_)) => {}
                _ => panic!("qorovul router --config {} exited before listening", path.display()),
            }
        }
        // Keep draining its stderr (so it never blocks on a full pipe) into router.log.
        let log = pki.dir.join("router.log");
        let mut log = std::fs::File::create(log).unwrap();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
            }
        });
        Router(child)
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let _ = self.0.wait();
    }
}
