//! Zones and lines in normalised image coordinates (`0..=1` across and down the frame):
//! checked once when the config is loaded, then asked per track and frame whether a foot
//! point is inside a zone and whether a step between two frames crossed a line, and which
//! way.

/// A point `[x, y]`, normalised to the frame.
pub type Point = [f64; 2];

/// The point an object stands on: the bottom centre of its box `[x1, y1, x2, y2]`.
pub fn foot(bbox: [f32; 4]) -> Point {
    [f64::from(bbox[0] + bbox[2]) / 2.0, f64::from(bbox[3])]
}

fn in_frame(p: Point) -> bool {
    (0.0..=1.0).contains(&p[0]) && (0.0..=1.0).contains(&p[1])
}

/// Twice the signed area of triangle `a b c`: > 0 when `c` is left of `a → b` (with y down,
/// "left" is counter-clockwise on screen turned over; only the sign's consistency matters).
fn cross(a: Point, b: Point, c: Point) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// Whether segments `p1 p2` and `q1 q2` cross at a point inside both (touching ends and
/// collinear overlaps count too: either makes a zone's outline ambiguous).
fn segments_meet(p1: Point, p2: Point, q1: Point, q2: Point) -> bool {
    let (d1, d2) = (cross(q1, q2, p1), cross(q1, q2, p2));
    let (d3, d4) = (cross(p1, p2, q1), cross(p1, p2, q2));
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0)) && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0)) {
        return true;
    }
    let on = |a: Point, b: Point, c: Point, d: f64| {
        d == 0.0 && c[0] >= a[0].min(b[0]) && c[0] <= a[0].max(b[0]) && c[1] >= a[1].min(b[1]) && c[1] <= a[1].max(b[1])
    };
    on(q1, q2, p1, d1) || on(q1, q2, p2, d2) || on(p1, p2, q1, d3) || on(p1, p2, q2, d4)
}

/// A simple polygon inside the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    points: Vec<Point>,
}

/// Smallest zone area accepted, as a share of the frame: a zone thinner than this is a typo.
pub const MIN_ZONE_AREA: f64 = 1e-4;

impl Zone {
    /// `Err` names what is wrong: too few points, a point outside the frame (and which), no
    /// area, or two edges that cross (and which).
    pub fn new(points: Vec<Point>) -> Result<Self, String> {
        if points.len() < 3 {
            return Err(format!("a zone needs at least 3 points, not {}", points.len()));
        }
        if let Some((i, p)) =
            points.iter().enumerate().find(|(_, p)| !(in_frame(**p) && p.iter().all(|v| v.is_finite())))
        {
            return Err(format!("point {i} {p:?} is outside the frame (coordinates are 0 to 1)"));
        }
        let n = points.len();
        for i in 0..n {
            for j in i + 1..n {
                // Neighbouring edges share a point by construction.
                if j == i + 1 || (i == 0 && j == n - 1) {
                    continue;
                }
                let (a, b) = (points[i], points[(i + 1) % n]);
                let (c, d) = (points[j], points[(j + 1) % n]);
                if segments_meet(a, b, c, d) {
                    return Err(format!(
                        "edges {i}–{} and {j}–{} cross: the outline must not intersect itself",
                        (i + 1) % n,
                        (j + 1) % n
                    ));
                }
            }
        }
        let area: f64 = (0..n).map(|i| cross([0.0, 0.0], points[i], points[(i + 1) % n])).sum::<f64>().abs() / 2.0;
        if area < MIN_ZONE_AREA {
            return Err(format!(
                "the zone has no area ({area:.2e} of the frame): its points are in a line or repeated"
            ));
        }
        Ok(Self { points })
    }

    /// The outline's points, in the order given.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Whether `p` is inside (even–odd rule; a point on the outline counts as inside).
    pub fn contains(&self, p: Point) -> bool {
        let n = self.points.len();
        let mut inside = false;
        for i in 0..n {
            let (a, b) = (self.points[i], self.points[(i + 1) % n]);
            if cross(a, b, p) == 0.0 && segments_meet(a, b, p, p) {
                return true;
            }
            if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]) {
                inside = !inside;
            }
        }
        inside
    }
}

/// Which way a step crossed a line `a → b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the line's left to its right, looking from `a` to `b` on screen.
    LeftToRight,
    RightToLeft,
}

/// A counting line in the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    a: Point,
    b: Point,
}

impl Line {
    pub fn new(a: Point, b: Point) -> Result<Self, String> {
        for (name, p) in [("start", a), ("end", b)] {
            if !(in_frame(p) && p.iter().all(|v| v.is_finite())) {
                return Err(format!("the line's {name} {p:?} is outside the frame (coordinates are 0 to 1)"));
            }
        }
        if (a[0] - b[0]).hypot(a[1] - b[1]) < 1e-3 {
            return Err(format!("the line from {a:?} to {b:?} has no length"));
        }
        Ok(Self { a, b })
    }

    /// The line's start point.
    pub fn a(&self) -> Point {
        self.a
    }

    /// The line's end point.
    pub fn b(&self) -> Point {
        self.b
    }

    /// Distance of `p` from the infinite line through `a` and `b`, signed like
    /// [`Line::crossing`]'s sides: positive on the right of `a → b` on screen.
    pub fn signed_distance(&self, p: Point) -> f64 {
        cross(self.a, self.b, p) / (self.b[0] - self.a[0]).hypot(self.b[1] - self.a[1])
    }

    /// The direction a step from `from` to `to` crossed the line, if it did. A point on the
    /// line is on neither side and crosses nothing: pass as `from` the track's last position
    /// off the line, so a track that stops on it counts once, when it reaches the other side.
    pub fn crossing(&self, from: Point, to: Point) -> Option<Direction> {
        let (s0, s1) = (cross(self.a, self.b, from), cross(self.a, self.b, to));
        if s0 == 0.0 || s1 == 0.0 || (s0 > 0.0) == (s1 > 0.0) || !segments_meet(self.a, self.b, from, to) {
            return None;
        }
        // With y pointing down, a positive cross product is the right-hand side on screen.
        Some(if s0 < 0.0 { Direction::LeftToRight } else { Direction::RightToLeft })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_knows_its_inside_concave_ones_included() {
        // An L: the square's top-right quarter is cut away.
        let l = Zone::new(vec![[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.1, 0.9]]).unwrap();
        assert!(l.contains([0.3, 0.3]) && l.contains([0.7, 0.7]));
        assert!(!l.contains([0.7, 0.3]), "the cut-away corner");
        assert!(!l.contains([0.95, 0.95]) && !l.contains([0.05, 0.5]));
        assert!(l.contains([0.1, 0.5]), "on the outline counts as inside");
        let f = foot([0.2, 0.1, 0.4, 0.8]);
        assert!((f[0] - 0.3).abs() < 1e-6 && (f[1] - 0.8).abs() < 1e-6, "{f:?}");
    }

    #[test]
    fn a_bad_zone_is_refused_naming_what_is_wrong() {
        let e = Zone::new(vec![[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]).unwrap_err();
        assert!(e.contains("edges 0–1 and 2–3 cross"), "a bow tie: {e}");
        let e = Zone::new(vec![[0.1, 0.1], [1.2, 0.1], [0.5, 0.9]]).unwrap_err();
        assert!(e.contains("point 1") && e.contains("outside the frame"), "{e}");
        let e = Zone::new(vec![[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]).unwrap_err();
        assert!(e.contains("no area"), "{e}");
        assert!(Zone::new(vec![[0.1, 0.1], [0.5, 0.5]]).unwrap_err().contains("at least 3"));
        assert!(Zone::new(vec![[0.1, f64::NAN], [0.5, 0.5], [0.9, 0.1]]).unwrap_err().contains("point 0"));
    }

    #[test]
    fn a_line_counts_each_crossing_once_with_its_direction() {
        // A vertical line down the middle, drawn top to bottom: walking it, the frame's right
        // side is on the left hand.
        let line = Line::new([0.5, 0.1], [0.5, 0.9]).unwrap();
        assert_eq!(line.crossing([0.7, 0.5], [0.3, 0.5]), Some(Direction::LeftToRight));
        assert_eq!(line.crossing([0.3, 0.5], [0.7, 0.5]), Some(Direction::RightToLeft));
        assert_eq!(line.crossing([0.3, 0.5], [0.4, 0.5]), None, "same side");
        assert_eq!(line.crossing([0.3, 0.95], [0.7, 0.95]), None, "past the line's end");
        // A track that stops on the line crosses nothing yet; from its last position off the
        // line, reaching the other side counts once.
        assert_eq!(line.crossing([0.3, 0.5], [0.5, 0.5]), None);
        assert_eq!(line.crossing([0.3, 0.5], [0.7, 0.6]), Some(Direction::RightToLeft));
        assert!(Line::new([0.5, 0.5], [0.5, 0.5]).unwrap_err().contains("no length"));
        assert!(Line::new([0.5, 0.5], [1.5, 0.5]).unwrap_err().contains("end"));
    }
}
