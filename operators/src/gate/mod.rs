//! Identity text read at a border or customs gate: the vehicle's plate, which may be from
//! Uzbekistan or any of its neighbours, and the ISO 6346 number of the container it carries.
//!
//! The one idea: both are read by OCR or keyed by hand, so both are first put into a
//! canonical form in which the layout says which positions hold letters and which digits;
//! a letter/digit confusion (0/O, 1/I, 8/B …) is undone by position, and what cannot be
//! put into a known layout is refused with the reason, for the lane to ask for a manual
//! entry. A container number also carries a check digit, so one misread character is
//! caught rather than guessed at.
//!
//! [`plates`] normalises plates of eight countries (Uzbek ones through
//! [`crate::plates::normalise`]); [`container`] parses and checks container numbers.

pub mod container;
pub mod plates;

pub use container::{ContainerError, ContainerNumber, check_digit, parse_container};
pub use plates::{Country, PlateError, VehiclePlate, normalise_plate};
