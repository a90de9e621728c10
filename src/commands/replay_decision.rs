//! `qorovul replay-decision`: a past lane decision made again from its record (the inputs
//! as they were, the importer's history as it was then) under a policy file, and the
//! difference said plainly: the versions that changed and what came out otherwise. The
//! random draw is read from the record (it was keyed by the post's secret, which the
//! replay does not need).

use operators::risk::RiskConfig;
use operators::risk::decision::{self, DecisionRecord};
use operators::risk::history::History;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ReplayDecisionArgs {
    /// The decision record as published on `qv/{site}/pii/lane/{lane}/decision` (a JSON file).
    #[arg(long, conflicts_with = "id", required_unless_present = "id")]
    pub record: Option<PathBuf>,
    /// Or the record's id in the lane's history database (`--history`).
    #[arg(long, requires = "history")]
    pub id: Option<String>,
    /// The lane's history database (`[customs].history`).
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// The policy to decide with again.
    #[arg(long, default_value = "configs/customs.toml")]
    pub policy: PathBuf,
}

/// Prints the replay; `Err` when the record cannot be read or the replay differs.
pub fn run(a: ReplayDecisionArgs) -> Result<(), String> {
    let record: DecisionRecord = match (&a.record, &a.id, &a.history) {
        (Some(file), _, _) => {
            let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: not a decision record: {e}", file.display()))?
        }
        (None, Some(id), Some(db)) => History::open(db)
            .map_err(|e| format!("{}: {e}", db.display()))?
            .decision(id)?
            .ok_or_else(|| format!("{}: no decision {id}", db.display()))?,
        _ => return Err("give --record FILE, or --id ID with --history DB".into()),
    };
    let policy = RiskConfig::load(&a.policy).map_err(|e| format!("{}: {e}", a.policy.display()))?;
    let replay = decision::replay(&record, &policy);
    let d = &replay.decision;
    println!(
        "decision {} (lane {}, {}, decided {}): recorded {:?}, replayed {:?}",
        record.id, record.lane, record.vehicle, record.decided_at, record.decision.corridor, d.corridor
    );
    // The draw was made with the post's secret; the record carries it, so no secret is needed.
    if let Some(x) = record.inputs.random_draw {
        println!("  random draw {x} (as recorded)");
    }
    for (i, r) in d.reasons.iter().enumerate() {
        println!("  {}. [{:?}] {} ({})", i + 1, r.corridor, r.text, r.rule);
    }
    if replay.identical {
        println!("identical: same versions, same corridor, action and reasons");
        return Ok(());
    }
    for diff in &replay.differences {
        println!("  differs: {diff}");
    }
    Err(format!("the replay differs from the record in {} way(s)", replay.differences.len()))
}
