//! X-ray scan intake: a scan is a low/high energy image pair plus its metadata (post, lane,
//! scanner, energies, pixel size, vehicle plate / container / declaration). Scanners drop
//! them in a watched folder, or integrators upload them over HTTP; both routes end in a
//! [`ScanInput`] of raw bytes. Decoding, and the header checks that refuse bombs and
//! absurd sizes before decoding, belong to the X-ray operator; this module only gathers
//! the files, checks the metadata and bounds what it reads.
//!
//! Folder layout, per scan: `{id}.json` (metadata), and the two images it names
//! (default `{id}_low.png` / `{id}_high.png`). The metadata file is the commit point:
//! scanners write the images first and the `.json` last (or rename it into place), so a
//! scan is taken only once it is whole. Taken scans move to `done/`, refused ones to
//! `rejected/` with a `{id}.reason.txt` beside them.
//!
//! The folder is a door like the HTTP routes: only the node's user and the drop owner (the
//! user the scanner's export runs as) may own it, nobody else may write in it, and a scan
//! is taken only from regular files the drop owner owns (never through a symbolic link).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};

/// Any one file of a scan larger than this is refused without reading it.
pub const MAX_FILE_BYTES: u64 = 512 << 20;
/// Metadata larger than this is refused.
pub const MAX_META_BYTES: u64 = 64 << 10;
/// How far a scan's `event_ts` may run ahead of the node's clock: scanner workstations keep
/// NTP time, so more is a wrong clock or a forged scan, and a scan from the future would
/// count for a vehicle passage not yet open.
pub const MAX_FUTURE_SECS: i64 = 5;

/// kV (baggage, parcels) or MeV (cargo, vehicles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScannerType {
    Kv,
    Mev,
}

impl ScannerType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScannerType::Kv => "kv",
            ScannerType::Mev => "mev",
        }
    }
}

/// Who and what a scan is about, as the scanner's sidecar states it (untrusted until
/// [`ScanMeta::parse`] and the X-ray operator's scanner check).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanMeta {
    /// Unique per scan at its post; names the files and the alerts' episode.
    #[serde(default)]
    pub scan_id: String,
    /// When the vehicle or bag went through; at most [`MAX_FUTURE_SECS`] ahead of the node's
    /// clock. Absent (the epoch): the lane dates the scan at its receipt.
    #[serde(default)]
    pub event_ts: DateTime<Utc>,
    pub post: String,
    pub lane: String,
    /// Must name a configured `[[xray.scanners]]` entry.
    pub scanner_id: String,
    /// If given, must be the configured scanner's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanner_type: Option<ScannerType>,
    /// Low and high effective energies, keV; if given, must be the configured ones (±1 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energies_kev: Option<[f64; 2]>,
    /// Pixel size, mm; overrides the scanner's (belt or drive speed varies per scan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_size_mm: Option<f64>,
    /// Bits per sample the sender says its images have (8 or 16).
    pub bit_depth: u8,
    /// Raw value of unattenuated air in this scan; the scanner's air level if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i0: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration_id: Option<String>,
    /// File names of the images in the drop folder; default `{scan_id}_low.png` etc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_file: Option<String>,
}

/// Why a scan was not taken in; `reason()` is the metrics label.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntakeError {
    #[error("{file}: {message}")]
    Meta { file: String, message: String },
    #[error("{file}: {bytes} bytes, over the {limit}-byte limit")]
    TooLarge { file: String, bytes: u64, limit: u64 },
    #[error("{file}: {message}")]
    Io { file: String, message: String },
    #[error(
        "{file}: event_ts: {ts} is {ahead_secs} s ahead of this node's clock (at most {MAX_FUTURE_SECS} s allowed)"
    )]
    Future { file: String, ts: DateTime<Utc>, ahead_secs: i64 },
    /// A drop-folder file that is not a regular file of the drop owner (another uid, a
    /// symbolic link, a pipe…).
    #[error("{file}: {message}")]
    Owner { file: String, message: String },
}

impl IntakeError {
    pub fn reason(&self) -> &'static str {
        match self {
            IntakeError::Meta { .. } => "metadata",
            IntakeError::TooLarge { .. } => "too_large",
            IntakeError::Io { .. } => "io",
            IntakeError::Future { .. } => "future",
            IntakeError::Owner { .. } => "owner",
        }
    }
}

impl ScanMeta {
    /// Parses and checks metadata against the node's clock now; `file` names it in errors.
    pub fn parse(bytes: &[u8], file: &str) -> Result<ScanMeta, IntakeError> {
        Self::parse_at(bytes, file, Utc::now())
    }

    /// [`ScanMeta::parse`] at node time `now`.
    pub fn parse_at(bytes: &[u8], file: &str, now: DateTime<Utc>) -> Result<ScanMeta, IntakeError> {
        let bad = |message: String| IntakeError::Meta { file: file.into(), message };
        let m: ScanMeta = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let chunk = |s: &str| s.len() <= 128 && crate::keys::is_segment(s);
        for (field, v) in [("scan_id", &m.scan_id), ("post", &m.post), ("lane", &m.lane), ("scanner_id", &m.scanner_id)]
        {
            if !chunk(v) {
                return Err(bad(format!("{field}: {v:?} must be 1–128 letters, digits, '_', '.', '-'")));
            }
        }
        if !matches!(m.bit_depth, 8 | 16) {
            return Err(bad(format!("bit_depth: {} is not 8 or 16", m.bit_depth)));
        }
        if let Some([lo, hi]) = m.energies_kev
            && !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi > lo)
        {
            return Err(bad(format!("energies_kev: [{lo}, {hi}] must be two positive numbers, low < high")));
        }
        if let Some(p) = m.pixel_size_mm.filter(|p| !(p.is_finite() && *p > 0.0 && *p <= 100.0)) {
            return Err(bad(format!("pixel_size_mm: {p} is not in (0, 100]")));
        }
        for (field, f) in [("low_file", &m.low_file), ("high_file", &m.high_file)] {
            if let Some(f) = f.as_deref().filter(|f| f.contains(['/', '\\']) || f.starts_with('.')) {
                return Err(bad(format!("{field}: {f:?} must be a plain file name in the scan's folder")));
            }
        }
        let ahead = (m.event_ts - now).num_seconds();
        if ahead > MAX_FUTURE_SECS {
            return Err(IntakeError::Future { file: file.into(), ts: m.event_ts, ahead_secs: ahead });
        }
        Ok(m)
    }

    pub fn low_file(&self) -> String {
        self.low_file.clone().unwrap_or_else(|| format!("{}_low.png", self.scan_id))
    }

    pub fn high_file(&self) -> String {
        self.high_file.clone().unwrap_or_else(|| format!("{}_high.png", self.scan_id))
    }
}

/// One scan as taken in: metadata and the two files' bytes, not yet decoded.
#[derive(Debug, Clone)]
pub struct ScanInput {
    pub meta: ScanMeta,
    pub low: Vec<u8>,
    pub high: Vec<u8>,
}

/// This node's user (its effective uid): the default drop owner.
pub fn node_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// `[xray_lane] drop_owner`: the user the scanner's export runs as, a uid or a user name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum DropOwner {
    Uid(u32),
    Name(String),
}

impl DropOwner {
    /// The uid; a name is looked up in the host's user database (`getpwnam_r`).
    pub fn uid(&self) -> Result<u32, String> {
        let name = match self {
            DropOwner::Uid(uid) => return Ok(*uid),
            DropOwner::Name(n) => n,
        };
        if let Ok(uid) = name.parse() {
            return Ok(uid);
        }
        let c = CString::new(name.as_str()).map_err(|_| format!("{name:?} is not a user name"))?;
        // SAFETY: passwd is plain data; getpwnam_r writes it and its strings into `buf`, and
        // `found` is null or points at `pwd`.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut buf = vec![0 as libc::c_char; 16 << 10];
        let mut found = std::ptr::null_mut();
        let rc = unsafe { libc::getpwnam_r(c.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
        if rc != 0 {
            return Err(format!("looking up user {name:?}: {}", std::io::Error::from_raw_os_error(rc)));
        }
        if found.is_null() {
            return Err(format!("{name:?}: no such user on this host (give a user name or a uid)"));
        }
        Ok(pwd.pw_uid)
    }
}

/// Reads a drop-folder file of `owner`, refusing it unread when larger than `limit`. Opened
/// without following a link, then checked on the open file, so what is checked is what is
/// read: a link could make the node read a file it may read but the writer may not.
fn read_owned(path: &Path, limit: u64, owner: u32) -> Result<Vec<u8>, IntakeError> {
    let file = path.display().to_string();
    let io = |e: std::io::Error| IntakeError::Io { file: file.clone(), message: e.to_string() };
    let refuse = |message: String| IntakeError::Owner { file: file.clone(), message };
    // O_NONBLOCK: opening a named pipe must not wait for a writer.
    let f =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path).map_err(
            |e| match e.raw_os_error() {
                Some(libc::ELOOP) => refuse("is a symbolic link; the drop folder takes regular files only".into()),
                _ => io(e),
            },
        )?;
    let m = f.metadata().map_err(io)?;
    if !m.is_file() {
        return Err(refuse("is not a regular file".into()));
    }
    if m.uid() != owner {
        return Err(refuse(format!(
            "owned by uid {}, not the drop owner (uid {owner}, xray_lane.drop_owner)",
            m.uid()
        )));
    }
    if m.len() > limit {
        return Err(IntakeError::TooLarge { file, bytes: m.len(), limit });
    }
    let mut bytes = Vec::with_capacity(m.len() as usize);
    (&f).take(limit).read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// A scanner's drop folder, with `done/` and `rejected/` held open from the start: scans are
/// moved into these very folders, so a `done/` later swapped for a link moves nothing
/// elsewhere.
pub struct ScanFolder {
    dir: PathBuf,
    /// The uid every scan file must belong to.
    owner: u32,
    done: File,
    rejected: File,
}

/// What one look at the folder found: scans to analyse and scans refused (already moved
/// to `rejected/` with their reason).
#[derive(Debug, Default)]
pub struct Found {
    pub scans: Vec<ScanInput>,
    pub refused: Vec<(String, IntakeError)>,
}

impl ScanFolder {
    /// Opens (creating, mode 0750) the drop folder whose scans `owner` writes. Refused: a
    /// folder (or its `done/`, `rejected/`) owned by another than this node's user or
    /// `owner`, writable by group or others, or one this node cannot move scans out of.
    pub fn new(dir: &Path, owner: u32) -> Result<Self, String> {
        let node = node_uid();
        let open = |sub: &str| -> Result<File, String> {
            let d = if sub.is_empty() { dir.to_path_buf() } else { dir.join(sub) };
            let at = |e: std::io::Error| format!("{}: {e}", d.display());
            if std::fs::symlink_metadata(&d).is_err() {
                std::fs::DirBuilder::new().recursive(true).mode(0o750).create(&d).map_err(at)?;
                // Explicitly: the umask may have let more through.
                std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o750)).map_err(at)?;
            }
            // The folder itself may be reached through a link its operator made; `done/` and
            // `rejected/` are the node's own and must be real folders.
            let nofollow = if sub.is_empty() { 0 } else { libc::O_NOFOLLOW };
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | nofollow)
                .open(&d)
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::ELOOP | libc::ENOTDIR) => {
                        format!("{}: is not a folder (a link or a file); remove it and this node makes it", d.display())
                    }
                    _ => at(e),
                })?;
            let m = f.metadata().map_err(at)?;
            let (mode, uid) = (m.mode() & 0o7777, m.uid());
            let what = format!("{} (mode {mode:04o}, owner uid {uid})", d.display());
            if uid != node && uid != owner {
                return Err(format!(
                    "{what}: owned by neither this node's user (uid {node}) nor the drop owner (uid {owner}, \
                     xray_lane.drop_owner); fix: chown {node} {}",
                    d.display()
                ));
            }
            if mode & 0o022 != 0 {
                return Err(format!(
                    "{what}: writable by group or others, so anyone on this host could drop a scan; fix: chmod 0750 {}",
                    d.display()
                ));
            }
            let c = CString::new(d.as_os_str().as_bytes()).map_err(|_| format!("{}: bad path", d.display()))?;
            // SAFETY: `c` is a valid C string. Scans are moved out by renaming, which needs
            // write access; without it every scan would be taken again at each look.
            if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
                return Err(format!(
                    "{what}: this node's user (uid {node}) cannot write in it to move scans to done/ and \
                     rejected/; fix: chown {node} {}, and run the scanner's export as this node's user",
                    d.display()
                ));
            }
            Ok(f)
        };
        let _ = open("")?;
        Ok(Self { dir: dir.to_path_buf(), owner, done: open("done")?, rejected: open("rejected")? })
    }

    /// Takes every complete scan (its `.json` present) in name order. Each is moved out of
    /// the folder, so a scan is taken once even across restarts.
    pub fn take(&self) -> Found {
        let mut found = Found::default();
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return found };
        // Links and pipes too (not following them): they are refused, not left lying.
        let mut metas: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        metas.sort();
        for meta_path in metas {
            let stem = meta_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            match self.read_one(&meta_path) {
                Ok(scan) => {
                    self.park(&meta_path, &[scan.meta.low_file(), scan.meta.high_file()], true, None);
                    found.scans.push(scan);
                }
                Err((files, e)) => {
                    self.park(&meta_path, &files, false, Some(&e.to_string()));
                    found.refused.push((stem, e));
                }
            }
        }
        found
    }

    fn read_one(&self, meta_path: &Path) -> Result<ScanInput, (Vec<String>, IntakeError)> {
        let name = meta_path.display().to_string();
        let bytes = read_owned(meta_path, MAX_META_BYTES, self.owner).map_err(|e| (vec![], e))?;
        let meta = ScanMeta::parse(&bytes, &name).map_err(|e| (vec![], e))?;
        let files = vec![meta.low_file(), meta.high_file()];
        let read =
            |f: String| read_owned(&self.dir.join(f), MAX_FILE_BYTES, self.owner).map_err(|e| (files.clone(), e));
        let (low, high) = (read(meta.low_file())?, read(meta.high_file())?);
        Ok(ScanInput { meta, low, high })
    }

    /// Moves the metadata and its images into `done/` or `rejected/` (with the reason beside
    /// them). Links are moved as links, never followed.
    fn park(&self, meta_path: &Path, files: &[String], done: bool, reason: Option<&str>) {
        let (to, sub) = if done { (&self.done, "done") } else { (&self.rejected, "rejected") };
        let stem = meta_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        for f in files.iter().map(|f| self.dir.join(f)).chain([meta_path.to_path_buf()]) {
            if let Some(n) = f.file_name().filter(|_| std::fs::symlink_metadata(&f).is_ok())
                && let Err(e) = move_into(&f, to, n)
            {
                tracing::warn!("scan folder: moving {} to {sub}/: {e}", f.display());
            }
        }
        if let Some(r) = reason
            && let Err(e) = write_in(to, &format!("{stem}.reason.txt"), format!("{r}\n").as_bytes())
        {
            tracing::warn!("scan folder: writing {sub}/{stem}.reason.txt: {e}");
        }
    }
}

fn c_string(s: &OsStr) -> std::io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

/// Renames `from` to `name` inside the open folder `dir`.
fn move_into(from: &Path, dir: &File, name: &OsStr) -> std::io::Result<()> {
    let (from, name) = (c_string(from.as_os_str())?, c_string(name)?);
    // SAFETY: both are valid C strings and `dir` is an open folder.
    let rc = unsafe { libc::renameat(libc::AT_FDCWD, from.as_ptr(), dir.as_raw_fd(), name.as_ptr()) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Writes `name` inside the open folder `dir`, never through a link planted there.
fn write_in(dir: &File, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let name = c_string(OsStr::new(name))?;
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a valid C string, an open folder; the returned descriptor is owned by the File.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, 0o640 as libc::c_uint) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    unsafe { File::from_raw_fd(fd) }.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str) -> serde_json::Value {
        serde_json::json!({"scan_id": id, "event_ts": "2026-11-22T10:00:00Z", "post": "yallama", "lane": "cargo-1",
            "scanner_id": "linac-1", "scanner_type": "mev", "bit_depth": 16, "energies_kev": [2000.0, 3500.0], "pixel_size_mm": 5.0,
            "container": "MSCU1234565"})
    }

    #[test]
    fn metadata_errors_name_the_field() {
        let bad = |v: serde_json::Value| ScanMeta::parse(v.to_string().as_bytes(), "s.json").unwrap_err().to_string();
        let mut m = meta("s1");
        m["energies_kev"] = serde_json::json!([6.0, 4.0]);
        assert!(bad(m).starts_with("s.json: energies_kev:"));
        let mut m = meta("s1");
        m["bit_depth"] = 12.into();
        assert!(bad(m).contains("bit_depth: 12"));
        let mut m = meta("../etc");
        m["low_file"] = "../../x.png".into();
        assert!(bad(m).contains("scan_id"));
        let mut m = meta("s1");
        m["low_file"] = "../../x.png".into();
        assert!(bad(m).contains("low_file"));
        let mut m = meta("s1");
        m["scanner_type"] = "ct".into();
        assert!(bad(m).contains("unknown variant"));
        assert!(ScanMeta::parse(meta("s1").to_string().as_bytes(), "s.json").is_ok());
    }

    /// A scan stamped ahead of the node's clock by more than [`MAX_FUTURE_SECS`] is refused
    /// naming `event_ts`; within it, or from the past, it is taken.
    #[test]
    fn a_scan_from_the_future_is_refused_naming_event_ts() {
        let now: DateTime<Utc> = "2026-11-22T10:00:00Z".parse().unwrap();
        let at = |ts: &str| {
            let mut m = meta("s1");
            m["event_ts"] = ts.into();
            ScanMeta::parse_at(m.to_string().as_bytes(), "s.json", now)
        };
        let e = at("2026-11-22T10:00:06Z").unwrap_err();
        assert_eq!(e.reason(), "future");
        assert_eq!(
            e.to_string(),
            "s.json: event_ts: 2026-11-22 10:00:06 UTC is 6 s ahead of this node's clock (at most 5 s allowed)"
        );
        assert!(at("2100-01-01T00:00:00Z").unwrap_err().to_string().starts_with("s.json: event_ts: 2100-01-01"));
        for ok in ["2026-11-22T10:00:05Z", "2026-11-22T09:59:00Z"] {
            assert_eq!(at(ok).unwrap().event_ts, ok.parse::<DateTime<Utc>>().unwrap(), "{ok}");
        }
        // The wall-clock entry point (both intake routes) applies the same bound.
        let mut m = meta("s1");
        m["event_ts"] = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339().into();
        assert!(ScanMeta::parse(m.to_string().as_bytes(), "s.json").unwrap_err().to_string().contains("event_ts"));
    }

    #[test]
    fn complete_scans_are_taken_once_and_bad_ones_parked_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("qv-scans-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let folder = ScanFolder::new(&dir, node_uid()).unwrap();
        // a: whole; b: images but no metadata yet (still being written); c: metadata names
        // a missing image; d: metadata that is not JSON.
        for (f, body) in [("a_low.png", "L"), ("a_high.png", "H"), ("b_low.png", "L"), ("b_high.png", "H")] {
            std::fs::write(dir.join(f), body).unwrap();
        }
        std::fs::write(dir.join("a.json"), meta("a").to_string()).unwrap();
        std::fs::write(dir.join("c.json"), meta("c").to_string()).unwrap();
        std::fs::write(dir.join("d.json"), "{not json").unwrap();
        let found = folder.take();
        assert_eq!(found.scans.len(), 1);
        assert_eq!((found.scans[0].meta.scan_id.as_str(), found.scans[0].low.as_slice()), ("a", b"L".as_slice()));
        let refused: Vec<(&str, &str)> = found.refused.iter().map(|(s, e)| (s.as_str(), e.reason())).collect();
        assert_eq!(refused, [("c", "io"), ("d", "metadata")]);
        assert!(dir.join("done/a.json").exists() && dir.join("done/a_high.png").exists());
        assert!(std::fs::read_to_string(dir.join("rejected/c.reason.txt")).unwrap().contains("c_low.png"));
        assert!(dir.join("b_low.png").exists(), "an incomplete scan waits");
        assert!(folder.take().scans.is_empty(), "nothing is taken twice");
        std::fs::write(dir.join("b.json"), meta("b").to_string()).unwrap();
        assert_eq!(folder.take().scans[0].meta.scan_id, "b");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("qv-scans-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn drop_scan(dir: &Path, id: &str) {
        std::fs::write(dir.join(format!("{id}_low.png")), "L").unwrap();
        std::fs::write(dir.join(format!("{id}_high.png")), "H").unwrap();
        std::fs::write(dir.join(format!("{id}.json")), meta(id).to_string()).unwrap();
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o7777
    }

    /// A folder anyone may write in is refused at start, naming its mode and the fix; the
    /// same folder at 0750 (or an older one at 0755) is opened and its scans taken. A folder
    /// the node makes is 0750 whatever the umask.
    #[test]
    fn a_drop_folder_writable_by_others_is_refused_at_start_naming_its_mode() {
        let dir = scratch("mode");
        ScanFolder::new(&dir, node_uid()).unwrap();
        for d in [dir.clone(), dir.join("done"), dir.join("rejected")] {
            assert_eq!(mode(&d), 0o750, "{}", d.display());
        }
        let set = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        set(&dir, 0o777);
        let e = ScanFolder::new(&dir, node_uid()).err().unwrap();
        let d = dir.display();
        assert_eq!(
            e,
            format!(
                "{d} (mode 0777, owner uid {}): writable by group or others, so anyone on this host could \
                 drop a scan; fix: chmod 0750 {d}",
                node_uid()
            )
        );
        set(&dir, 0o750);
        set(&dir.join("rejected"), 0o770);
        assert!(ScanFolder::new(&dir, node_uid()).err().unwrap().contains("rejected (mode 0770"));
        set(&dir.join("rejected"), 0o750);
        for m in [0o750, 0o755] {
            set(&dir, m);
            let folder = ScanFolder::new(&dir, node_uid()).unwrap();
            drop_scan(&dir, &format!("s{m:o}"));
            assert_eq!(folder.take().scans[0].meta.scan_id, format!("s{m:o}"));
            assert_eq!(mode(&dir), m, "an existing folder's mode is the operator's");
        }
        // `done/` swapped for a link is refused.
        std::fs::remove_dir_all(dir.join("done")).unwrap();
        std::os::unix::fs::symlink(std::env::temp_dir(), dir.join("done")).unwrap();
        assert!(ScanFolder::new(&dir, node_uid()).err().unwrap().contains("done: is not a folder"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// An image reached through a symbolic link (here to a file only the node should read),
    /// or metadata that is a link, is refused as `owner` and parked as the link itself; the
    /// regular scan beside them is taken.
    #[test]
    fn a_symlinked_scan_file_is_refused_and_a_regular_one_taken() {
        let dir = scratch("link");
        let folder = ScanFolder::new(&dir, node_uid()).unwrap();
        let secret = scratch("link-secret");
        std::fs::write(&secret, "node's secret").unwrap();
        drop_scan(&dir, "a");
        drop_scan(&dir, "b");
        std::fs::remove_file(dir.join("b_high.png")).unwrap();
        std::os::unix::fs::symlink(&secret, dir.join("b_high.png")).unwrap();
        std::fs::write(dir.join("c_low.png"), "L").unwrap();
        std::fs::write(dir.join("c_high.png"), "H").unwrap();
        let c_meta = scratch("link-c.json");
        std::fs::write(&c_meta, meta("c").to_string()).unwrap();
        std::os::unix::fs::symlink(&c_meta, dir.join("c.json")).unwrap();
        let found = folder.take();
        assert_eq!(found.scans.len(), 1);
        assert_eq!(found.scans[0].meta.scan_id, "a");
        let refused: Vec<(&str, &str)> = found.refused.iter().map(|(s, e)| (s.as_str(), e.reason())).collect();
        assert_eq!(refused, [("b", "owner"), ("c", "owner")]);
        assert!(
            found.refused[0]
                .1
                .to_string()
                .ends_with("b_high.png: is a symbolic link; the drop folder takes regular files only")
        );
        assert!(std::fs::symlink_metadata(dir.join("rejected/b_high.png")).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "node's secret", "the link's target stays");
        assert!(std::fs::read_to_string(dir.join("rejected/c.reason.txt")).unwrap().contains("symbolic link"));
        assert!(dir.join("done/a_low.png").exists());
        for p in [&dir, &secret, &c_meta] {
            let _ = std::fs::remove_dir_all(p);
            let _ = std::fs::remove_file(p);
        }
    }

    /// Files owned by another uid than the drop owner are refused as `owner`; the drop
    /// owner's are taken. And a folder owned by neither the node nor the drop owner is
    /// refused at start, unless that uid is the drop owner. Changing owners needs root.
    #[test]
    fn a_scan_of_another_uid_is_refused_and_the_drop_owners_taken() {
        const NOBODY: u32 = 65534;
        if node_uid() != 0 {
            eprintln!("skipped: giving a file to another uid needs root");
            return;
        }
        let dir = scratch("owner");
        let folder = ScanFolder::new(&dir, node_uid()).unwrap();
        drop_scan(&dir, "mine");
        drop_scan(&dir, "theirs");
        std::os::unix::fs::chown(dir.join("theirs_low.png"), Some(NOBODY), None).unwrap();
        let found = folder.take();
        assert_eq!(found.scans.len(), 1);
        assert_eq!(found.scans[0].meta.scan_id, "mine");
        let (id, e) = &found.refused[0];
        assert_eq!((id.as_str(), e.reason()), ("theirs", "owner"));
        assert!(
            e.to_string().ends_with(&format!(
                "theirs_low.png: owned by uid {NOBODY}, not the drop owner (uid 0, xray_lane.drop_owner)"
            )),
            "{e}"
        );
        // A folder of a third uid is refused; the drop owner's own scan, in a folder the drop
        // owner owns, is taken.
        std::os::unix::fs::chown(&dir, Some(NOBODY), None).unwrap();
        let e = ScanFolder::new(&dir, 1234).err().unwrap();
        assert!(e.contains("owned by neither this node's user (uid 0) nor the drop owner (uid 1234"), "{e}");
        let folder = ScanFolder::new(&dir, NOBODY).unwrap();
        drop_scan(&dir, "scanner");
        for f in ["scanner.json", "scanner_low.png", "scanner_high.png"] {
            std::os::unix::fs::chown(dir.join(f), Some(NOBODY), None).unwrap();
        }
        assert_eq!(folder.take().scans[0].meta.scan_id, "scanner");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_drop_owner_is_a_uid_or_a_user_name() {
        assert_eq!(DropOwner::Uid(1001).uid(), Ok(1001));
        assert_eq!(DropOwner::Name("1001".into()).uid(), Ok(1001));
        assert_eq!(DropOwner::Name("root".into()).uid(), Ok(0));
        let e = DropOwner::Name("no-such-user-qv".into()).uid().unwrap_err();
        assert_eq!(e, "\"no-such-user-qv\": no such user on this host (give a user name or a uid)");
        #[derive(Deserialize)]
        struct C {
            o: DropOwner,
        }
        // As `[xray_lane] drop_owner` is written in a node's config.
        let parse = |t: &str| toml::from_str::<C>(t).map(|c| c.o);
        assert_eq!(parse("o = 7").unwrap(), DropOwner::Uid(7));
        assert_eq!(parse(r#"o = "scanner""#).unwrap(), DropOwner::Name("scanner".into()));
        assert!(parse("o = -1").is_err());
    }
}
