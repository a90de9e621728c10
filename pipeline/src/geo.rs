//! Places on the ground: distances and local offsets on a spherical Earth.
//!
//! The one idea: everything is WGS84 latitude/longitude in degrees ([`GeoPoint`]), and
//! every distance is metres on a sphere of the mean Earth radius. Great-circle distance
//! for "within N metres"; the local east/north plane for geometry within a city, where it
//! is exact to well under a metre.

use crate::alert::GeoPoint;

/// The mean Earth radius (IUGG), metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres (haversine).
pub fn haversine_m(a: GeoPoint, b: GeoPoint) -> f64 {
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let (dp, dl) = ((b.lat - a.lat).to_radians(), (b.lon - a.lon).to_radians());
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// East and north metres of `p` from `origin` (equirectangular: exact enough within a city).
pub fn local_m(origin: GeoPoint, p: GeoPoint) -> (f64, f64) {
    let x = (p.lon - origin.lon).to_radians() * origin.lat.to_radians().cos() * EARTH_RADIUS_M;
    let y = (p.lat - origin.lat).to_radians() * EARTH_RADIUS_M;
    (x, y)
}

/// The point `east` and `north` metres from `origin`: the inverse of [`local_m`].
pub fn offset_m(origin: GeoPoint, east: f64, north: f64) -> GeoPoint {
    GeoPoint {
        lat: origin.lat + (north / EARTH_RADIUS_M).to_degrees(),
        lon: origin.lon + (east / (EARTH_RADIUS_M * origin.lat.to_radians().cos())).to_degrees(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: GeoPoint = GeoPoint { lat: 41.3111, lon: 69.2797 };

    #[test]
    fn offsets_and_local_metres_are_inverse_and_agree_with_the_great_circle() {
        let p = offset_m(SQUARE, 300.0, -400.0);
        let (e, n) = local_m(SQUARE, p);
        assert!((e - 300.0).abs() < 1e-6 && (n + 400.0).abs() < 1e-6, "{e} {n}");
        assert!((haversine_m(SQUARE, p) - 500.0).abs() < 0.01, "{}", haversine_m(SQUARE, p));
        // One degree of longitude on the equator.
        let eq = haversine_m(GeoPoint { lat: 0.0, lon: 0.0 }, GeoPoint { lat: 0.0, lon: 1.0 });
        assert!((eq - 111_195.0).abs() < 5.0, "{eq}");
    }
}
