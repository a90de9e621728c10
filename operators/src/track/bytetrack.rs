//! ByteTrack: turns each frame's detections into tracks with stable ids.
//!
//! The idea to understand first: low-score detections are not thrown away. A person
//! half hidden behind another still produces a weak box, and ByteTrack uses such boxes
//! to keep *already tracked* objects alive, while only confident boxes may start tracks
//! or revive lost ones. Per frame ([`Tracker::update`]):
//!
//! 1. every track's Kalman filter is moved forward by the real time since the last
//!    frame (frames arrive unevenly, so nothing here counts frames);
//! 2. high-score detections are matched to tracked and lost tracks by IoU against the
//!    predicted boxes;
//! 3. low-score detections are matched to the tracked tracks that are still unmatched;
//!    tracked tracks left over become lost;
//! 4. tentative tracks (seen once) are matched to the high-score detections left over;
//!    a tentative track that misses is dropped;
//! 5. high-score detections still unmatched start tentative tracks;
//! 6. lost tracks unseen for longer than [`TrackerConfig::max_lost_secs`] of event time
//!    are dropped.
//!
//! Each matching step is an optimal linear assignment (Hungarian algorithm) on the
//! `1 - IoU` cost with a threshold, not a greedy best-pair pick: in a crowd the greedy
//! choice for one track can take the only box its neighbour could match. Candidate
//! pairs must also pass a Mahalanobis gate on the Kalman prediction, so a lost track
//! whose predicted box has drifted does not latch onto any large box nearby.
//!
//! The tracker belongs to one stream's analytics thread; it allocates when tracks are
//! created and otherwise reuses its buffers from frame to frame.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::kalman::{self, BoxKalman, Projection};
use crate::detect::{BBox, Detection};

/// The longest score and class history a track keeps; bounds the stack buffer used to
/// take the median without allocating.
pub const MAX_HISTORY_LEN: usize = 64;

/// Tracker settings: score thresholds, IoU thresholds per matching stage, and how long
/// lost tracks are kept. Times are in seconds of event time, never in frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections scoring at least this are "high": they are matched first, can revive
    /// lost tracks and can start new tracks.
    pub high_score: f32,
    /// Detections scoring below this are ignored. Those between `low_score` and
    /// `high_score` only extend tracks that are currently tracked.
    pub low_score: f32,
    /// An unmatched high detection starts a track only if it scores at least this
    /// (above `high_score`, so that borderline boxes do not spawn tracks).
    pub new_track_score: f32,
    /// Least IoU between a predicted box and a high detection to match them (first
    /// stage, tracked and lost tracks).
    pub match_iou_high: f32,
    /// Least IoU for a low detection to extend a tracked track (second stage). Stricter
    /// than the first stage because low boxes are often fragments of other objects.
    pub match_iou_low: f32,
    /// Least IoU for a tentative track to match a leftover high detection.
    pub match_iou_unconfirmed: f32,
    /// How long, in seconds of event time, a lost track is kept waiting to be matched
    /// again before it is dropped for good.
    pub max_lost_secs: f64,
    /// Matched detections a track needs (its first included) before it is confirmed
    /// and reported. 1 reports tracks from their first detection.
    pub min_hits: u32,
    /// When true, a detection only matches a track of the same (majority) class. Off
    /// by default: detectors flip between similar classes (car / truck) from frame to
    /// frame, and with a hard class gate each flip loses the track; the majority vote
    /// over the class history already smooths the label. Turn it on where objects of
    /// different classes overlap closely (people getting out of cars).
    pub class_aware: bool,
    /// How many recent scores and classes each track keeps (at most
    /// [`MAX_HISTORY_LEN`]); the track's class is the majority of this window.
    pub history_len: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        // ByteTrack's published settings (track_thresh 0.5, det_thresh = +0.1, match
        // thresholds 0.8 / 0.5 / 0.7 on 1 - IoU), with the 30-frame buffer as 1.5 s.
        Self {
            high_score: 0.5,
            low_score: 0.1,
            new_track_score: 0.6,
            match_iou_high: 0.2,
            match_iou_low: 0.5,
            match_iou_unconfirmed: 0.3,
            max_lost_secs: 1.5,
            min_hits: 2,
            class_aware: false,
            history_len: 30,
        }
    }
}

/// A [`TrackerConfig`] field with a value the tracker cannot work with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTrackerConfig {
    /// The offending field, as written in the config.
    pub field: &'static str,
    /// What the value must be.
    pub expected: &'static str,
}

impl fmt::Display for InvalidTrackerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tracker config: `{}` must be {}", self.field, self.expected)
    }
}

impl std::error::Error for InvalidTrackerConfig {}

impl TrackerConfig {
    /// Checks every field, so a bad config is refused at start-up, naming the field.
    pub fn validate(&self) -> Result<(), InvalidTrackerConfig> {
        let unit = |field: &'static str, v: f32| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(InvalidTrackerConfig { field, expected: "between 0 and 1" })
            }
        };
        unit("high_score", self.high_score)?;
        unit("low_score", self.low_score)?;
        unit("new_track_score", self.new_track_score)?;
        unit("match_iou_high", self.match_iou_high)?;
        unit("match_iou_low", self.match_iou_low)?;
        unit("match_iou_unconfirmed", self.match_iou_unconfirmed)?;
        if self.low_score > self.high_score {
            return Err(InvalidTrackerConfig { field: "low_score", expected: "at most high_score" });
        }
        if !(self.max_lost_secs >= 0.0 && self.max_lost_secs.is_finite()) {
            return Err(InvalidTrackerConfig {
                field: "max_lost_secs",
                expected: "a finite number of seconds, 0 or more",
            });
        }
        if self.min_hits == 0 {
            return Err(InvalidTrackerConfig { field: "min_hits", expected: "at least 1" });
        }
        if !(1..=MAX_HISTORY_LEN).contains(&self.history_len) {
            return Err(InvalidTrackerConfig { field: "history_len", expected: "between 1 and 64" });
        }
        Ok(())
    }
}

/// Where a track is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrackState {
    /// Seen, but fewer than `min_hits` times: not reported yet, dropped at its first miss.
    Tentative,
    /// Confirmed and matched to a detection in the latest frame.
    Tracked,
    /// Confirmed, but unmatched since `last_seen`; kept for `max_lost_secs` in case it
    /// reappears (occlusion, missed detections).
    Lost,
}

/// One tracked object.
#[derive(Debug, Clone)]
pub struct Track {
    /// Stable identity: increasing in order of creation, never reused while the
    /// [`Tracker`] lives. Tentative tracks that die take their id with them, so
    /// reported ids can have gaps.
    pub id: u64,
    /// The most frequent class in the recent class history (ties go to the class seen
    /// most recently), so one misclassified frame does not relabel the object.
    pub class_id: u32,
    /// The Kalman filter's estimate of the box, in full-frame pixels: the smoothed
    /// detection when matched this frame, the prediction while lost.
    pub bbox: BBox,
    /// Score of the last detection matched to this track.
    pub score: f32,
    /// Life-cycle state.
    pub state: TrackState,
    /// Number of detections matched to this track, its first included.
    pub hits: u32,
    /// Event time (seconds) of the first detection.
    pub first_seen: f64,
    /// Event time (seconds) of the latest matched detection.
    pub last_seen: f64,
    /// The tracker's coasted time when this track was last matched: time spent coasting
    /// (no detector run) does not count towards being lost.
    coasted_at_seen: f64,
    scores: VecDeque<f32>,
    classes: VecDeque<u32>,
    history_len: usize,
    filter: BoxKalman,
    /// The filter's prediction for this frame, for gating.
    predicted: Projection,
    matched: bool,
}

impl Track {
    fn new(id: u64, det: &Detection, t: f64, coasted: f64, cfg: &TrackerConfig) -> Self {
        let mut scores = VecDeque::with_capacity(cfg.history_len);
        let mut classes = VecDeque::with_capacity(cfg.history_len);
        scores.push_back(det.score);
        classes.push_back(det.class_id);
        let filter = BoxKalman::new(&det.bbox);
        let predicted = filter.projection();
        Self {
            id,
            class_id: det.class_id,
            bbox: filter.bbox(),
            score: det.score,
            state: if cfg.min_hits <= 1 { TrackState::Tracked } else { TrackState::Tentative },
            hits: 1,
            first_seen: t,
            last_seen: t,
            coasted_at_seen: coasted,
            scores,
            classes,
            history_len: cfg.history_len,
            filter,
            predicted,
            matched: true,
        }
    }

    /// A confirmed, tracked track with the given fields, for rule tests that script
    /// tracks directly instead of driving the tracker.
    #[cfg(test)]
    pub(crate) fn scripted(id: u64, class_id: u32, bbox: BBox, score: f32, first_seen: f64, last_seen: f64) -> Self {
        let det = Detection { bbox, score, class_id };
        let mut t = Self::new(id, &det, first_seen, 0.0, &TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        t.last_seen = last_seen;
        t
    }

    /// Scores of the recent matched detections, oldest first.
    pub fn score_history(&self) -> impl ExactSizeIterator<Item = f32> + '_ {
        self.scores.iter().copied()
    }

    /// Classes of the recent matched detections, oldest first.
    pub fn class_history(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.classes.iter().copied()
    }

    /// Median of the recent detection scores (the mean of the middle two for an even
    /// count): a confidence for the object that one lucky or unlucky frame cannot move.
    pub fn median_score(&self) -> f32 {
        let mut buf = [0.0f32; MAX_HISTORY_LEN];
        let n = self.scores.len().min(MAX_HISTORY_LEN);
        for (slot, s) in buf.iter_mut().zip(self.scores.iter()) {
            *slot = *s;
        }
        let v = &mut buf[..n];
        if n == 0 {
            return self.score;
        }
        v.sort_unstable_by(f32::total_cmp);
        if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
    }

    /// Estimated velocity of the box centre in pixels per second (x right, y down).
    pub fn velocity(&self) -> [f32; 2] {
        let [vx, vy] = self.filter.velocity();
        [vx as f32, vy as f32]
    }

    /// Seconds between the first and the latest matched detection.
    pub fn age_secs(&self) -> f64 {
        self.last_seen - self.first_seen
    }

    fn absorb(&mut self, det: &Detection, t: f64, coasted: f64) {
        self.coasted_at_seen = coasted;
        self.filter.update(&det.bbox);
        self.bbox = self.filter.bbox();
        self.score = det.score;
        self.hits = self.hits.saturating_add(1);
        self.last_seen = t;
        self.matched = true;
        if self.scores.len() == self.history_len {
            self.scores.pop_front();
            self.classes.pop_front();
        }
        self.scores.push_back(det.score);
        self.classes.push_back(det.class_id);
        self.class_id = majority_class(&self.classes);
    }
}

/// The most frequent class, ties to the most recent. Histories are at most 64 long, so
/// counting by rescanning beats a map that would allocate.
fn majority_class(classes: &VecDeque<u32>) -> u32 {
    let mut best = (0usize, 0u32);
    for (i, &c) in classes.iter().enumerate().rev() {
        // Count each class once: at its most recent occurrence.
        if classes.iter().skip(i + 1).any(|&later| later == c) {
            continue;
        }
        let n = classes.iter().filter(|&&x| x == c).count();
        if n > best.0 {
            best = (n, c);
        }
    }
    best.1
}

/// Multi-object tracker for one stream. See the module docs for the algorithm.
#[derive(Debug)]
pub struct Tracker {
    cfg: TrackerConfig,
    /// Live tracks; after each update the tracks reported (`Tracked`) come first,
    /// ordered by id.
    tracks: Vec<Track>,
    reported: usize,
    next_id: u64,
    last_t: Option<f64>,
    /// Event time spent coasting since the tracker started (see [`Tracker::coast`]).
    coasted: f64,
    ended: Vec<u64>,
    ignored: u64,
    // Per-frame scratch, kept to reuse its capacity.
    high: Vec<usize>,
    low: Vec<usize>,
    pool: Vec<usize>,
    det_taken: Vec<bool>,
    matches: Vec<(usize, usize)>,
    assignment: LinearAssignment,
}

impl Tracker {
    /// A tracker with no tracks. Call [`TrackerConfig::validate`] first when the config
    /// comes from a user; out-of-range values here only make matching stricter or looser.
    pub fn new(cfg: TrackerConfig) -> Self {
        Self {
            cfg,
            tracks: Vec::new(),
            reported: 0,
            next_id: 1,
            last_t: None,
            coasted: 0.0,
            ended: Vec::new(),
            ignored: 0,
            high: Vec::new(),
            low: Vec::new(),
            pool: Vec::new(),
            det_taken: Vec::new(),
            matches: Vec::new(),
            assignment: LinearAssignment::default(),
        }
    }

    /// The settings this tracker runs with.
    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    /// Feeds one frame's detections at event time `t_secs` and returns the confirmed
    /// tracks matched in this frame, ordered by id.
    ///
    /// Times need not be evenly spaced; a time earlier than the previous frame's is
    /// treated as no time passing. Detections with a non-finite or empty box are ignored.
    pub fn update(&mut self, t_secs: f64, dets: &[Detection]) -> &[Track] {
        // Never move the clock backwards (or to NaN): removal times are measured from it.
        let (now, dt) = match self.last_t {
            Some(prev) if t_secs.is_finite() && t_secs > prev => (t_secs, t_secs - prev),
            Some(prev) => (prev, 0.0),
            None if t_secs.is_finite() => (t_secs, 0.0),
            None => (0.0, 0.0),
        };
        self.last_t = Some(now);
        self.ended.clear();

        self.split_detections(dets);

        for track in &mut self.tracks {
            if track.state != TrackState::Tracked {
                track.filter.hold_height();
            }
            track.filter.predict(dt);
            track.bbox = track.filter.bbox();
            track.predicted = track.filter.projection();
            track.matched = false;
        }

        // Stage 1: high detections against tracked and lost tracks.
        self.pool.clear();
        self.pool.extend((0..self.tracks.len()).filter(|&i| self.tracks[i].state != TrackState::Tentative));
        self.match_stage(Stage::High, dets, now);

        // Stage 2: low detections keep tracked (not lost) tracks going.
        self.pool.clear();
        self.pool.extend((0..self.tracks.len()).filter(|&i| {
            let t = &self.tracks[i];
            !t.matched && t.state == TrackState::Tracked
        }));
        self.match_stage(Stage::Low, dets, now);
        for track in &mut self.tracks {
            if !track.matched && track.state == TrackState::Tracked {
                track.state = TrackState::Lost;
            }
        }

        // Stage 3: tentative tracks against the high detections left over.
        self.pool.clear();
        self.pool.extend((0..self.tracks.len()).filter(|&i| self.tracks[i].state == TrackState::Tentative));
        self.match_stage(Stage::Unconfirmed, dets, now);

        // A tentative track must be matched in the very next frame, as in ByteTrack:
        // that is what keeps one-frame false positives from becoming tracks.
        let max_lost = self.cfg.max_lost_secs;
        let coasted = self.coasted;
        let ended = &mut self.ended;
        self.tracks.retain(|t| match t.state {
            TrackState::Tentative => t.matched,
            TrackState::Tracked => true,
            TrackState::Lost => {
                let keep = now - t.last_seen - (coasted - t.coasted_at_seen) <= max_lost;
                if !keep {
                    ended.push(t.id);
                }
                keep
            }
        });

        for &d in &self.high {
            let det = &dets[d];
            if !self.det_taken[d] && det.score >= self.cfg.new_track_score {
                self.tracks.push(Track::new(self.next_id, det, now, self.coasted, &self.cfg));
                self.next_id += 1;
            }
        }

        // Reported tracks first, each group by id, so callers get a stable order.
        self.tracks.sort_unstable_by_key(|t| (state_rank(t.state), t.id));
        self.reported = self.tracks.iter().take_while(|t| t.state == TrackState::Tracked).count();
        &self.tracks[..self.reported]
    }

    /// Advances to `t_secs` for a frame the detector did not look at (motion gating):
    /// boxes follow their motion model, nothing is matched, lost or ended, and the time
    /// does not count towards `max_lost_secs`. Returns the tracks reported before, so
    /// rules keep seeing a still object between re-checks.
    pub fn coast(&mut self, t_secs: f64) -> &[Track] {
        let dt = match self.last_t {
            Some(prev) if t_secs.is_finite() && t_secs > prev => t_secs - prev,
            _ => 0.0,
        };
        if let Some(prev) = self.last_t {
            self.last_t = Some(prev + dt);
        }
        self.coasted += dt;
        self.ended.clear();
        for track in &mut self.tracks {
            if track.state != TrackState::Tracked {
                track.filter.hold_height();
            }
            track.filter.predict(dt);
            track.bbox = track.filter.bbox();
        }
        &self.tracks[..self.reported]
    }

    /// The confirmed tracks matched in the latest frame (what [`Tracker::update`]
    /// returned, or kept by [`Tracker::coast`]).
    pub fn reported(&self) -> &[Track] {
        &self.tracks[..self.reported]
    }

    /// Every live track: reported ones first, then tentative, then lost.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Ids of confirmed tracks dropped in the latest update (lost for longer than
    /// `max_lost_secs`): their objects are gone, and episodes tied to them can end.
    pub fn ended(&self) -> &[u64] {
        &self.ended
    }

    /// Detections ignored since the tracker started because their box was empty or not
    /// finite, or their score was NaN: a sign of a broken detector, worth a metric.
    pub fn ignored_detections(&self) -> u64 {
        self.ignored
    }

    /// Sorts this frame's usable detections into high and low by score.
    fn split_detections(&mut self, dets: &[Detection]) {
        self.high.clear();
        self.low.clear();
        self.det_taken.clear();
        self.det_taken.resize(dets.len(), false);
        for (i, det) in dets.iter().enumerate() {
            if !usable_box(&det.bbox) || det.score.is_nan() {
                self.ignored += 1;
                continue;
            }
            if det.score >= self.cfg.high_score {
                self.high.push(i);
            } else if det.score >= self.cfg.low_score {
                self.low.push(i);
            }
        }
    }

    /// Matches the tracks in `self.pool` against one detection list, updates the
    /// matched tracks and takes the matched detections out of the list.
    fn match_stage(&mut self, stage: Stage, dets: &[Detection], now: f64) {
        let (det_list, min_iou) = match stage {
            Stage::High => (&mut self.high, self.cfg.match_iou_high),
            Stage::Low => (&mut self.low, self.cfg.match_iou_low),
            Stage::Unconfirmed => (&mut self.high, self.cfg.match_iou_unconfirmed),
        };
        let rows = self.pool.len();
        let cols = det_list.len();
        if rows == 0 || cols == 0 {
            return;
        }
        let class_aware = self.cfg.class_aware;
        let tracks = &self.tracks;
        let pool = &self.pool;
        let list: &[usize] = det_list;
        self.assignment.solve(rows, cols, f64::from(1.0 - min_iou), &mut self.matches, |r, c| {
            let track = &tracks[pool[r]];
            let det = &dets[list[c]];
            if class_aware && track.class_id != det.class_id {
                return None;
            }
            let iou = track.bbox.iou(&det.bbox);
            if iou < min_iou {
                return None;
            }
            // Overlap alone would let a lost track, whose predicted box drifts,
            // latch onto any large box nearby; the gate also checks size and fit.
            if track.predicted.distance(&det.bbox) > kalman::CHI2_4DOF_999 {
                return None;
            }
            Some(f64::from(1.0 - iou))
        });

        for &(r, c) in &self.matches {
            let d = det_list[c];
            let track = &mut self.tracks[self.pool[r]];
            track.absorb(&dets[d], now, self.coasted);
            track.state = match track.state {
                TrackState::Tentative if track.hits < self.cfg.min_hits => TrackState::Tentative,
                _ => TrackState::Tracked,
            };
            self.det_taken[d] = true;
        }
        let taken = &self.det_taken;
        det_list.retain(|&d| !taken[d]);
    }
}

#[derive(Clone, Copy)]
enum Stage {
    High,
    Low,
    Unconfirmed,
}

fn state_rank(state: TrackState) -> u8 {
    match state {
        TrackState::Tracked => 0,
        TrackState::Tentative => 1,
        TrackState::Lost => 2,
    }
}

fn usable_box(b: &BBox) -> bool {
    b.x1.is_finite() && b.y1.is_finite() && b.x2.is_finite() && b.y2.is_finite() && b.x2 > b.x1 && b.y2 > b.y1
}

/// Minimum-cost assignment between rows and columns where a pair may also be left
/// unmatched, solved exactly with the Hungarian algorithm (shortest augmenting paths
/// with potentials, O(rows^2 * (rows + cols))).
///
/// Leaving a row unmatched costs `limit`: the cost matrix gets one extra column per
/// row, each costing `limit` to any row, so a pair is taken only when it is cheaper
/// than leaving its row free, the same rule as `lapjv(..., cost_limit)` in ByteTrack.
/// Buffers are kept between calls.
#[derive(Debug, Default)]
pub(super) struct LinearAssignment {
    cost: Vec<f64>,
    feasible: Vec<bool>,
    row_potential: Vec<f64>,
    col_potential: Vec<f64>,
    /// For each column (1-based, 0 is the virtual start), the row holding it (1-based, 0 none).
    col_owner: Vec<usize>,
    way: Vec<usize>,
    min_slack: Vec<f64>,
    visited: Vec<bool>,
}

impl LinearAssignment {
    /// Fills `matches` with the `(row, col)` pairs of a minimum-cost assignment.
    /// `pair_cost(row, col)` is `None` where the pair is not allowed; pairs costing more
    /// than `limit` are never taken.
    pub(super) fn solve(
        &mut self,
        rows: usize,
        cols: usize,
        limit: f64,
        matches: &mut Vec<(usize, usize)>,
        mut pair_cost: impl FnMut(usize, usize) -> Option<f64>,
    ) {
        matches.clear();
        if rows == 0 || cols == 0 {
            return;
        }
        // Columns: the real ones, then `rows` dummy ones at cost `limit`. Unmatched
        // real columns cost nothing, so only the pairs and dummies count.
        let width = cols + rows;
        // Any pair dearer than a dummy is never chosen; this keeps forbidden pairs
        // out without huge numbers that would cost the potentials precision.
        let forbidden = limit + 1.0;
        self.cost.clear();
        self.feasible.clear();
        for r in 0..rows {
            for c in 0..cols {
                match pair_cost(r, c) {
                    Some(v) if v <= limit => {
                        self.cost.push(v);
                        self.feasible.push(true);
                    }
                    _ => {
                        self.cost.push(forbidden);
                        self.feasible.push(false);
                    }
                }
            }
        }

        let cost = |r: usize, c: usize, m: &[f64]| if c < cols { m[r * cols + c] } else { limit };
        self.row_potential.clear();
        self.row_potential.resize(rows + 1, 0.0);
        self.col_potential.clear();
        self.col_potential.resize(width + 1, 0.0);
        self.col_owner.clear();
        self.col_owner.resize(width + 1, 0);
        self.way.clear();
        self.way.resize(width + 1, 0);

        for row in 1..=rows {
            self.col_owner[0] = row;
            let mut col0 = 0usize;
            self.min_slack.clear();
            self.min_slack.resize(width + 1, f64::INFINITY);
            self.visited.clear();
            self.visited.resize(width + 1, false);
            loop {
                self.visited[col0] = true;
                let row0 = self.col_owner[col0];
                let mut delta = f64::INFINITY;
                let mut col1 = 0usize;
                for c in 1..=width {
                    if self.visited[c] {
                        continue;
                    }
                    let reduced = cost(row0 - 1, c - 1, &self.cost) - self.row_potential[row0] - self.col_potential[c];
                    if reduced < self.min_slack[c] {
                        self.min_slack[c] = reduced;
                        self.way[c] = col0;
                    }
                    if self.min_slack[c] < delta {
                        delta = self.min_slack[c];
                        col1 = c;
                    }
                }
                for c in 0..=width {
                    if self.visited[c] {
                        self.row_potential[self.col_owner[c]] += delta;
                        self.col_potential[c] -= delta;
                    } else {
                        self.min_slack[c] -= delta;
                    }
                }
                col0 = col1;
                if self.col_owner[col0] == 0 {
                    break;
                }
            }
            // Flip the augmenting path back to the start.
            while col0 != 0 {
                let prev = self.way[col0];
                self.col_owner[col0] = self.col_owner[prev];
                col0 = prev;
            }
        }

        for c in 1..=cols {
            let owner = self.col_owner[c];
            if owner != 0 && self.feasible[(owner - 1) * cols + (c - 1)] {
                matches.push((owner - 1, c - 1));
            }
        }
        // Row order keeps updates deterministic regardless of column order.
        matches.sort_unstable();
    }
}
