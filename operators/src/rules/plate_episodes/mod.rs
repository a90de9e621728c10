//! Plate episodes: a vehicle track's plate, read off the analytics thread a few times as
//! the vehicle comes closer, becomes the track's once `settle_reads` reads agree
//! ([`crate::plates::vote`]). Then a `plate_read` episode begins — and `plate_watchlist`
//! beside it when the plate is listed — and lasts as long as the track; every later alert
//! about the track carries the plate as its correlation key.
//!
//! The one idea: reading is slow and sometimes wrong, so the rule asks for reads at most
//! every `interval_secs` per track and only of vehicles large enough to read, votes across
//! them, and says nothing until the votes agree. [`PlateEpisodes`] is one stream's state,
//! driven by its caller (the edge's camera path) with frame facts and the reads that come
//! back: no model, no thread, no clock of its own. Its settings are `[plates]`
//! ([`crate::plates::PlatesConfig`]).

mod episodes;
#[cfg(test)]
mod tests;

pub use episodes::PlateEpisodes;
