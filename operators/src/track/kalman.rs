//! Constant-velocity Kalman filter over one box: the tracker's motion model.
//!
//! The state is the SORT/ByteTrack one: box centre `(cx, cy)`, aspect ratio `a = w / h`,
//! height `h`, and the rate of change of each. The idea to understand first: rates are
//! per *second*, not per frame, and [`BoxKalman::predict`] takes the real time step,
//! because frames arrive unevenly (drops, motion gating). The process noise is the
//! exact discretisation of a continuous model (white-noise acceleration plus a random
//! walk on position), scaled by box height as in ByteTrack, so predicting 0.4 s ahead
//! gives the same answer in one step as in ten.
//!
//! The matrices are small and fixed (8 x 8 state, 4 x 4 innovation), so the algebra is
//! written out by hand over arrays, in `f64` so the covariance stays symmetric and
//! positive through long runs. Nothing here allocates.

// Index loops read like the matrix algebra they implement; iterator chains would not.
#![allow(clippy::needless_range_loop)]

use crate::detect::BBox;

/// State: `[cx, cy, a, h, vcx, vcy, va, vh]`; the first `MEAS` entries are measured.
const STATE: usize = 8;
/// Measurement: `[cx, cy, a, h]`.
const MEAS: usize = 4;

type StateCov = [[f64; STATE]; STATE];

/// ByteTrack's noise constants are per frame at this rate; it converts them to seconds.
const REFERENCE_FPS: f64 = 30.0;
/// ByteTrack's `std_weight_position`: box position and height are known to about this
/// fraction of the box height (measurement noise, initial uncertainty).
const STD_WEIGHT_POSITION: f64 = 1.0 / 20.0;
/// ByteTrack's `std_weight_velocity`, per frame; sets the initial velocity uncertainty.
const STD_WEIGHT_VELOCITY: f64 = 1.0 / 160.0;
/// ByteTrack's per-frame noise on the aspect ratio and on its rate, which do not scale
/// with height.
const STD_ASPECT: f64 = 1e-2;
const STD_ASPECT_VELOCITY: f64 = 1e-5;
/// ByteTrack's measurement noise on the aspect ratio.
const STD_ASPECT_MEASUREMENT: f64 = 1e-1;

/// Box wobble that motion does not explain (posture, detector jitter), as a random
/// walk: its standard deviation after one second, as a fraction of box height.
const POSITION_NOISE: f64 = 0.05;
/// Unmodelled acceleration: within one second the velocity drifts by about this
/// fraction of the box height per second (people starting, stopping, turning). Half
/// of what ByteTrack's per-frame constant amounts to at 30 fps, which made velocity
/// estimates too jumpy to carry a track across gaps of several hundred milliseconds.
const ACCELERATION_NOISE: f64 = 0.5;

/// Floor for the height used to scale noise, so a degenerate box cannot zero the
/// covariance and make the filter overconfident.
const MIN_NOISE_HEIGHT: f64 = 1.0;

/// The 0.999 quantile of chi-square with 4 degrees of freedom. A box whose
/// [`Projection::distance`] exceeds it is not the tracked object, to about one chance
/// in a thousand under the model.
pub const CHI2_4DOF_999: f64 = 18.4668;

/// Kalman filter for one tracked box under a constant-velocity model.
///
/// Velocities are in pixels (or aspect units) per second. Build it from the first
/// detection with [`BoxKalman::new`], then per frame call [`BoxKalman::predict`] with the
/// seconds since the previous frame and, when a detection was matched,
/// [`BoxKalman::update`].
#[derive(Debug, Clone)]
pub struct BoxKalman {
    mean: [f64; STATE],
    cov: StateCov,
}

impl BoxKalman {
    /// Starts a filter at `bbox` with zero velocity and ByteTrack's initial uncertainty
    /// (wide on velocity, since one box says nothing about motion), in per-second units.
    pub fn new(bbox: &BBox) -> Self {
        let z = measurement(bbox);
        let h = noise_height(z[3]);
        // Velocity stds are per frame at the reference rate; times the rate, per second.
        let per_sec = REFERENCE_FPS;
        let std = [
            2.0 * STD_WEIGHT_POSITION * h,
            2.0 * STD_WEIGHT_POSITION * h,
            STD_ASPECT,
            2.0 * STD_WEIGHT_POSITION * h,
            10.0 * STD_WEIGHT_VELOCITY * h * per_sec,
            10.0 * STD_WEIGHT_VELOCITY * h * per_sec,
            STD_ASPECT_VELOCITY * per_sec,
            10.0 * STD_WEIGHT_VELOCITY * h * per_sec,
        ];
        let mut mean = [0.0; STATE];
        mean[..MEAS].copy_from_slice(&z);
        let mut cov = [[0.0; STATE]; STATE];
        for (i, s) in std.iter().enumerate() {
            cov[i][i] = s * s;
        }
        Self { mean, cov }
    }

    /// Moves the state `dt` seconds forward: position += velocity * dt, and the
    /// covariance grows by the process noise for `dt` seconds. A non-positive or
    /// non-finite `dt` (repeated or out-of-order timestamps) leaves the filter unchanged.
    pub fn predict(&mut self, dt: f64) {
        if !(dt > 0.0 && dt.is_finite()) {
            return;
        }
        let h = noise_height(self.mean[3]);

        for i in 0..MEAS {
            self.mean[i] += dt * self.mean[i + MEAS];
        }

        // P' = F P F^T with F = [[I, dt I], [0, I]], written per 4 x 4 block. The
        // position block reads the old off-diagonal blocks, so it goes first.
        let p = &mut self.cov;
        for i in 0..MEAS {
            for j in 0..MEAS {
                p[i][j] += dt * (p[i + MEAS][j] + p[i][j + MEAS]) + dt * dt * p[i + MEAS][j + MEAS];
            }
        }
        for i in 0..MEAS {
            for j in 0..MEAS {
                p[i][j + MEAS] += dt * p[i + MEAS][j + MEAS];
                p[j + MEAS][i] = p[i][j + MEAS];
            }
        }

        // + Q(dt). Per measured quantity: a random walk (variance `walk` per second)
        // and white-noise acceleration of intensity `accel`, whose exact discretisation
        // is accel * [[dt^3/3, dt^2/2], [dt^2/2, dt]]. Both add up exactly over
        // consecutive steps, so the filter does not depend on how time is sliced.
        let walk_pos = (POSITION_NOISE * h).powi(2);
        let accel_pos = (ACCELERATION_NOISE * h).powi(2);
        // The aspect ratio keeps ByteTrack's per-frame noise, made per second.
        let walk_aspect = STD_ASPECT * STD_ASPECT * REFERENCE_FPS;
        let accel_aspect = (STD_ASPECT_VELOCITY * REFERENCE_FPS).powi(2) * REFERENCE_FPS;
        let walk = [walk_pos, walk_pos, walk_aspect, walk_pos];
        let accel = [accel_pos, accel_pos, accel_aspect, accel_pos];
        let (dt2, dt3) = (dt * dt, dt * dt * dt);
        for i in 0..MEAS {
            p[i][i] += walk[i] * dt + accel[i] * dt3 / 3.0;
            p[i][i + MEAS] += accel[i] * dt2 / 2.0;
            p[i + MEAS][i] += accel[i] * dt2 / 2.0;
            p[i + MEAS][i + MEAS] += accel[i] * dt;
        }
    }

    /// Corrects the state with a measured box (the standard Kalman update).
    pub fn update(&mut self, bbox: &BBox) {
        let z = measurement(bbox);
        let Some(chol) = cholesky4(&self.innovation_covariance()) else {
            // Only reachable if the covariance was corrupted (NaN input); start over
            // from the measurement rather than propagate garbage.
            *self = Self::new(bbox);
            return;
        };

        // K = P H^T S^-1, one row at a time: row i of P H^T is P[i][0..4].
        let mut gain = [[0.0; MEAS]; STATE];
        for (i, row) in gain.iter_mut().enumerate() {
            let mut ph = [0.0; MEAS];
            ph.copy_from_slice(&self.cov[i][..MEAS]);
            *row = chol_solve4(&chol, &ph);
        }

        let mut innovation = [0.0; MEAS];
        for k in 0..MEAS {
            innovation[k] = z[k] - self.mean[k];
        }
        for i in 0..STATE {
            for k in 0..MEAS {
                self.mean[i] += gain[i][k] * innovation[k];
            }
        }

        // P -= K S K^T, which equals K (P H^T)^T; the product reads P's first four
        // columns, so take them before overwriting.
        let mut ph_t = [[0.0; MEAS]; STATE];
        for i in 0..STATE {
            ph_t[i].copy_from_slice(&self.cov[i][..MEAS]);
        }
        for i in 0..STATE {
            for j in 0..STATE {
                let mut acc = 0.0;
                for k in 0..MEAS {
                    acc += gain[i][k] * ph_t[j][k];
                }
                self.cov[i][j] -= acc;
            }
        }
        // Rounding makes P drift from symmetric over thousands of updates; pin it.
        for i in 0..STATE {
            for j in (i + 1)..STATE {
                let m = 0.5 * (self.cov[i][j] + self.cov[j][i]);
                self.cov[i][j] = m;
                self.cov[j][i] = m;
            }
        }
    }

    /// The predicted measurement and its uncertainty, for gating candidate boxes.
    pub fn projection(&self) -> Projection {
        let mut mean = [0.0; MEAS];
        mean.copy_from_slice(&self.mean[..MEAS]);
        Projection { mean, chol: cholesky4(&self.innovation_covariance()) }
    }

    /// S = H P H^T + R: with H picking the first four state entries, the top-left
    /// block of P plus ByteTrack's measurement noise.
    fn innovation_covariance(&self) -> [[f64; MEAS]; MEAS] {
        let r = measurement_variance(noise_height(self.mean[3]));
        let mut s = [[0.0; MEAS]; MEAS];
        for i in 0..MEAS {
            s[i].copy_from_slice(&self.cov[i][..MEAS]);
            s[i][i] += r[i];
        }
        s
    }

    /// Stops the height from changing in later predictions, as ByteTrack does for
    /// tracks that are not currently matched: a size trend extrapolated over a second
    /// of occlusion is mostly noise, and a shrinking box stops matching anything.
    pub fn hold_height(&mut self) {
        self.mean[7] = 0.0;
    }

    /// The box the filter currently estimates, in full-frame pixels.
    pub fn bbox(&self) -> BBox {
        let [cx, cy, a, h, ..] = self.mean;
        let h = h.max(0.0);
        let w = (a * h).max(0.0);
        BBox::new((cx - 0.5 * w) as f32, (cy - 0.5 * h) as f32, (cx + 0.5 * w) as f32, (cy + 0.5 * h) as f32)
    }

    /// Estimated velocity of the box centre, in pixels per second (x right, y down).
    pub fn velocity(&self) -> [f64; 2] {
        [self.mean[4], self.mean[5]]
    }

    /// The full state `[cx, cy, a, h, vcx, vcy, va, vh]` (rates per second).
    pub fn mean(&self) -> &[f64; STATE] {
        &self.mean
    }

    /// Variance of the estimated centre position along x and y, in pixels squared.
    pub fn position_variance(&self) -> [f64; 2] {
        [self.cov[0][0], self.cov[1][1]]
    }
}

/// The filter's predicted measurement `[cx, cy, a, h]` with the Cholesky factor of
/// its covariance (state uncertainty plus measurement noise).
#[derive(Debug, Clone, Copy)]
pub struct Projection {
    mean: [f64; MEAS],
    chol: Option<[[f64; MEAS]; MEAS]>,
}

impl Projection {
    /// Squared Mahalanobis distance of `bbox` from the prediction. Under the model it
    /// is chi-square distributed with 4 degrees of freedom; compare with
    /// [`CHI2_4DOF_999`]. Infinite if the covariance was unusable.
    pub fn distance(&self, bbox: &BBox) -> f64 {
        let Some(chol) = &self.chol else {
            return f64::INFINITY;
        };
        let z = measurement(bbox);
        let mut d = [0.0; MEAS];
        for k in 0..MEAS {
            d[k] = z[k] - self.mean[k];
        }
        // With S = L L^T, d^T S^-1 d = |L^-1 d|^2: one forward substitution.
        let mut sum = 0.0;
        let mut y = [0.0; MEAS];
        for i in 0..MEAS {
            let mut acc = d[i];
            for k in 0..i {
                acc -= chol[i][k] * y[k];
            }
            y[i] = acc / chol[i][i];
            sum += y[i] * y[i];
        }
        sum
    }
}

/// Measurement noise (ByteTrack's): a box's position and height are off by about a
/// twentieth of its height.
fn measurement_variance(h: f64) -> [f64; MEAS] {
    let pos = STD_WEIGHT_POSITION * h;
    [pos * pos, pos * pos, STD_ASPECT_MEASUREMENT * STD_ASPECT_MEASUREMENT, pos * pos]
}

/// `[cx, cy, a, h]` of a box; a zero-height box gets aspect 0 rather than infinity.
fn measurement(bbox: &BBox) -> [f64; MEAS] {
    let w = f64::from(bbox.width());
    let h = f64::from(bbox.height());
    let cx = 0.5 * (f64::from(bbox.x1) + f64::from(bbox.x2));
    let cy = 0.5 * (f64::from(bbox.y1) + f64::from(bbox.y2));
    let a = if h > 0.0 { w / h } else { 0.0 };
    [cx, cy, a, h]
}

fn noise_height(h: f64) -> f64 {
    if h.is_finite() { h.abs().max(MIN_NOISE_HEIGHT) } else { MIN_NOISE_HEIGHT }
}

/// Lower-triangular Cholesky factor of a symmetric positive-definite 4 x 4 matrix;
/// `None` if it is not positive definite.
fn cholesky4(s: &[[f64; MEAS]; MEAS]) -> Option<[[f64; MEAS]; MEAS]> {
    let mut l = [[0.0; MEAS]; MEAS];
    for i in 0..MEAS {
        for j in 0..=i {
            let mut acc = s[i][j];
            for k in 0..j {
                acc -= l[i][k] * l[j][k];
            }
            if i == j {
                if acc.is_nan() || acc <= 0.0 {
                    return None;
                }
                l[i][i] = acc.sqrt();
            } else {
                l[i][j] = acc / l[j][j];
            }
        }
    }
    Some(l)
}

/// Solves `L L^T x = b` given the Cholesky factor `L`.
fn chol_solve4(l: &[[f64; MEAS]; MEAS], b: &[f64; MEAS]) -> [f64; MEAS] {
    let mut y = [0.0; MEAS];
    for i in 0..MEAS {
        let mut acc = b[i];
        for k in 0..i {
            acc -= l[i][k] * y[k];
        }
        y[i] = acc / l[i][i];
    }
    let mut x = [0.0; MEAS];
    for i in (0..MEAS).rev() {
        let mut acc = y[i];
        for k in (i + 1)..MEAS {
            acc -= l[k][i] * x[k];
        }
        x[i] = acc / l[i][i];
    }
    x
}
