//! `qorovul audit verify` on a control room's store and the heads it exported: whole, a row
//! edited, the tail deleted. (A chain recomputed after an edit is caught the same way;
//! `control_room::audit`'s own tests show it passes without heads and fails with them.)

use crate::support::Proc;
use control_room::audit;
use std::time::Duration;

#[test]
fn the_audit_command_finds_an_edited_row_and_a_deleted_tail() {
    let dir = std::env::temp_dir().join(format!("qorovul-audit-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("export")).unwrap();
    let db = dir.join("control-room.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(audit::SCHEMA).unwrap();
    for (actor, action) in
        [("op", "login"), ("op", "acknowledge"), ("op", "resolve"), ("sup", "mute"), ("op", "logout")]
    {
        audit::append(&conn, actor, action, Some("post-1"), None, &serde_json::json!({ "n": action })).unwrap();
    }
    let signer = audit::Signer::load_or_create(&dir.join("audit.key"), "cr-1").unwrap();
    audit::export_head(&signer.head(&conn).unwrap(), &dir.join("export")).unwrap();
    let heads = dir.join("export").join(audit::HEADS_FILE);
    let key = signer.public_key_hex();
    let verify = || {
        let args =
            ["audit", "verify", "--db", db.to_str().unwrap(), "--heads", heads.to_str().unwrap(), "--public-key", &key];
        let (status, out, err) = Proc::run(&args, Duration::from_secs(30));
        (status.expect("exited").success(), format!("{out}\n{err}"))
    };
    let (ok, out) = verify();
    assert!(ok && out.contains("ok: 5 entries, 1 signed heads checked"), "{out}");

    conn.execute("UPDATE audit SET actor = 'someone' WHERE seq = 3", []).unwrap();
    let (ok, out) = verify();
    assert!(!ok && out.contains("seq 3") && out.contains("TAMPERED"), "{out}");
    conn.execute("UPDATE audit SET actor = 'op' WHERE seq = 3", []).unwrap();
    assert!(verify().0, "restored");

    conn.execute("DELETE FROM audit WHERE seq >= 4", []).unwrap();
    let (ok, out) = verify();
    assert!(!ok && out.contains("TAMPERED"), "{out}");
    eprintln!("{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
