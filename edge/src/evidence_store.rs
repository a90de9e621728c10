//! The evidence store at the edge: snapshot JPEGs, clips and X-ray renders, kept under
//! their sha256 ([`pipeline::evidence`] is the contract), with an index of what the control
//! room already holds. The evidence server ([`crate::evidence_server`]) serves them.
//!
//! The one idea: a file's name *is* its content hash, so storing is idempotent and a
//! reader can verify what it got. Evidence is expendable under a disk quota (replicated
//! files first, then the oldest); alerts (the outbox, another file) are not, and nothing
//! here ever touches them.

use pipeline::evidence::is_sha256_hex;
use pipeline::metrics;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Files and bytes, e.g. of evidence not yet replicated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub files: u64,
    pub bytes: u64,
}

/// Why a byte range could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// The name is not 64 lowercase hex digits.
    BadHash(String),
    /// No file with that hash is stored (never was, or evicted).
    UnknownHash(String),
    /// The offset lies past the end of the file.
    BadOffset { hash: String, offset: u64, size: u64 },
    /// The disk failed us.
    Io(String),
}

impl RangeError {
    /// The short cause, one of [`pipeline::evidence::REFUSAL_CAUSES`].
    pub fn cause(&self) -> &'static str {
        match self {
            Self::BadHash(_) => "bad_hash",
            Self::UnknownHash(_) => "unknown_hash",
            Self::BadOffset { .. } => "bad_offset",
            Self::Io(_) => "io",
        }
    }
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadHash(name) => write!(f, "evidence name {name:?} is not a sha256 (64 lowercase hex digits)"),
            Self::UnknownHash(hash) => write!(f, "evidence {hash} is not stored at this node"),
            Self::BadOffset { hash, offset, size } => {
                write!(f, "evidence {hash}: offset {offset} is past the end ({size} bytes)")
            }
            Self::Io(what) => f.write_str(what),
        }
    }
}

/// A directory of evidence files named by their sha256, with a SQLite index
/// (`index.sqlite`: size, stored time, replicated flag). Shared between threads behind an
/// `Arc`; the index is behind a mutex, file bytes are written and read outside it.
pub struct EvidenceStore {
    dir: PathBuf,
    index: Mutex<Connection>,
}

/// The index's file name inside the store's directory.
const INDEX_FILE: &str = "index.sqlite";
/// Files being written start with this; a restart removes leftovers.
const TEMP_PREFIX: &str = ".tmp-";

impl EvidenceStore {
    /// Opens (creating if needed) the store in `dir` and reconciles the index with the
    /// files: a crash can leave a temp file, a file without its row, or a row without
    /// its file (after an eviction).
    pub fn open(dir: &Path) -> Result<Self, String> {
        fs::create_dir_all(dir).map_err(|e| format!("evidence dir {}: {e}", dir.display()))?;
        let path = dir.join(INDEX_FILE);
        let what = |e: rusqlite::Error| format!("evidence index {}: {e}", path.display());
        let conn = Connection::open(&path).map_err(what)?;
        // NORMAL, not FULL: a row lost to a power cut is rebuilt from the files at the next open.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(what)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(what)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS evidence (
                 seq        INTEGER PRIMARY KEY AUTOINCREMENT,  -- store order: oldest first
                 hash       TEXT NOT NULL UNIQUE,
                 size       INTEGER NOT NULL,
                 stored_ms  INTEGER NOT NULL,                   -- wall clock, for people
                 replicated INTEGER NOT NULL DEFAULT 0
             );
             CREATE INDEX IF NOT EXISTS evidence_by_eviction ON evidence (replicated, seq);",
        )
        .map_err(what)?;
        let store = Self { dir: dir.to_path_buf(), index: Mutex::new(conn) };
        store.reconcile()?;
        Ok(store)
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `bytes` under their sha256 and returns the hash (hex). Storing the same bytes
    /// again changes nothing. The file is written to a temp name, fsynced and renamed, so a
    /// file under a hash name is always complete.
    pub fn put(&self, bytes: &[u8]) -> Result<String, String> {
        let hash = format!("{:x}", Sha256::digest(bytes));
        // A row means the file is there: rows go with their files, under the lock.
        if self.size(&hash).map_err(|e| e.to_string())?.is_some() {
            return Ok(hash);
        }
        let path = self.dir.join(&hash);
        let tmp = self.dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::now_v7()));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all() // the rename itself
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(format!("evidence {}: {e}", path.display()));
        }
        self.lock()
            .execute(
                "INSERT OR IGNORE INTO evidence (hash, size, stored_ms) VALUES (?1, ?2, ?3)",
                params![hash, bytes.len() as i64, chrono::Utc::now().timestamp_millis()],
            )
            .map_err(|e| format!("evidence index insert {hash}: {e}"))?;
        Ok(hash)
    }

    /// The size of the stored file `hash`, `None` if it is not stored.
    pub fn size(&self, hash: &str) -> Result<Option<u64>, RangeError> {
        if !is_sha256_hex(hash) {
            return Err(RangeError::BadHash(hash.to_string()));
        }
        self.lock()
            .query_row("SELECT size FROM evidence WHERE hash = ?1", params![hash], |r| r.get::<_, i64>(0))
            .optional()
            .map(|s| s.map(|s| s as u64))
            .map_err(|e| RangeError::Io(format!("evidence index read {hash}: {e}")))
    }

    /// Up to `len` bytes of file `hash` from `offset` (fewer at the end; none at the end).
    pub fn get_range(&self, hash: &str, offset: u64, len: u64) -> Result<Vec<u8>, RangeError> {
        let size = self.size(hash)?.ok_or_else(|| RangeError::UnknownHash(hash.to_string()))?;
        if offset > size {
            return Err(RangeError::BadOffset { hash: hash.to_string(), offset, size });
        }
        let n = len.min(size - offset);
        let path = self.dir.join(hash);
        let read = || -> std::io::Result<Vec<u8>> {
            let mut f = File::open(&path)?;
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = vec![0; n as usize];
            f.read_exact(&mut buf)?;
            Ok(buf)
        };
        read().map_err(|e| match e.kind() {
            // Evicted between the index read and the open.
            std::io::ErrorKind::NotFound => RangeError::UnknownHash(hash.to_string()),
            _ => RangeError::Io(format!("evidence {}: reading {n} bytes at {offset}: {e}", path.display())),
        })
    }

    /// Records that the control room holds a verified copy of `hash`. Returns false if the
    /// file is not stored (an acknowledgement can arrive after an eviction, or twice).
    pub fn mark_replicated(&self, hash: &str) -> Result<bool, String> {
        self.lock()
            .execute("UPDATE evidence SET replicated = 1 WHERE hash = ?1", params![hash])
            .map(|n| n > 0)
            .map_err(|e| format!("evidence index mark_replicated {hash}: {e}"))
    }

    /// Whether `hash` is stored and marked replicated.
    pub fn is_replicated(&self, hash: &str) -> Result<bool, String> {
        self.lock()
            .query_row("SELECT replicated FROM evidence WHERE hash = ?1", params![hash], |r| r.get::<_, bool>(0))
            .optional()
            .map(|r| r.unwrap_or(false))
            .map_err(|e| format!("evidence index read {hash}: {e}"))
    }

    /// Evidence the control room does not have yet.
    pub fn pending(&self) -> Result<Usage, String> {
        self.usage("WHERE replicated = 0")
    }

    /// Bytes of all stored evidence files (the index itself, a few KiB, is not counted).
    pub fn used_bytes(&self) -> Result<u64, String> {
        Ok(self.usage("")?.bytes)
    }

    /// Evicts evidence until at most `quota_bytes` are used: replicated files first, then
    /// unreplicated ones, each oldest first. Returns what was evicted.
    ///
    /// The quota is for evidence alone: the caller subtracts what the alert outbox uses
    /// from the node's disk budget and passes the rest, so an alert is never evicted; at
    /// worst all evidence goes.
    pub fn enforce_quota(&self, quota_bytes: u64) -> Result<Usage, String> {
        let conn = self.lock();
        let mut used = usage(&conn, "")?.bytes;
        let mut evicted = Usage::default();
        if used <= quota_bytes {
            return Ok(evicted);
        }
        let victims: Vec<(String, u64, bool)> = {
            let mut q = conn
                .prepare("SELECT hash, size, replicated FROM evidence ORDER BY replicated DESC, seq")
                .map_err(|e| format!("evidence quota: {e}"))?;
            q.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?)))
                .and_then(|rows| rows.collect())
                .map_err(|e| format!("evidence quota: {e}"))?
        };
        for (hash, size, replicated) in victims {
            if used <= quota_bytes {
                break;
            }
            let path = self.dir.join(&hash);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("evidence quota: removing {}: {e}", path.display())),
            }
            conn.execute("DELETE FROM evidence WHERE hash = ?1", params![hash])
                .map_err(|e| format!("evidence quota: index delete {hash}: {e}"))?;
            used -= size;
            evicted.files += 1;
            evicted.bytes += size;
            let label = if replicated { "true" } else { "false" };
            metrics::global().metric("qv_evidence_evicted_total", &[("replicated", label)]).inc();
            if replicated {
                tracing::info!(%hash, size, quota_bytes, "evidence evicted over quota (replicated)");
            } else {
                tracing::warn!(%hash, size, quota_bytes, "evidence evicted over quota before the control room had it");
            }
        }
        Ok(evicted)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic elsewhere while holding the lock leaves SQLite consistent (transactions).
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn usage(&self, filter: &str) -> Result<Usage, String> {
        usage(&self.lock(), filter)
    }

    /// Brings index and directory into agreement after a crash.
    fn reconcile(&self) -> Result<(), String> {
        let dir_err = |e: std::io::Error| format!("evidence dir {}: {e}", self.dir.display());
        let mut on_disk = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(dir_err)? {
            let entry = entry.map_err(dir_err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                // Never renamed: the put did not return, so nobody holds its hash.
                let _ = fs::remove_file(entry.path());
            } else if is_sha256_hex(&name) {
                on_disk.push((name, entry.metadata().map_err(dir_err)?.len()));
            }
        }
        let conn = self.lock();
        let rows: Vec<String> = conn
            .prepare("SELECT hash FROM evidence")
            .and_then(|mut q| q.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| format!("evidence index read: {e}"))?;
        for hash in rows.iter().filter(|h| !self.dir.join(h).exists()) {
            tracing::warn!(%hash, "evidence index row without its file, removed");
            conn.execute("DELETE FROM evidence WHERE hash = ?1", params![hash])
                .map_err(|e| format!("evidence index delete {hash}: {e}"))?;
        }
        for (hash, size) in on_disk {
            let added = conn
                .execute(
                    "INSERT OR IGNORE INTO evidence (hash, size, stored_ms) VALUES (?1, ?2, ?3)",
                    params![hash, size as i64, chrono::Utc::now().timestamp_millis()],
                )
                .map_err(|e| format!("evidence index insert {hash}: {e}"))?;
            if added > 0 {
                tracing::info!(%hash, size, "evidence file without an index row, indexed as not replicated");
            }
        }
        Ok(())
    }
}

fn usage(conn: &Connection, filter: &str) -> Result<Usage, String> {
    conn.query_row(&format!("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM evidence {filter}"), [], |r| {
        Ok(Usage { files: r.get::<_, i64>(0)? as u64, bytes: r.get::<_, i64>(1)? as u64 })
    })
    .map_err(|e| format!("evidence index usage: {e}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh folder for one test's store.
    pub(crate) fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("qorovul-evidence-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// Bytes that differ from file to file (`seed`) and do not compress to nothing.
    pub(crate) fn bytes(n: usize, seed: u64) -> Vec<u8> {
        pipeline::rng::SplitMix64::new(seed).bytes(n)
    }

    #[test]
    fn put_is_idempotent_and_names_the_file_by_its_hash() {
        let store = EvidenceStore::open(&temp_dir("put")).unwrap();
        let data = bytes(10_000, 1);
        let hash = store.put(&data).unwrap();
        assert_eq!(hash, format!("{:x}", Sha256::digest(&data)));
        assert_eq!(fs::read(store.dir().join(&hash)).unwrap(), data);
        assert_eq!(store.put(&data).unwrap(), hash);
        assert_eq!(store.used_bytes().unwrap(), 10_000);
        assert_eq!(store.pending().unwrap(), Usage { files: 1, bytes: 10_000 });
        assert!(
            !fs::read_dir(store.dir())
                .unwrap()
                .any(|e| { e.unwrap().file_name().to_string_lossy().starts_with(TEMP_PREFIX) })
        );
        assert!(store.mark_replicated(&hash).unwrap());
        assert!(store.is_replicated(&hash).unwrap());
        assert_eq!(store.pending().unwrap(), Usage::default());
        assert!(!store.mark_replicated(&"0".repeat(64)).unwrap(), "unknown hash");
    }

    #[test]
    fn get_range_returns_exactly_the_asked_bytes_and_names_bad_requests() {
        let store = EvidenceStore::open(&temp_dir("range")).unwrap();
        let data = bytes(1000, 2);
        let hash = store.put(&data).unwrap();
        assert_eq!(store.get_range(&hash, 100, 50).unwrap(), &data[100..150]);
        assert_eq!(store.get_range(&hash, 990, 50).unwrap(), &data[990..], "cut at the end");
        assert_eq!(store.get_range(&hash, 1000, 50).unwrap(), b"", "empty at the end");
        let past = store.get_range(&hash, 1001, 1).unwrap_err();
        assert_eq!(past.cause(), "bad_offset");
        assert!(past.to_string().contains(&hash) && past.to_string().contains("1001"), "{past}");
        let unknown = store.get_range(&"a".repeat(64), 0, 1).unwrap_err();
        assert_eq!(unknown.cause(), "unknown_hash");
        let bad = store.get_range("../../etc/passwd", 0, 1).unwrap_err();
        assert_eq!(bad.cause(), "bad_hash");
        assert!(bad.to_string().contains("etc/passwd"), "{bad}");
        assert_eq!(store.get_range(&hash.to_uppercase(), 0, 1).unwrap_err().cause(), "bad_hash");
    }

    #[test]
    fn a_reopen_indexes_orphan_files_and_drops_temp_files_and_rows_without_files() {
        let dir = temp_dir("reconcile");
        let (kept, lost) = {
            let store = EvidenceStore::open(&dir).unwrap();
            (store.put(&bytes(100, 3)).unwrap(), store.put(&bytes(200, 4)).unwrap())
        };
        // A crash after the rename but before the index insert; one mid-write; a lost file.
        let orphan = bytes(300, 5);
        let orphan_hash = format!("{:x}", Sha256::digest(&orphan));
        fs::write(dir.join(&orphan_hash), &orphan).unwrap();
        fs::write(dir.join(format!("{TEMP_PREFIX}half")), b"half").unwrap();
        fs::remove_file(dir.join(&lost)).unwrap();

        let store = EvidenceStore::open(&dir).unwrap();
        assert_eq!(store.size(&kept).unwrap(), Some(100));
        assert_eq!(store.size(&orphan_hash).unwrap(), Some(300));
        assert_eq!(store.size(&lost).unwrap(), None);
        assert!(!dir.join(format!("{TEMP_PREFIX}half")).exists());
        assert_eq!(store.pending().unwrap(), Usage { files: 2, bytes: 400 });
    }

    #[test]
    fn quota_evicts_replicated_first_then_oldest_and_ends_under_quota() {
        // The only test that evicts: the metric deltas below are this test's own.
        let evicted = |r| metrics::global().value("qv_evidence_evicted_total", &[("replicated", r)]);
        let (rep0, unrep0) = (evicted("true"), evicted("false"));
        let store = EvidenceStore::open(&temp_dir("quota")).unwrap();
        let h: Vec<String> = (0..5).map(|i| store.put(&bytes(1000, 10 + i)).unwrap()).collect();
        store.mark_replicated(&h[3]).unwrap();
        store.mark_replicated(&h[1]).unwrap();

        assert_eq!(store.enforce_quota(5000).unwrap(), Usage::default(), "at quota: nothing to do");
        // 5000 used, quota 2500: both replicated (h1, h3: oldest first), then the oldest h0.
        assert_eq!(store.enforce_quota(2500).unwrap(), Usage { files: 3, bytes: 3000 });
        assert!(store.used_bytes().unwrap() <= 2500);
        for gone in [&h[0], &h[1], &h[3]] {
            assert_eq!(store.size(gone).unwrap(), None);
            assert!(!store.dir().join(gone).exists());
        }
        for kept in [&h[2], &h[4]] {
            assert_eq!(store.get_range(kept, 0, 10).unwrap().len(), 10);
        }
        assert_eq!((evicted("true") - rep0, evicted("false") - unrep0), (2, 1));

        assert_eq!(store.enforce_quota(0).unwrap(), Usage { files: 2, bytes: 2000 });
        assert_eq!(store.used_bytes().unwrap(), 0);
        assert!(store.dir().join(INDEX_FILE).exists(), "only evidence goes");
    }
}
