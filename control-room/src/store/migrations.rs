//! The control-room store's schema, as numbered migrations. `PRAGMA user_version` holds
//! the number applied; each migration runs once, in its own transaction, in order. A
//! store written by a newer qorovul (a higher number) is refused rather than misread.

use rusqlite::Connection;

/// Migration `i + 1` is `MIGRATIONS[i]`. Never edit one that has shipped: add the next.
const MIGRATIONS: &[&str] = &[
    // 1: alerts exactly once, dead letters, incidents' latest state.
    "CREATE TABLE IF NOT EXISTS alerts (
         id        BLOB PRIMARY KEY,         -- 16 bytes
         site      TEXT NOT NULL,
         key       TEXT NOT NULL,
         event_us  INTEGER NOT NULL,
         stored_us INTEGER NOT NULL,
         node      TEXT,
         json      TEXT NOT NULL
     );
     CREATE INDEX IF NOT EXISTS alerts_by_event ON alerts (event_us);
     CREATE TABLE IF NOT EXISTS dead_letters (
         seq       INTEGER PRIMARY KEY AUTOINCREMENT,
         id        BLOB UNIQUE,
         stored_us INTEGER NOT NULL,
         key       TEXT NOT NULL,
         node      TEXT,
         reason    TEXT NOT NULL,
         detail    TEXT NOT NULL,
         size      INTEGER NOT NULL,
         head      BLOB NOT NULL
     );
     CREATE TABLE IF NOT EXISTS incidents (
         id         TEXT PRIMARY KEY,
         site       TEXT NOT NULL,
         updated_us INTEGER NOT NULL,
         closed     INTEGER NOT NULL,
         json       TEXT NOT NULL
     );",
    // 2: the dashboard: the queue's columns, workflow, users, sessions, tokens,
    // sources and mutes, evidence index, requests to see originals, audit.
    "ALTER TABLE incidents ADD COLUMN severity INTEGER NOT NULL DEFAULT 0;   -- 0 info .. 4 critical
     ALTER TABLE incidents ADD COLUMN first_event_us INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE incidents ADD COLUMN merged INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE workflow (
         incident_id     TEXT PRIMARY KEY,
         site            TEXT NOT NULL,
         state           TEXT NOT NULL,         -- new | acknowledged | assigned | escalated | resolved
         assignee        TEXT,
         resolution      TEXT,
         acknowledged_us INTEGER,
         resolved_us     INTEGER,
         response_due_us INTEGER,
         updated_us      INTEGER NOT NULL
     );
     CREATE INDEX workflow_open ON workflow (state);
     CREATE INDEX incidents_queue ON incidents (severity DESC, first_event_us, id);
     CREATE TABLE incident_events (
         seq         INTEGER PRIMARY KEY AUTOINCREMENT,
         incident_id TEXT NOT NULL,
         ts_us       INTEGER NOT NULL,
         actor       TEXT NOT NULL,
         action      TEXT NOT NULL,
         detail      TEXT NOT NULL              -- JSON
     );
     CREATE INDEX incident_events_by_incident ON incident_events (incident_id, seq);
     CREATE TABLE users (
         username      TEXT PRIMARY KEY,
         display_name  TEXT NOT NULL,
         role          TEXT NOT NULL,
         sites         TEXT NOT NULL,           -- JSON array; [\"*\"] for every site
         language      TEXT NOT NULL,
         password_hash TEXT NOT NULL,           -- argon2id, PHC string
         created_us    INTEGER NOT NULL
     );
     CREATE TABLE sessions (
         token_hash BLOB PRIMARY KEY,           -- sha256 of the cookie value
         username   TEXT NOT NULL,
         csrf       TEXT NOT NULL,
         created_us INTEGER NOT NULL,
         expires_us INTEGER NOT NULL
     );
     CREATE TABLE api_tokens (
         token_hash BLOB PRIMARY KEY,
         name       TEXT NOT NULL,
         role       TEXT NOT NULL,
         sites      TEXT NOT NULL,
         created_by TEXT NOT NULL,
         created_us INTEGER NOT NULL
     );
     CREATE TABLE sources (
         site     TEXT NOT NULL,
         kind     TEXT NOT NULL,
         id       TEXT NOT NULL,
         name     TEXT NOT NULL,
         lat      REAL,
         lon      REAL,
         last_alert_us INTEGER NOT NULL,
         PRIMARY KEY (site, kind, id)
     ) WITHOUT ROWID;
     CREATE TABLE mutes (
         site       TEXT NOT NULL,
         kind       TEXT NOT NULL,
         id         TEXT NOT NULL,
         muted_by   TEXT NOT NULL,
         reason     TEXT NOT NULL,
         until_us   INTEGER NOT NULL,
         created_us INTEGER NOT NULL,
         PRIMARY KEY (site, kind, id)
     ) WITHOUT ROWID;
     CREATE TABLE evidence_index (
         sha256   TEXT NOT NULL,
         alert_id BLOB NOT NULL,
         site     TEXT NOT NULL,
         node     TEXT,
         original TEXT,                          -- sha256 of the unblurred original, if any
         PRIMARY KEY (sha256, alert_id)
     ) WITHOUT ROWID;
     CREATE TABLE original_requests (
         id           TEXT PRIMARY KEY,
         sha256       TEXT NOT NULL,
         site         TEXT NOT NULL,
         requested_by TEXT NOT NULL,
         reason       TEXT NOT NULL,
         requested_us INTEGER NOT NULL,
         state        TEXT NOT NULL,            -- pending | approved
         approved_by  TEXT,
         approved_us  INTEGER,
         expires_us   INTEGER
     );",
    // 3: evidence purged by retention, and legal holds that keep an incident's evidence;
    // the index on workflow states cost every new incident a write and served no query.
    "ALTER TABLE evidence_index ADD COLUMN purged_us INTEGER;
     DROP INDEX IF EXISTS workflow_open;
     CREATE TABLE legal_holds (
         incident_id TEXT PRIMARY KEY,
         site        TEXT NOT NULL,
         held_by     TEXT NOT NULL,
         reason      TEXT NOT NULL,
         created_us  INTEGER NOT NULL
     );",
];

/// Brings the store at `conn` up to the newest schema.
pub fn migrate(conn: &mut Connection) -> Result<(), String> {
    let applied: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map_err(|e| format!("reading the schema version: {e}"))? as usize;
    if applied > MIGRATIONS.len() {
        return Err(format!(
            "the store has schema version {applied}, newer than this qorovul knows ({}); run a newer qorovul",
            MIGRATIONS.len()
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let version = i + 1;
        let tx = conn.transaction().map_err(|e| format!("migration {version}: {e}"))?;
        tx.execute_batch(sql).map_err(|e| format!("migration {version}: {e}"))?;
        if version == 2 {
            tx.execute_batch(crate::audit::SCHEMA).map_err(|e| format!("migration {version} (audit): {e}"))?;
        }
        tx.pragma_update(None, "user_version", version as i64).map_err(|e| format!("migration {version}: {e}"))?;
        tx.commit().map_err(|e| format!("migration {version}: {e}"))?;
        tracing::info!("store schema migrated to version {version}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_in_order_and_a_newer_store_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap(); // again: nothing to do, no "table exists" error
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
        conn.execute("INSERT INTO users VALUES ('a','A','viewer','[]','en','x',0)", []).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let e = migrate(&mut conn).unwrap_err();
        assert!(e.contains("99"), "{e}");
    }
}
