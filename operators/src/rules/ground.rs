//! Where on the ground a point of the image is: a homography from normalised image
//! coordinates to metres on a local plane, fitted to tie points from the config, and from
//! that plane to latitude / longitude.
//!
//! The idea to understand first: a camera sees flat ground through a projective map, so
//! four image points whose ground positions are known fix the map for every other point
//! of that ground. The plane is a tangent plane at the first tie point (x east, y north,
//! metres); across a camera's view (well under a few kilometres) its error against WGS 84
//! is far below the accuracy of the tie points themselves.
//!
//! Points above the horizon (sky, far walls) have no ground position: [`GroundMap::to_local`]
//! answers `None` for them, and the config is refused when a zone or line needs one.

use super::geometry::Point;
use pipeline::alert::GeoPoint;
use serde::{Deserialize, Serialize};

/// `[scenes.<camera>.ground]`: the tie points that fix the image→ground mapping.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroundConfig {
    /// At least 4 pairs of an image point and its place on the ground; with more than 4
    /// the mapping is a least-squares fit and [`GroundMap::rms_residual_m`] says how well
    /// the points agree.
    pub tie_points: Vec<TiePoint>,
}

/// One image point and where it is on the ground.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TiePoint {
    /// `[x, y]` in normalised image coordinates (0–1 across and down the frame).
    pub image: Point,
    /// Latitude, degrees (WGS 84).
    pub lat: f64,
    /// Longitude, degrees (WGS 84).
    pub lon: f64,
}

/// Ground positions farther than this from the first tie point are treated as beyond the
/// horizon: near it, a pixel spans hundreds of metres and positions mean nothing.
pub const MAX_GROUND_RANGE_M: f64 = 5_000.0;

/// Tie points closer than this on the image (normalised) are the same point.
const MIN_IMAGE_SEPARATION: f64 = 1e-3;
/// Tie points closer than this on the ground (metres) are the same place.
const MIN_GROUND_SEPARATION_M: f64 = 0.05;
/// Three points whose triangle is flatter than this (twice its area over its longest side
/// squared, about its height over its base) are taken as collinear.
const MIN_FLATNESS: f64 = 1e-2;

// WGS 84.
const WGS84_A: f64 = 6_378_137.0;
const WGS84_E2: f64 = 6.694_379_990_141_3e-3;

type Mat3 = [[f64; 3]; 3];

/// The fitted image→ground mapping of one camera. Cheap to query: a 3×3 product per point.
#[derive(Debug, Clone)]
pub struct GroundMap {
    /// Normalised image `[x, y, 1]` → local metres `[east, north, 1]`, up to scale.
    h: Mat3,
    /// Local metres → normalised image.
    inv: Mat3,
    /// The sign of the homogeneous `w` on the ground side of the horizon.
    w_sign: f64,
    origin: GeoPoint,
    /// Metres per radian of latitude and of longitude at the origin.
    m_per_rad_lat: f64,
    m_per_rad_lon: f64,
    rms_residual_m: f64,
}

impl GroundMap {
    /// Fits the mapping. `Err` names the tie point and what is wrong with it: fewer than
    /// 4, out of range, repeated, three of four in a line, or a set that fixes no mapping.
    pub fn new(cfg: &GroundConfig) -> Result<Self, String> {
        let pts = &cfg.tie_points;
        if pts.len() < 4 {
            return Err(format!("tie_points: {} given, at least 4 are needed", pts.len()));
        }
        for (i, p) in pts.iter().enumerate() {
            let [x, y] = p.image;
            if !(x.is_finite() && y.is_finite() && (0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y)) {
                return Err(format!(
                    "tie_points[{i}].image: {:?} is outside the frame (coordinates are 0 to 1)",
                    p.image
                ));
            }
            if !(p.lat.is_finite() && (-89.0..=89.0).contains(&p.lat)) {
                return Err(format!("tie_points[{i}].lat: {} is not a latitude within ±89°", p.lat));
            }
            if !(p.lon.is_finite() && (-180.0..=180.0).contains(&p.lon)) {
                return Err(format!("tie_points[{i}].lon: {} is not a longitude within ±180°", p.lon));
            }
        }
        let origin = GeoPoint { lat: pts[0].lat, lon: pts[0].lon };
        let (m_per_rad_lat, m_per_rad_lon) = radii(origin.lat);
        let mut map =
            Self { h: IDENTITY, inv: IDENTITY, w_sign: 1.0, origin, m_per_rad_lat, m_per_rad_lon, rms_residual_m: 0.0 };
        let image: Vec<Point> = pts.iter().map(|p| p.image).collect();
        let ground: Vec<Point> = pts.iter().map(|p| map.geo_to_local(GeoPoint { lat: p.lat, lon: p.lon })).collect();
        for (i, g) in ground.iter().enumerate() {
            if g[0].hypot(g[1]) > MAX_GROUND_RANGE_M {
                return Err(format!(
                    "tie_points[{i}]: {:.0} m from tie_points[0]; a camera's tie points lie within {MAX_GROUND_RANGE_M} m",
                    g[0].hypot(g[1])
                ));
            }
        }
        for i in 0..pts.len() {
            for j in 0..i {
                if dist(image[i], image[j]) < MIN_IMAGE_SEPARATION {
                    return Err(format!("tie_points[{i}].image repeats tie_points[{j}].image ({:?})", image[i]));
                }
                if dist(ground[i], ground[j]) < MIN_GROUND_SEPARATION_M {
                    return Err(format!(
                        "tie_points[{i}] is at the same place on the ground as tie_points[{j}] (lat {}, lon {})",
                        pts[i].lat, pts[i].lon
                    ));
                }
            }
        }
        if pts.len() == 4 {
            // Four points fix a homography only when no three of them are in a line.
            for (a, b, c) in [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)] {
                for (what, set) in [("image", &image), ("ground", &ground)] {
                    if flat(set[a], set[b], set[c]) {
                        return Err(format!(
                            "tie_points[{a}], [{b}] and [{c}] are in a line on the {what}: \
                             with 4 tie points no three may be collinear"
                        ));
                    }
                }
            }
        } else if (2..image.len()).all(|k| flat(image[0], image[1], image[k]))
            || (2..ground.len()).all(|k| flat(ground[0], ground[1], ground[k]))
        {
            return Err("tie_points: all points are in a line; they must span an area".into());
        }
        map.h = fit(&image, &ground).ok_or_else(|| {
            "tie_points: the points fix no mapping (singular): check for points in a line or swapped pairs".to_string()
        })?;
        map.inv = invert(&map.h).ok_or("tie_points: the fitted mapping is singular")?;
        // Every tie point must be on the same side of the horizon; one that is not was
        // paired with the wrong place.
        map.w_sign = w(&map.h, image[0]).signum();
        if let Some(i) = image.iter().position(|p| w(&map.h, *p) * map.w_sign <= 0.0) {
            return Err(format!(
                "tie_points[{i}]: the fitted mapping puts this point beyond the horizon; check its lat/lon pairing"
            ));
        }
        let sq: f64 =
            image.iter().zip(&ground).map(|(p, g)| map.to_local(*p).map_or(f64::INFINITY, |m| dist2(m, *g))).sum();
        map.rms_residual_m = (sq / pts.len() as f64).sqrt();
        if !map.rms_residual_m.is_finite() {
            return Err("tie_points: the fitted mapping sends a tie point beyond the horizon".into());
        }
        Ok(map)
    }

    /// Local ground position in metres (east, north of the first tie point) of a
    /// normalised image point, or `None` when it is beyond the horizon or farther than
    /// [`MAX_GROUND_RANGE_M`].
    pub fn to_local(&self, p: Point) -> Option<[f64; 2]> {
        let [x, y, wv] = apply(&self.h, p);
        // Near the horizon positions run away to infinity; a small margin keeps them finite.
        if wv * self.w_sign <= 1e-12 {
            return None;
        }
        let g = [x / wv, y / wv];
        (g[0].is_finite() && g[0].hypot(g[1]) <= MAX_GROUND_RANGE_M).then_some(g)
    }

    /// Latitude / longitude of a normalised image point, where it has one.
    pub fn to_geo(&self, p: Point) -> Option<GeoPoint> {
        self.to_local(p).map(|g| self.local_to_geo(g))
    }

    /// The normalised image point that sees a local ground position, where the camera
    /// sees it (in front of the camera).
    pub fn to_image(&self, g: [f64; 2]) -> Option<Point> {
        let [x, y, wv] = apply(&self.inv, g);
        let p = [x / wv, y / wv];
        (wv != 0.0 && p[0].is_finite() && p[1].is_finite() && w(&self.h, p) * self.w_sign > 0.0).then_some(p)
    }

    /// Local metres (east, north) → latitude / longitude.
    pub fn local_to_geo(&self, g: [f64; 2]) -> GeoPoint {
        let lat = self.origin.lat + (g[1] / self.m_per_rad_lat).to_degrees();
        let mut lon = self.origin.lon + (g[0] / self.m_per_rad_lon).to_degrees();
        if lon > 180.0 {
            lon -= 360.0;
        } else if lon < -180.0 {
            lon += 360.0;
        }
        GeoPoint { lat, lon }
    }

    /// Latitude / longitude → local metres (east, north).
    pub fn geo_to_local(&self, p: GeoPoint) -> [f64; 2] {
        let mut dlon = p.lon - self.origin.lon;
        if dlon > 180.0 {
            dlon -= 360.0;
        } else if dlon < -180.0 {
            dlon += 360.0;
        }
        [dlon.to_radians() * self.m_per_rad_lon, (p.lat - self.origin.lat).to_radians() * self.m_per_rad_lat]
    }

    /// The local plane's origin: the first tie point's place.
    pub fn origin(&self) -> GeoPoint {
        self.origin
    }

    /// Root-mean-square distance, in metres, between where the tie points are and where
    /// the fitted mapping puts them: 0 for exactly 4, a quality figure for more.
    pub fn rms_residual_m(&self) -> f64 {
        self.rms_residual_m
    }
}

const IDENTITY: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

/// Meridional and (parallel-circle) prime-vertical radii at a latitude, metres per radian.
fn radii(lat_deg: f64) -> (f64, f64) {
    let (s, c) = lat_deg.to_radians().sin_cos();
    let k = 1.0 - WGS84_E2 * s * s;
    (WGS84_A * (1.0 - WGS84_E2) / (k * k.sqrt()), WGS84_A / k.sqrt() * c)
}

fn dist(a: Point, b: Point) -> f64 {
    dist2(a, b).sqrt()
}

fn dist2(a: Point, b: Point) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

fn flat(a: Point, b: Point, c: Point) -> bool {
    let twice_area = ((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])).abs();
    let longest = dist2(a, b).max(dist2(b, c)).max(dist2(a, c));
    twice_area <= MIN_FLATNESS * longest
}

fn apply(m: &Mat3, p: Point) -> [f64; 3] {
    let r = |i: usize| m[i][0] * p[0] + m[i][1] * p[1] + m[i][2];
    [r(0), r(1), r(2)]
}

fn w(m: &Mat3, p: Point) -> f64 {
    apply(m, p)[2]
}

fn mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

fn invert(m: &Mat3) -> Option<Mat3> {
    let c = |r0: usize, c0: usize, r1: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    let adj = [
        [c(1, 1, 2, 2), -c(0, 1, 2, 2), c(0, 1, 1, 2)],
        [-c(1, 0, 2, 2), c(0, 0, 2, 2), -c(0, 0, 1, 2)],
        [c(1, 0, 2, 1), -c(0, 0, 2, 1), c(0, 0, 1, 1)],
    ];
    let det = m[0][0] * adj[0][0] + m[0][1] * adj[1][0] + m[0][2] * adj[2][0];
    let scale = m.iter().flatten().map(|v| v.abs()).fold(0.0, f64::max);
    if !det.is_finite() || det.abs() <= 1e-12 * scale.powi(3) {
        return None;
    }
    Some(adj.map(|row| row.map(|v| v / det)))
}

/// Hartley's normalisation: moves the points' centroid to 0 and scales their mean
/// distance from it to √2, so the linear system below is well conditioned whatever the
/// units (0–1 image against hundreds of metres).
fn normaliser(pts: &[Point]) -> Mat3 {
    let n = pts.len() as f64;
    let cx = pts.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = pts.iter().map(|p| p[1]).sum::<f64>() / n;
    let mean = pts.iter().map(|p| (p[0] - cx).hypot(p[1] - cy)).sum::<f64>() / n;
    let s = if mean > 0.0 { std::f64::consts::SQRT_2 / mean } else { 1.0 };
    [[s, 0.0, -s * cx], [0.0, s, -s * cy], [0.0, 0.0, 1.0]]
}

/// The direct linear transform: the homography `H` with `ground ~ H · image`, minimising
/// the algebraic error over all points (exact for 4). `None` when the points do not fix
/// one (the two smallest singular values are both zero).
fn fit(image: &[Point], ground: &[Point]) -> Option<Mat3> {
    let (ti, tg) = (normaliser(image), normaliser(ground));
    // AᵀA, accumulated row by row (each point gives two rows of A).
    let mut ata = [[0.0f64; 9]; 9];
    for (p, g) in image.iter().zip(ground) {
        let [x, y, _] = apply(&ti, *p);
        let [u, v, _] = apply(&tg, *g);
        let rows = [[-x, -y, -1.0, 0.0, 0.0, 0.0, u * x, u * y, u], [0.0, 0.0, 0.0, -x, -y, -1.0, v * x, v * y, v]];
        for r in &rows {
            for i in 0..9 {
                for j in 0..9 {
                    ata[i][j] += r[i] * r[j];
                }
            }
        }
    }
    let (values, vectors) = jacobi_eigen(ata);
    let mut order: [usize; 9] = std::array::from_fn(|i| i);
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let largest = values[order[8]];
    // A second (near) zero: a whole family of mappings fits; the points fix none of them.
    if largest.is_nan() || largest <= 0.0 || values[order[1]] <= 1e-10 * largest {
        return None;
    }
    let h = vectors[order[0]];
    let hn = [[h[0], h[1], h[2]], [h[3], h[4], h[5]], [h[6], h[7], h[8]]];
    let full = mul(&invert(&tg)?, &mul(&hn, &ti));
    // Scale so the entries are of order 1, keeping the sign (the horizon test uses it).
    let scale = full.iter().flatten().map(|v| v.abs()).fold(0.0, f64::max);
    (scale > 0.0 && scale.is_finite()).then(|| full.map(|row| row.map(|v| v / scale)))
}

/// Eigenvalues and eigenvectors (as rows) of a symmetric 9×9 matrix, by cyclic Jacobi
/// rotations: small, exact enough for a 9-unknown fit, and no linear-algebra crate.
fn jacobi_eigen(mut a: [[f64; 9]; 9]) -> ([f64; 9], [[f64; 9]; 9]) {
    let mut v = [[0.0f64; 9]; 9];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..9)
            .flat_map(|i| (0..9).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let total: f64 = a.iter().flatten().map(|x| x * x).sum();
        if off <= 1e-30 * total {
            break;
        }
        for p in 0..9 {
            for q in p + 1..9 {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (rp, rq) = (a[p], a[q]);
                a[p] = std::array::from_fn(|k| c * rp[k] - s * rq[k]);
                a[q] = std::array::from_fn(|k| s * rp[k] + c * rq[k]);
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    let values = std::array::from_fn(|i| a[i][i]);
    // Column k of `v` is the eigenvector of value k.
    let vectors = std::array::from_fn(|k| std::array::from_fn(|i| v[i][k]));
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metres north/east → lat/lon on a sphere, computed here independently of the code
    /// under test: the fit treats the given lat/lon as truth, and any conversion that is
    /// linear over a small area gives the same answer for a point between tie points.
    const R: f64 = 6_371_008.8;
    const LAT0: f64 = 41.311;
    const LON0: f64 = 69.279;

    fn geo(east: f64, north: f64) -> (f64, f64) {
        (LAT0 + (north / R).to_degrees(), LON0 + (east / (R * LAT0.to_radians().cos())).to_degrees())
    }

    fn sphere_m(a: GeoPoint, lat: f64, lon: f64) -> f64 {
        let dn = (a.lat - lat).to_radians() * R;
        let de = (a.lon - lon).to_radians() * R * LAT0.to_radians().cos();
        dn.hypot(de)
    }

    fn tie(image: Point, east: f64, north: f64) -> TiePoint {
        let (lat, lon) = geo(east, north);
        TiePoint { image, lat, lon }
    }

    /// A rectangle in the lower half of the frame seeing a trapezoid of road: 10 m wide
    /// at the camera's feet, 30 m wide 30 m away.
    pub(crate) fn road() -> GroundConfig {
        GroundConfig {
            tie_points: vec![
                tie([0.2, 0.5], -15.0, 30.0),
                tie([0.8, 0.5], 15.0, 30.0),
                tie([0.8, 1.0], 5.0, 0.0),
                tie([0.2, 1.0], -5.0, 0.0),
            ],
        }
    }

    #[test]
    fn four_tie_points_map_back_exactly_and_a_fifth_point_as_computed_by_hand() {
        let cfg = road();
        let map = GroundMap::new(&cfg).unwrap();
        for (i, t) in cfg.tie_points.iter().enumerate() {
            let g = map.to_geo(t.image).unwrap();
            let off = sphere_m(g, t.lat, t.lon);
            assert!(off <= 0.01, "tie point {i} maps {off} m off");
        }
        assert!(map.rms_residual_m() < 1e-6);
        // By hand: a homography keeps intersections, so the crossing of the image
        // rectangle's diagonals, (0.5, 0.75), sees the crossing of the road trapezoid's
        // diagonals: (-15, 30)→(5, 0) meets (15, 30)→(-5, 0) at east 0, north 7.5 —
        // not at the trapezoid's middle (north 15), as an affine map would have it.
        let g = map.to_geo([0.5, 0.75]).unwrap();
        let (lat, lon) = geo(0.0, 7.5);
        assert!(sphere_m(g, lat, lon) <= 0.01, "{g:?} vs {lat} {lon}");
        // And back onto the image.
        let p = map.to_image(map.geo_to_local(g)).unwrap();
        assert!(dist(p, [0.5, 0.75]) < 1e-9, "{p:?}");
        // The same point as a fifth tie point agrees exactly; a wrong fifth one shows in
        // the residual.
        let mut five = cfg.clone();
        five.tie_points.push(tie([0.5, 0.75], 0.0, 7.5));
        let m5 = GroundMap::new(&five).unwrap();
        assert!(m5.rms_residual_m() < 1e-6, "{}", m5.rms_residual_m());
        assert!(sphere_m(m5.to_geo([0.5, 0.75]).unwrap(), lat, lon) <= 0.01);
        five.tie_points[4] = tie([0.5, 0.75], 0.0, 9.5);
        let bad = GroundMap::new(&five).unwrap();
        assert!(bad.rms_residual_m() > 0.2, "{}", bad.rms_residual_m());
    }

    #[test]
    fn the_sky_has_no_ground_position() {
        let map = GroundMap::new(&road()).unwrap();
        // Local positions are from tie point 0, on the road's far edge (y = 0.5); a little
        // above that edge is farther north, and the horizon (y = 0.25) is above that.
        let far = map.to_local([0.5, 0.45]).unwrap();
        assert!(far[1] > 5.0 && (far[0] - 15.0).abs() < 0.5, "{far:?}");
        assert!(map.to_local([0.5, 0.26]).unwrap()[1] > 1000.0, "near the horizon");
        assert_eq!(map.to_local([0.5, 0.05]), None, "above the horizon");
    }

    #[test]
    fn local_and_geo_round_trip() {
        let map = GroundMap::new(&road()).unwrap();
        for g in [[0.0, 0.0], [120.5, -33.25], [-999.0, 1500.0]] {
            let back = map.geo_to_local(map.local_to_geo(g));
            assert!(dist(back, g) < 1e-6, "{g:?} → {back:?}");
        }
        assert_eq!(map.origin().lat, road().tie_points[0].lat);
    }

    #[test]
    fn degenerate_tie_points_are_refused_naming_the_problem() {
        let mut three = road();
        three.tie_points.pop();
        assert!(GroundMap::new(&three).unwrap_err().contains("3 given, at least 4"));

        let mut dup = road();
        dup.tie_points[3].image = dup.tie_points[1].image;
        let e = GroundMap::new(&dup).unwrap_err();
        assert!(e.contains("tie_points[3].image repeats tie_points[1]"), "{e}");

        let mut same_place = road();
        same_place.tie_points[2] = tie([0.7, 0.9], -15.0, 30.0);
        let e = GroundMap::new(&same_place).unwrap_err();
        assert!(e.contains("tie_points[2] is at the same place") && e.contains("tie_points[0]"), "{e}");

        let mut collinear = road();
        collinear.tie_points[2].image = [0.5, 0.5];
        let e = GroundMap::new(&collinear).unwrap_err();
        assert!(e.contains("tie_points[0], [1] and [2] are in a line on the image"), "{e}");

        let mut collinear_ground = road();
        collinear_ground.tie_points[3] = tie([0.2, 1.0], 0.0, 30.0);
        let e = GroundMap::new(&collinear_ground).unwrap_err();
        assert!(e.contains("in a line on the ground"), "{e}");

        let line: Vec<TiePoint> = (0..5).map(|i| tie([0.1 + 0.15 * i as f64, 0.6], i as f64, 2.0 * i as f64)).collect();
        let e = GroundMap::new(&GroundConfig { tie_points: line }).unwrap_err();
        assert!(e.contains("all points are in a line"), "{e}");

        let mut outside = road();
        outside.tie_points[1].image = [1.2, 0.5];
        assert!(GroundMap::new(&outside).unwrap_err().contains("tie_points[1].image"));
        let mut lat = road();
        lat.tie_points[2].lat = f64::NAN;
        assert!(GroundMap::new(&lat).unwrap_err().contains("tie_points[2].lat"));
        let mut far = road();
        far.tie_points[3] = tie([0.2, 1.0], -5.0, -9000.0);
        let e = GroundMap::new(&far).unwrap_err();
        assert!(e.contains("tie_points[3]: 90") && e.contains("m from tie_points[0]"), "{e}");

        // Two pairs swapped: the image outline becomes a bow tie while the ground's is
        // not, which only a mapping through the horizon could do.
        let mut swapped = road();
        let (a, b) = (swapped.tie_points[1].image, swapped.tie_points[2].image);
        swapped.tie_points[1].image = b;
        swapped.tie_points[2].image = a;
        assert!(GroundMap::new(&swapped).is_err(), "a crossed quadrilateral fixes no sensible mapping");
    }
}
