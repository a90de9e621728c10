//! Indexes over one site's open incidents, so an alert reaches the few incidents it may link to
//! without looking at every open one: ingest stays O(log n) in the number of open incidents
//! (plus the few incidents that share an alert's grid cells, key values or count group).
//!
//! The one idea: the indexes only *over-approximate*. The engine checks every candidate with
//! the same rule logic as before and walks candidates in creation order, so an index may return
//! extra incidents but must never miss one a rule could link to.

use super::config::{FusionConfig, RuleConfig};
use super::engine::IncidentKeys;
use pipeline::alert::GeoPoint;
use pipeline::geo::EARTH_RADIUS_M;
use std::collections::{BTreeSet, HashMap};

/// Relative slack on the grid's radius, so float rounding in the cell arithmetic or in
/// `pipeline::geo::haversine_m` can never push a point within the radius two cells away.
const SLACK: f64 = 1.01;

/// Smallest cell edge, degrees (about 1 cm): keeps cell indices finite for tiny radii.
const MIN_CELL_DEG: f64 = 1e-7;

/// A grid cell: (latitude row, longitude column within that row).
pub(super) type Cell = (i64, i64);

/// A spatial hash of points on the sphere for one search radius: a point within the radius of
/// a query point is always in one of the query's 3×3 neighbouring cells.
///
/// Rows are bands of latitude at least the radius high. Each row has its own number of
/// columns tiling the full 360° of longitude (so ±180° wraps), each column at least as wide
/// as the longitude difference the radius can span anywhere in that row or its neighbours;
/// near the poles that is the whole ring, one column.
pub(super) struct Grid {
    /// Angular radius with slack, radians.
    radius_rad: f64,
    /// Row height, degrees of latitude.
    row_deg: f64,
    cells: HashMap<Cell, Vec<u64>>,
}

impl Grid {
    /// A grid for finding points within `radius_m` metres (great-circle).
    pub(super) fn new(radius_m: f64) -> Self {
        let radius_rad = radius_m * SLACK / EARTH_RADIUS_M;
        // Great-circle distance is at least the latitude difference.
        let row_deg = radius_rad.to_degrees().max(MIN_CELL_DEG);
        Self { radius_rad, row_deg, cells: HashMap::new() }
    }

    /// The cell holding `p`.
    pub(super) fn cell(&self, p: GeoPoint) -> Cell {
        let row = self.row(p.lat);
        (row, column(p.lon, self.columns(row)))
    }

    pub(super) fn insert(&mut self, cell: Cell, seq: u64) {
        self.cells.entry(cell).or_default().push(seq);
    }

    pub(super) fn remove(&mut self, cell: Cell, seq: u64) {
        if let Some(seqs) = self.cells.get_mut(&cell) {
            seqs.retain(|&s| s != seq);
            if seqs.is_empty() {
                self.cells.remove(&cell);
            }
        }
    }

    /// Appends every point stored within the radius of `p` (and some farther), unsorted.
    pub(super) fn candidates(&self, p: GeoPoint, out: &mut Vec<u64>) {
        let row = self.row(p.lat);
        for r in row - 1..=row + 1 {
            let n = self.columns(r);
            let c = column(p.lon, n);
            let cols = if n <= 3 { 0..n } else { c - 1..c + 2 };
            for col in cols {
                if let Some(seqs) = self.cells.get(&(r, col.rem_euclid(n))) {
                    out.extend_from_slice(seqs);
                }
            }
        }
    }

    fn row(&self, lat: f64) -> i64 {
        ((lat + 90.0) / self.row_deg).floor() as i64
    }

    /// Columns in `row`: each at least as wide as the longitude difference between two points
    /// within the radius, one in this row and one in this or a neighbouring row.
    fn columns(&self, row: i64) -> i64 {
        let lo = row as f64 * self.row_deg - 90.0 - self.row_deg;
        let hi = (row + 1) as f64 * self.row_deg - 90.0 + self.row_deg;
        let max_lat = lo.abs().max(hi.abs()).min(90.0);
        // Haversine: cos φ1 cos φ2 sin²(Δλ/2) ≤ sin²(d/2), and cos φ ≥ cos(max_lat) for both.
        // Past a quarter turn sin(d/2) shrinks again; the clamp keeps the bound an upper one.
        let s = (self.radius_rad / 2.0).min(std::f64::consts::FRAC_PI_2).sin() / max_lat.to_radians().cos();
        if s.is_nan() || s >= 1.0 {
            return 1; // any longitude difference is within reach
        }
        let width = (2.0 * s.asin()).to_degrees().max(MIN_CELL_DEG);
        ((360.0 / width).floor() as i64).max(1)
    }
}

/// Column of `lon` among `n` equal columns starting at -180°; 180° is column 0 again.
fn column(lon: f64, n: i64) -> i64 {
    (((lon + 180.0) / 360.0 * n as f64).floor() as i64).rem_euclid(n)
}

/// Where one incident is entered in the [`Indexes`], so it can be updated and removed.
#[derive(Default)]
pub(super) struct Indexed {
    cell: Option<Cell>,
    /// Per correlation key: how many of the incident's values (a prefix; they only grow) are indexed.
    keys: [usize; 3],
    last_us: Option<i64>,
}

/// What the indexes need to know of an incident.
pub(super) struct Entry<'a> {
    /// A correlation incident (not an `event_count` one).
    pub correlation: bool,
    pub rule_mask: u64,
    pub place: Option<GeoPoint>,
    pub keys: &'a IncidentKeys,
    pub last_us: i64,
}

/// The indexes of one site's open incidents (by seq, the engine-wide creation order).
pub(super) struct Indexes {
    /// Bits of the `near` rules.
    near_mask: u64,
    /// Per correlation key: bits of the `same_key` rules on that key.
    key_masks: [u64; 3],
    /// `near` anchors of correlation incidents a `near` rule may link to; for the largest radius.
    grid: Option<Grid>,
    /// Per correlation key: value → incidents holding it that a `same_key` rule on it may link to.
    keys: [HashMap<String, Vec<u64>>; 3],
    /// Per rule index (unused for other rules): group → that rule's `event_count` incidents.
    counts: Vec<HashMap<String, BTreeSet<u64>>>,
    /// `(last member's event time, seq)` of every open incident: the retention queue.
    expiry: BTreeSet<(i64, u64)>,
}

impl Indexes {
    pub(super) fn new(cfg: &FusionConfig) -> Self {
        let mut near_mask = 0;
        let mut key_masks = [0; 3];
        let mut radius = None::<f64>;
        for (i, rule) in cfg.rules.iter().enumerate() {
            match rule {
                RuleConfig::Near(n) => {
                    near_mask |= 1 << i;
                    radius = Some(radius.map_or(n.radius_m, |r| r.max(n.radius_m)));
                }
                RuleConfig::SameKey(s) => key_masks[s.key as usize] |= 1 << i,
                RuleConfig::EventCount(_) => {}
            }
        }
        Self {
            near_mask,
            key_masks,
            grid: radius.map(Grid::new),
            keys: Default::default(),
            counts: cfg.rules.iter().map(|_| HashMap::new()).collect(),
            expiry: BTreeSet::new(),
        }
    }

    /// Appends (unsorted, maybe repeated) the correlation incidents a `near` or `same_key` rule
    /// in `alert_mask` may link an alert at `place` with correlation key values `keys` to.
    pub(super) fn candidates(
        &self,
        place: Option<GeoPoint>,
        keys: [Option<&str>; 3],
        alert_mask: u64,
        out: &mut Vec<u64>,
    ) {
        if let (Some(grid), Some(p)) = (&self.grid, place)
            && alert_mask & self.near_mask != 0
        {
            grid.candidates(p, out);
        }
        for (i, value) in keys.iter().enumerate() {
            if let Some(v) = value
                && alert_mask & self.key_masks[i] != 0
                && let Some(seqs) = self.keys[i].get(*v)
            {
                out.extend_from_slice(seqs);
            }
        }
    }

    /// The open incidents of `event_count` rule `rule` and `group`, oldest first.
    pub(super) fn count_incidents(&self, rule: usize, group: &str) -> impl Iterator<Item = u64> + '_ {
        self.counts[rule].get(group).into_iter().flatten().copied()
    }

    pub(super) fn add_count(&mut self, rule: usize, group: &str, seq: u64) {
        self.counts[rule].entry(group.to_string()).or_default().insert(seq);
    }

    /// Brings incident `seq`'s entries up to date after it was created or changed.
    pub(super) fn sync(&mut self, seq: u64, at: &mut Indexed, e: Entry<'_>) {
        if at.last_us != Some(e.last_us) {
            if let Some(old) = at.last_us {
                self.expiry.remove(&(old, seq));
            }
            self.expiry.insert((e.last_us, seq));
            at.last_us = Some(e.last_us);
        }
        if !e.correlation {
            return;
        }
        if let Some(grid) = &mut self.grid {
            let cell = e.place.filter(|_| e.rule_mask & self.near_mask != 0).map(|p| grid.cell(p));
            if cell != at.cell {
                if let Some(old) = at.cell {
                    grid.remove(old, seq);
                }
                if let Some(new) = cell {
                    grid.insert(new, seq);
                }
                at.cell = cell;
            }
        }
        for i in 0..3 {
            if e.rule_mask & self.key_masks[i] == 0 {
                continue; // the mask only grows: once indexed, a key stays indexed
            }
            let values = e.keys.values(i);
            for v in &values[at.keys[i]..] {
                self.keys[i].entry(v.clone()).or_default().push(seq);
            }
            at.keys[i] = values.len();
        }
    }

    /// Removes incident `seq` from every index (it closed or was merged away).
    pub(super) fn remove(&mut self, seq: u64, at: &Indexed, keys: &IncidentKeys, count: Option<&(usize, String)>) {
        if let Some(last) = at.last_us {
            self.expiry.remove(&(last, seq));
        }
        if let (Some(grid), Some(cell)) = (&mut self.grid, at.cell) {
            grid.remove(cell, seq);
        }
        for i in 0..3 {
            for v in &keys.values(i)[..at.keys[i]] {
                if let Some(seqs) = self.keys[i].get_mut(v.as_str()) {
                    seqs.retain(|&s| s != seq);
                    if seqs.is_empty() {
                        self.keys[i].remove(v.as_str());
                    }
                }
            }
        }
        if let Some((rule, group)) = count
            && let Some(seqs) = self.counts[*rule].get_mut(group)
        {
            seqs.remove(&seq);
            if seqs.is_empty() {
                self.counts[*rule].remove(group);
            }
        }
    }

    /// Takes the incidents whose last member's event time is before `horizon` off the
    /// retention queue, appending their seqs in expiry order.
    pub(super) fn pop_expired(&mut self, horizon: i64, out: &mut Vec<u64>) {
        while let Some(&(last, seq)) = self.expiry.first()
            && last < horizon
        {
            self.expiry.pop_first();
            out.push(seq);
        }
    }
}
