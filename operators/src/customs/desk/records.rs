//! The records the lane desk is sent (declarations, imports of past ones, inspection
//! results, officers' entries): each checked against what the sender may say, in the
//! sender's own name; see [the module docs](super::super).

use super::*;

impl CustomsDesk {
    /// A declaration (JSON) from the lane feed: checked, its plates and containers put in
    /// canonical form, recorded in the importer's history and held open for its vehicle.
    /// Refused: one already decided, one imported as history, an id another importer filed,
    /// and a `submitted` in the future or older than `open_for_days` (a lane must not write
    /// an importer's past: past declarations go through [`CustomsDesk::import_declaration`]).
    pub fn declaration(&mut self, bytes: &[u8], now: DateTime<Utc>, out: &mut DeskOutput) -> Outcome {
        const FEED: &str = "declarations";
        let checked = match declaration::parse_declaration(bytes, &self.policy.hs) {
            Ok(c) => c,
            Err(e) => return refuse(FEED, e.code(), None, e.to_string()),
        };
        let id = checked.declaration.id.clone();
        if let Some(refused) = self.owned_by_another(FEED, &checked.declaration) {
            return refused;
        }
        // Posted again, a decided declaration would be held open for its vehicle once more:
        // a second pass through the lane, decided anew.
        match self.history.decision_for(&id) {
            Ok(None) => {}
            Ok(Some(r)) => {
                let note = format!(
                    "id: {id:?} was decided at {} ({}, decision {}); a decided declaration is not re-opened",
                    secs(r.decided_at),
                    r.decision.corridor.as_str(),
                    r.id
                );
                return refuse(FEED, "decided", Some(id), note);
            }
            Err(e) => return refuse(FEED, "history", Some(id), format!("importer history: {e}")),
        }
        match self.history.imported(&id) {
            Ok(None) => {}
            Ok(Some(i)) => {
                let note = format!(
                    "id: {id:?} was imported as history at {}; an imported declaration is not held open for a lane",
                    secs(i.at)
                );
                return refuse(FEED, "imported", Some(id), note);
            }
            Err(e) => return refuse(FEED, "history", Some(id), format!("importer history: {e}")),
        }
        let submitted = checked.declaration.submitted;
        if let Some(refused) = submitted_ahead(FEED, submitted, now, &id) {
            return refused;
        }
        let age_days = (now - submitted).num_seconds() as f64 / 86_400.0;
        if age_days > self.cfg.open_for_days {
            let note = format!(
                "submitted: {} is {age_days:.0} days old, over [customs] open_for_days {}; past declarations \
                 go through the import route POST /v1/declarations/import",
                secs(submitted),
                self.cfg.open_for_days
            );
            return refuse(FEED, "submitted_old", Some(id), note);
        }
        let mut plates = vec![];
        for (i, p) in checked.declaration.plates.iter().enumerate() {
            match plate_key(p, None) {
                Ok(k) => plates.push(k),
                Err(e) => return refuse(FEED, "plate", Some(id), format!("plates[{i}]: {p:?}: {e}")),
            }
        }
        let mut containers = vec![];
        for (i, c) in checked.declaration.containers.iter().enumerate() {
            match container_key(c) {
                Ok(k) => containers.push(k),
                Err(e) => return refuse(FEED, "container", Some(id), format!("containers[{i}]: {c:?}: {e}")),
            }
        }
        if let Err(e) = self.history.record_declaration(&checked.declaration) {
            return refuse(FEED, "history", Some(id), format!("importer history: {e}"));
        }
        let notes: Vec<String> = checked.notes.iter().map(|n| format!("{}: {}", n.field, n.text)).collect();
        let replaced = self.write_open().by_id.insert(id.clone(), Open { checked, plates, containers }).is_some();
        // A vehicle already at the lane may have been waiting for this declaration.
        let keys = {
            let open = self.read_open();
            let o = &open.by_id[&id];
            (o.plates.iter().cloned().collect::<BTreeSet<_>>(), o.containers.iter().cloned().collect::<BTreeSet<_>>())
        };
        for i in 0..self.passages.len() {
            let p = &self.passages[i];
            if p.declaration.is_none()
                && (p.plates.iter().any(|k| keys.0.contains(k)) || p.containers.iter().any(|k| keys.1.contains(k)))
            {
                let (plates, containers) = (p.plates.clone(), p.containers.clone());
                self.resolve(i, &plates, &containers, None);
            }
        }
        self.decide_ready(now, out);
        Outcome { result: if replaced { "updated" } else { "accepted" }, id: Some(id), notes }
    }

    /// A past declaration (JSON) imported by `by`, an authenticated identity allowed to
    /// load the customs system's history: recorded in the importer's history only, never
    /// held open for a lane, and audited (a `declaration_imports` row naming `by`, and a log
    /// line naming it masked). Refused: a `submitted` in the future, an id already known.
    pub fn import_declaration(&mut self, bytes: &[u8], now: DateTime<Utc>, by: &str) -> Outcome {
        const FEED: &str = "declaration_imports";
        if let Some(refused) = nobody(FEED, by) {
            return refused;
        }
        let checked = match declaration::parse_declaration(bytes, &self.policy.hs) {
            Ok(c) => c,
            Err(e) => return refuse(FEED, e.code(), None, e.to_string()),
        };
        let d = &checked.declaration;
        let id = d.id.clone();
        if let Some(refused) = submitted_ahead(FEED, d.submitted, now, &id) {
            return refused;
        }
        if let Some(refused) = self.owned_by_another(FEED, d) {
            return refused;
        }
        match self.history.import_declaration(d, by, now) {
            Ok(true) => {}
            Ok(false) => return Outcome { result: "duplicate", id: Some(id), notes: vec![] },
            Err(e) => {
                let reason = if e.starts_with("id: ") { "known" } else { "history" };
                return refuse(FEED, reason, Some(id), e);
            }
        }
        metrics::global().metric("qv_declarations_imported_total", &[]).inc();
        tracing::info!(by = %mask(by), declaration = %id, content_sha256 = %d.content_sha256(), "declaration imported as history");
        Outcome { result: "recorded", id: Some(id), notes: vec![format!("imported by {by}: history only")] }
    }

    /// The refusal of a declaration whose id another importer filed (the owner unnamed).
    fn owned_by_another(&self, feed: &'static str, d: &crate::risk::Declaration) -> Option<Outcome> {
        match self.history.declaration_importer(&d.id) {
            Ok(Some(tin)) if tin != d.importer_tin => Some(refuse(
                feed,
                "id_taken",
                Some(d.id.clone()),
                format!("id: {:?} belongs to another importer", d.id),
            )),
            Ok(_) => None,
            Err(e) => Some(refuse(feed, "history", Some(d.id.clone()), format!("importer history: {e}"))),
        }
    }

    /// An inspection's result sent by `by` (the authenticated officer), appended to the
    /// importer's history. A result for a declaration that has one already is an amendment:
    /// both are kept, the latest counts.
    pub fn inspection(&mut self, bytes: &[u8], now: DateTime<Utc>, by: &str) -> Outcome {
        const FEED: &str = "inspections";
        if let Some(refused) = nobody(FEED, by) {
            return refused;
        }
        let mut r = match InspectionResult::from_json(bytes) {
            Ok(r) => r,
            Err(e) => return refuse(FEED, "malformed", None, e),
        };
        let id = r.declaration_id.clone();
        if let Some(refused) = not_the_sender(FEED, r.officer.as_deref(), by, Some(id.clone())) {
            return refused;
        }
        r.officer = Some(by.to_string());
        match self.history.record_inspection(&r, by, now) {
            Ok(None) => Outcome { result: "duplicate", id: Some(id), notes: vec![] },
            Ok(Some(earlier)) => {
                tracing::info!(officer = %mask(by), declaration = %id, found = r.found, earlier, "inspection result");
                if earlier == 0 {
                    Outcome { result: "accepted", id: Some(id), notes: vec![] }
                } else {
                    let note =
                        format!("amends {earlier} earlier result(s) for {id:?}, which are kept; the latest counts");
                    Outcome { result: "amended", id: Some(id), notes: vec![note] }
                }
            }
            Err(e) => refuse(FEED, "unknown", Some(id), e),
        }
    }

    /// An officer's manual entry of a vehicle's identity at a lane; `by` is the
    /// authenticated officer, named in the audit log and in the decision record. The entry
    /// takes effect now, on the vehicle at the lane now.
    pub fn identity(&mut self, bytes: &[u8], now: DateTime<Utc>, out: &mut DeskOutput, by: &str) -> Outcome {
        if let Some(refused) = nobody("identity", by) {
            return refused;
        }
        let m: ManualIdentity = match serde_json::from_slice(bytes) {
            Ok(m) => m,
            Err(e) => return refuse("identity", "malformed", None, format!("not a lane identity: {e}")),
        };
        if let Some(refused) = not_the_sender("identity", m.officer.as_deref(), by, m.declaration_id.clone()) {
            return refused;
        }
        let Some(lane) = self.cfg.lanes.iter().find(|l| l.id == m.lane) else {
            return refuse("identity", "lane", None, format!("lane: {:?} is not a lane of this post", m.lane));
        };
        let hint = lane.plate_country.clone();
        let mut plates = BTreeSet::new();
        for (i, p) in m.plates.iter().enumerate() {
            match plate_key(p, hint.as_deref()) {
                Ok(k) => {
                    plates.insert(k);
                }
                Err(e) => return refuse("identity", "plate", None, format!("plates[{i}]: {p:?}: {e}")),
            }
        }
        let mut containers = BTreeSet::new();
        for (i, c) in m.containers.iter().enumerate() {
            match container_key(c) {
                Ok(k) => {
                    containers.insert(k);
                }
                Err(e) => return refuse("identity", "container", None, format!("containers[{i}]: {c:?}: {e}")),
            }
        }
        if let Some(d) = &m.declaration_id
            && !self.read_open().by_id.contains_key(d)
        {
            return refuse(
                "identity",
                "declaration",
                Some(d.clone()),
                format!("declaration_id: {d:?} is not an open declaration"),
            );
        }
        if plates.is_empty() && containers.is_empty() && m.declaration_id.is_none() {
            return refuse(
                "identity",
                "empty",
                None,
                "an identity needs a plate, a container or a declaration_id".into(),
            );
        }
        let i = self.passage_for(&m.lane, &plates, &containers, m.declaration_id.as_deref(), now);
        let p = &mut self.passages[i];
        p.manual = true;
        p.officer = Some(by.to_string());
        // The officer's word settles a read that matched several declarations.
        p.ambiguous.clear();
        let masked = |keys: &BTreeSet<String>| keys.iter().map(|k| mask(k)).collect::<Vec<_>>();
        tracing::info!(
            lane = %m.lane, officer = %mask(by), plates = ?masked(&plates), containers = ?masked(&containers),
            declaration = m.declaration_id.as_deref().unwrap_or(""), "manual lane identity"
        );
        self.resolve(i, &plates, &containers, m.declaration_id.as_deref());
        let id = self.passages[i].declaration.clone();
        self.decide_ready(now, out);
        Outcome { result: "accepted", id, notes: vec![] }
    }
}

/// An authenticated identity must name someone.
fn nobody(feed: &'static str, by: &str) -> Option<Outcome> {
    by.trim().is_empty().then(|| refuse(feed, "identity", None, "the sender's identity is empty".into()))
}

/// A body's `officer` that is not the authenticated sender: refused, so that no device or
/// person writes in another's name.
fn not_the_sender(feed: &'static str, claimed: Option<&str>, by: &str, id: Option<String>) -> Option<Outcome> {
    let claimed = claimed.filter(|c| *c != by)?;
    Some(refuse(
        feed,
        "officer",
        id,
        format!(
            "officer: {claimed:?} is not the authenticated sender {by:?}; an entry is made in the sender's own name"
        ),
    ))
}

/// The refusal of a `submitted` ahead of the post's clock by more than
/// [`SUBMITTED_AHEAD_SECS`].
fn submitted_ahead(feed: &'static str, submitted: DateTime<Utc>, now: DateTime<Utc>, id: &str) -> Option<Outcome> {
    let ahead = (submitted - now).num_seconds();
    (ahead > SUBMITTED_AHEAD_SECS).then(|| {
        let note = format!(
            "submitted: {} is {ahead} s ahead of this post's clock ({}); a declaration is not submitted in the future",
            secs(submitted),
            secs(now)
        );
        refuse(feed, "submitted_future", Some(id.to_string()), note)
    })
}
