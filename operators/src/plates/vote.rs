//! One plate per track: the reads of a vehicle's frames, voted.
//!
//! The one idea: a single frame's read is a guess; a track's plate is what its reads agree
//! on. Reads vote with their confidence twice: as whole texts (the plate most of the
//! confidence backs wins outright), and character by character within a format (so three
//! frames that each get a different character wrong still give the right plate). The
//! voted plate is what a track and its alerts carry as the `plate` correlation key, and
//! what the watch list is matched against.

use super::ocr::PlateRead;
use super::{Format, Hit, Plate, WatchList, normalise};
use std::collections::HashMap;

/// A track's plate as voted.
#[derive(Debug, Clone, PartialEq)]
pub struct VotedPlate {
    pub plate: Plate,
    /// Reads that gave exactly this plate.
    pub support: u32,
    /// Reads that gave a plate (frames read as no plate are not counted).
    pub reads: u32,
    /// How much of the voting confidence backs this plate, 0–1: per character, the share of
    /// all reads' confidence for the chosen character, averaged.
    pub agreement: f32,
}

impl VotedPlate {
    /// The correlation key alerts carry (`Correlation::plate`): the canonical text, `01A123BC`.
    pub fn key(&self) -> &str {
        &self.plate.text
    }

    /// The watch-list entry this plate hits, if any.
    pub fn watch(&self, list: &WatchList) -> Option<Hit> {
        list.find(&self.plate)
    }
}

/// Digits then letters: 36 symbols per position.
fn symbol(c: char) -> Option<usize> {
    match c {
        '0'..='9' => Some(c as usize - '0' as usize),
        'A'..='Z' => Some(10 + c as usize - 'A' as usize),
        _ => None,
    }
}

fn symbol_char(i: usize) -> char {
    if i < 10 { (b'0' + i as u8) as char } else { (b'A' + (i - 10) as u8) as char }
}

fn format_index(f: Format) -> usize {
    match f {
        Format::Private => 0,
        Format::Company => 1,
    }
}

/// The votes of one track.
#[derive(Debug, Clone)]
pub struct PlateVotes {
    /// Per plate read: summed confidence and count. Few per track.
    texts: Vec<(Plate, f32, u32)>,
    /// Per format, per position, per symbol: summed character confidence.
    positions: [[[f32; 36]; 8]; 2],
    /// Per format: summed plate confidence.
    formats: [f32; 2],
    /// Summed plate confidence over all plate reads.
    total: f32,
    reads: u32,
    unread: u32,
}

/// Confidence a read votes with at least, so a read the recogniser was unsure of still counts.
const MIN_WEIGHT: f32 = 0.05;

impl Default for PlateVotes {
    fn default() -> Self {
        Self { texts: Vec::new(), positions: [[[0.0; 36]; 8]; 2], formats: [0.0; 2], total: 0.0, reads: 0, unread: 0 }
    }
}

impl PlateVotes {
    /// No votes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one frame's read: a plate votes, an unread line is only counted.
    pub fn add(&mut self, read: &PlateRead) {
        match &read.plate {
            Ok(plate) => self.add_plate(plate, &read.char_confidence),
            Err(_) => self.unread += 1,
        }
    }

    /// Adds a plate with the confidence of each of its eight characters (0–1).
    pub fn add_plate(&mut self, plate: &Plate, char_confidence: &[f32; 8]) {
        let conf = char_confidence.map(|c| c.clamp(MIN_WEIGHT, 1.0));
        let weight = conf.iter().sum::<f32>() / 8.0;
        let f = format_index(plate.format);
        for (k, c) in plate.text.chars().enumerate().take(8) {
            if let Some(s) = symbol(c) {
                self.positions[f][k][s] += conf[k];
            }
        }
        self.formats[f] += weight;
        self.total += weight;
        self.reads += 1;
        match self.texts.iter_mut().find(|(p, _, _)| p == plate) {
            Some(t) => {
                t.1 += weight;
                t.2 += 1;
            }
            None => self.texts.push((plate.clone(), weight, 1)),
        }
    }

    /// Plate reads counted.
    pub fn reads(&self) -> u32 {
        self.reads
    }

    /// Frames read as no plate.
    pub fn unread(&self) -> u32 {
        self.unread
    }

    /// The plate the reads agree on; `None` before any plate was read. A plate backed by
    /// at least half of the confidence wins outright; otherwise each character is voted
    /// within the more confident format (when that gives a valid plate).
    pub fn best(&self) -> Option<VotedPlate> {
        let (top, top_weight, _) = self.texts.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
        let plate =
            if *top_weight >= 0.5 * self.total { top.clone() } else { self.by_position().unwrap_or(top.clone()) };
        let support = self.texts.iter().find(|(p, _, _)| *p == plate).map_or(0, |t| t.2);
        Some(VotedPlate { agreement: self.agreement(&plate), plate, support, reads: self.reads })
    }

    /// Each position's most confident character in the more confident format.
    fn by_position(&self) -> Option<Plate> {
        let f = if self.formats[1] > self.formats[0] { 1 } else { 0 };
        let text: String = self.positions[f]
            .iter()
            .map(|votes| {
                let (best, _) = votes.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("36 symbols");
                symbol_char(best)
            })
            .collect();
        normalise(&text).ok().filter(|p| format_index(p.format) == f)
    }

    fn agreement(&self, plate: &Plate) -> f32 {
        if self.total <= 0.0 {
            return 0.0;
        }
        let f = format_index(plate.format);
        let mut share = 0.0;
        for (k, c) in plate.text.chars().enumerate().take(8) {
            let votes = &self.positions[f][k];
            let all: f32 = self.positions.iter().map(|p| p[k].iter().sum::<f32>()).sum();
            if let Some(s) = symbol(c)
                && all > 0.0
            {
                share += votes[s] / all;
            }
        }
        share / 8.0
    }
}

/// Votes for every live track, keyed by track id.
#[derive(Debug, Clone, Default)]
pub struct PlateVoter {
    tracks: HashMap<u64, PlateVotes>,
}

impl PlateVoter {
    /// No tracks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a read of `track`'s vehicle.
    pub fn add(&mut self, track: u64, read: &PlateRead) {
        self.tracks.entry(track).or_default().add(read);
    }

    /// The track's plate so far.
    pub fn best(&self, track: u64) -> Option<VotedPlate> {
        self.tracks.get(&track)?.best()
    }

    /// The track's votes.
    pub fn votes(&self, track: u64) -> Option<&PlateVotes> {
        self.tracks.get(&track)
    }

    /// The track's plate so far and the watch-list entry it hits.
    pub fn watch(&self, track: u64, list: &WatchList) -> Option<(VotedPlate, Hit)> {
        let voted = self.best(track)?;
        let hit = voted.watch(list)?;
        Some((voted, hit))
    }

    /// Forgets an ended track, returning its final plate.
    pub fn end(&mut self, track: u64) -> Option<VotedPlate> {
        self.tracks.remove(&track)?.best()
    }

    /// Tracks with votes.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// No track has votes.
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Unread;
    use super::*;

    fn read(text: &str, conf: f32) -> PlateRead {
        PlateRead {
            text: text.into(),
            plate: normalise(text),
            confidence: conf,
            char_confidence: [conf; 8],
            quad: [[0.0; 2]; 4],
        }
    }

    #[test]
    fn three_frames_with_one_misread_vote_the_right_plate() {
        let mut v = PlateVotes::new();
        // The misread is the most confident single read, and a same-kind confusion (8 for 3).
        v.add(&read("01A123BC", 0.8));
        v.add(&read("01A128BC", 0.95));
        v.add(&read("01A123BC", 0.7));
        let best = v.best().unwrap();
        assert_eq!((best.key(), best.support, best.reads), ("01A123BC", 2, 3));
        assert!(best.agreement > 0.9 && best.agreement < 1.0, "{}", best.agreement);
    }

    #[test]
    fn characters_are_voted_when_no_read_has_a_majority() {
        let mut v = PlateVotes::new();
        // Each frame gets a different character wrong; no two agree on the whole plate.
        for r in ["01A123BC", "01A128BC", "01A723BC", "01A123BP"] {
            v.add(&read(r, 0.9));
        }
        let mut wrong = PlateVotes::new();
        for r in ["01A128BC", "01A723BC", "01A123BP"] {
            wrong.add(&read(r, 0.9));
        }
        assert_eq!(wrong.best().unwrap().key(), "01A123BC", "voted by position, read in no frame");
        assert_eq!(wrong.best().unwrap().support, 0);
        assert_eq!(v.best().unwrap().key(), "01A123BC");
    }

    #[test]
    fn unread_frames_are_counted_not_voted_and_an_empty_track_has_no_plate() {
        let mut v = PlateVotes::new();
        assert_eq!(v.best(), None);
        let mut unread = read("01A12BC", 0.9);
        assert_eq!(unread.plate, Err(Unread::Length(7)));
        v.add(&unread);
        assert_eq!((v.best(), v.unread(), v.reads()), (None, 1, 0));
        unread.plate = Err(Unread::NoText);
        v.add(&unread);
        v.add(&read("30 777 ABC", 0.6));
        assert_eq!(v.best().unwrap().key(), "30777ABC");
        assert_eq!(v.unread(), 2);
    }

    #[test]
    fn the_voter_keeps_tracks_apart_and_matches_the_watch_list() {
        let list = WatchList::new([("01 A 123 BC", "stolen")]).unwrap();
        let mut voter = PlateVoter::new();
        voter.add(1, &read("01A123BC", 0.9));
        voter.add(2, &read("30777ABC", 0.9));
        voter.add(1, &read("01A128BC", 0.5));
        let (voted, hit) = voter.watch(1, &list).unwrap();
        assert_eq!((voted.key(), hit.reason.as_str(), hit.confusions), ("01A123BC", "stolen", 0));
        assert!(voter.watch(2, &list).is_none());
        assert!(voter.watch(2, &WatchList::new([]).unwrap()).is_none(), "an empty list matches nothing");
        assert_eq!(voter.end(2).unwrap().key(), "30777ABC");
        assert_eq!((voter.len(), voter.best(2)), (1, None));
        assert!(voter.best(99).is_none());
    }
}
