//! A feed identity for the benchmarks that put records on a node's feed keys (included by
//! `#[path]`).

use pipeline::credentials as c;

/// A credentials file in `dir` naming `name` with `routes` (any source) and a signing key;
/// records put with the returned signer pass the node's door.
pub fn feed_identity(
    dir: &std::path::Path,
    name: &str,
    routes: &[pipeline::feed::FeedKind],
) -> (std::path::PathBuf, c::Signer) {
    let identity = c::Identity::new(name, c::Kind::Integration, routes.to_vec(), vec!["*".into()]);
    let mut file = c::CredentialFile::default();
    let seed = file.issue_key(identity, chrono::Utc::now()).unwrap();
    let path = dir.join("credentials.toml");
    file.save(&path).unwrap();
    (path, c::Signer { name: name.into(), key: c::signing_key(&seed).unwrap() })
}
