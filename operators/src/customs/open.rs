//! Declarations waiting for their vehicle, and the canonical keys they are matched on: a
//! plate's text in its national format, a container number with its check digit.

use super::container::parse_container;
use crate::plates::{Country, PlateError, normalise_plate};
use crate::risk::declaration::Checked;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

/// A plate read in canonical form (country aside: a plate's text is what matches).
pub(super) fn plate_key(read: &str, hint: Option<&str>) -> Result<String, PlateError> {
    let hint = hint.and_then(Country::from_code);
    match normalise_plate(read, None) {
        Ok(p) => Ok(p.text),
        Err(PlateError::Ambiguous(countries)) => {
            // Several countries' formats fit the same text: the lane's country if it is one
            // of them, else the first; the text, which is what matches, is the same.
            let c = hint.filter(|h| countries.contains(h)).or(countries.first().copied());
            normalise_plate(read, c).map(|p| p.text)
        }
        Err(e) => Err(e),
    }
}

/// A container number in canonical form, its check digit checked.
pub(super) fn container_key(read: &str) -> Result<String, String> {
    parse_container(read).map(|c| c.text()).map_err(|e| e.to_string())
}

/// A checked declaration waiting for its vehicle, with its plates and containers in
/// canonical form.
#[derive(Debug, Clone)]
pub(super) struct Open {
    pub(super) checked: Checked,
    pub(super) plates: Vec<String>,
    pub(super) containers: Vec<String>,
}

/// Declarations not yet used by a decision. Shared with the X-ray lane, which analyses a
/// scan against its declaration (mass, emptiness, manifest mix).
#[derive(Debug, Default)]
pub struct OpenDeclarations {
    pub(super) by_id: BTreeMap<String, Open>,
}

/// The open declarations, shared between the desk and the X-ray lane.
pub type SharedDeclarations = Arc<RwLock<OpenDeclarations>>;

impl OpenDeclarations {
    /// None yet, ready to share.
    pub fn shared() -> SharedDeclarations {
        Arc::new(RwLock::new(Self::default()))
    }

    /// Ids of open declarations naming any of these plates or containers, sorted.
    pub(super) fn matching(&self, plates: &BTreeSet<String>, containers: &BTreeSet<String>) -> Vec<String> {
        self.by_id
            .iter()
            .filter(|(_, o)| {
                o.plates.iter().any(|p| plates.contains(p)) || o.containers.iter().any(|c| containers.contains(c))
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The declaration a scan is of: by its id, else the one open declaration naming its
    /// container or plate; none when there is none or several.
    pub fn for_scan(
        &self,
        declaration_id: Option<&str>,
        container: Option<&str>,
        plate: Option<&str>,
    ) -> Option<crate::xray::cargo::Declaration> {
        if let Some(id) = declaration_id {
            return self.by_id.get(id).map(|o| o.checked.declaration.for_xray());
        }
        let plates: BTreeSet<String> = plate.and_then(|p| plate_key(p, None).ok()).into_iter().collect();
        let containers: BTreeSet<String> = container.and_then(|c| container_key(c).ok()).into_iter().collect();
        match self.matching(&plates, &containers).as_slice() {
            [one] => self.by_id.get(one).map(|o| o.checked.declaration.for_xray()),
            _ => None,
        }
    }
}
