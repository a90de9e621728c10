//! `qorovul audit verify`: checks a control room's audit chain against the signed heads
//! exported off the box. An edited row, a deleted tail, or a chain an administrator
//! recomputed is reported by sequence number; the exit status says whether it is whole.

use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCmd {
    /// Verify the chain in a control-room store against exported heads.
    Verify {
        /// The control room's store (`control-room.sqlite`).
        #[arg(long)]
        db: PathBuf,
        /// The exported heads (`audit-heads.jsonl`), from the machine they were sent to.
        #[arg(long)]
        heads: PathBuf,
        /// The control room's public key (hex), known from elsewhere; without it, every head
        /// must carry the first head's key.
        #[arg(long)]
        public_key: Option<String>,
    },
}

pub fn run(cmd: AuditCmd) -> Result<(), String> {
    let AuditCmd::Verify { db, heads, public_key } = cmd;
    if !db.exists() {
        return Err(format!("{}: no such store", db.display()));
    }
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("{}: {e}", db.display()))?;
    let heads = control_room::audit::load_heads(&heads)?;
    let report = control_room::audit::verify(&conn, &heads, public_key.as_deref())?;
    for p in &report.problems {
        match p.seq {
            Some(seq) => println!("seq {seq}: {}", p.what),
            None => println!("{}", p.what),
        }
    }
    println!(
        "{}: {} entries, {} signed heads checked, {} problem(s)",
        if report.ok { "ok" } else { "TAMPERED" },
        report.entries,
        report.heads_checked,
        report.problems.len()
    );
    if report.ok { Ok(()) } else { Err("the audit chain does not verify".into()) }
}
