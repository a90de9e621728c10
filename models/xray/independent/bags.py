#!/usr/bin/env python3
"""Independent synthetic dual-energy X-ray baggage scans -- EVALUATION ONLY.

A stand-alone "second scanner": written from textbook physics (Beer-Lambert over a
binned polychromatic spectrum, mixture-rule mass attenuation, Poisson quantum noise,
Gaussian PSF, detector gain/offset residuals) and its own procedural shape library.
It does not import or read anything else in the repository.  numpy only.

    python bags.py --seed 1 --count 40 --out /tmp/ind            # render bags 0..39
    python bags.py --seed 1 --count 40 --start 40 --out /tmp/ind  # bags 40..79
    python bags.py --seed 1 --count 450 --stats-only              # layout only, no pixels
    python bags.py --check /tmp/ind                               # decode + validate a folder

Bag i of seed s is drawn from its own random streams (SeedSequence([s, i, k])),
so a bag never depends on --count/--start and the same arguments give the same bytes.
Never use these bags for training or tuning; see README.md.

This file is long because it is a whole scanner and a whole shape library in one file that
imports nothing from the project: attenuation table, spectra, detector model, and every bag,
clutter and threat family, each built from parts.
"""
import argparse
import json
import math
import os
import struct
import sys
import zlib

import numpy as np

GENERATOR_VERSION = "independent-1.0"
W, H = 640, 480              # image size (columns x rows)
PIXEL_MM = 1.3               # pixel pitch at the belt plane, both axes
CLASSES = ["knife", "gun", "ammunition", "dense_organic"]
F32 = np.float32

# =====================================================================================
# 1. Physics: elemental mass attenuation coefficients (cm^2/g, total incl. coherent)
#    Values are NIST-XCOM-like numbers written down from memory / textbook tables;
#    a few elements (Na, Cl, Ca, Co, Zn) were estimated by Z^4/A photo-electric scaling
#    from neighbours plus Compton/coherent parts.  Lead carries its K edge (88.0 keV).
# =====================================================================================
_E_LO = [20.0, 30.0, 40.0, 50.0, 60.0, 80.0]
_E_HI = [100.0, 150.0]
_ELEMENTS = {
    #        20      30      40      50      60      80      100     150
    "H":  [0.3695, 0.3570, 0.3458, 0.3355, 0.3260, 0.3091, 0.2944, 0.2651],
    "C":  [0.4420, 0.2562, 0.2076, 0.1871, 0.1753, 0.1610, 0.1514, 0.1347],
    "N":  [0.6179, 0.3066, 0.2288, 0.1980, 0.1817, 0.1639, 0.1529, 0.1353],
    "O":  [0.8373, 0.3779, 0.2585, 0.2132, 0.1907, 0.1678, 0.1551, 0.1361],
    "Na": [2.000, 0.680, 0.370, 0.262, 0.212, 0.170, 0.152, 0.128],
    "Al": [3.441, 1.128, 0.5685, 0.3681, 0.2778, 0.2018, 0.1704, 0.1378],
    "Si": [4.464, 1.436, 0.7012, 0.4385, 0.3207, 0.2228, 0.1835, 0.1448],
    "Cl": [7.80, 2.37, 1.09, 0.640, 0.430, 0.270, 0.207, 0.152],
    "Ca": [13.0, 4.20, 1.90, 1.05, 0.670, 0.360, 0.240, 0.165],
    "Fe": [25.68, 8.176, 3.629, 1.958, 1.205, 0.5952, 0.3717, 0.1964],
    "Co": [28.5, 9.00, 4.00, 2.15, 1.32, 0.650, 0.400, 0.205],
    "Cu": [33.79, 10.92, 4.862, 2.613, 1.593, 0.7630, 0.4584, 0.2217],
    "Zn": [37.5, 12.1, 5.40, 2.90, 1.77, 0.840, 0.500, 0.235],
}
# lead: 20..80 keV, value just below the K edge (88.0), just above it, 100, 150 keV
_PB_LO = [86.36, 30.32, 14.36, 8.041, 5.021, 2.419]
_PB_EDGE = (1.910, 7.683)
_PB_HI = [5.549, 2.014]
K_EDGE_PB = 88.0


def _loglog(E, xs, ys):
    return float(np.exp(np.interp(np.log(E), np.log(xs), np.log(ys))))


def element_mu(el, E):
    """Mass attenuation coefficient (cm^2/g) of element el at energy E (keV)."""
    if el == "Pb":
        if E < K_EDGE_PB:
            return _loglog(E, _E_LO + [K_EDGE_PB], _PB_LO + [_PB_EDGE[0]])
        return _loglog(E, [K_EDGE_PB] + _E_HI, [_PB_EDGE[1]] + _PB_HI)
    return _loglog(E, _E_LO + _E_HI, _ELEMENTS[el])


# Materials as elemental mass fractions (mixture rule).  Approximations noted inline:
# Li, F -> C/O; Cr, Ni, Mn -> Fe; K -> Ca; Nd -> Fe (magnets are treated as dense iron).
MATERIALS = {
    "water":      {"H": 0.1119, "O": 0.8881},
    "textile":    {"H": 0.0622, "C": 0.4445, "O": 0.4934},            # cellulose/cotton
    "polyester":  {"H": 0.042, "C": 0.625, "O": 0.333},               # PET
    "nylon":      {"H": 0.098, "C": 0.637, "N": 0.124, "O": 0.141},
    "leather":    {"H": 0.070, "C": 0.500, "N": 0.170, "O": 0.260},   # protein, also wool
    "rubber":     {"H": 0.100, "C": 0.840, "O": 0.030, "Zn": 0.020, "Ca": 0.010},
    "eva":        {"H": 0.110, "C": 0.750, "O": 0.140},               # foams, soles
    "pe":         {"H": 0.1437, "C": 0.8563},                         # polyethylene, wax
    "abs":        {"H": 0.080, "C": 0.850, "N": 0.070},
    "pc":         {"H": 0.055, "C": 0.756, "O": 0.189},               # polycarbonate
    "pvc":        {"H": 0.048, "C": 0.384, "Cl": 0.568},
    "pom":        {"H": 0.067, "C": 0.400, "O": 0.533},
    "wood":       {"H": 0.0622, "C": 0.4445, "O": 0.4934},
    "paper":      {"H": 0.056, "C": 0.412, "O": 0.492, "Ca": 0.040},  # with chalk filler
    "glass":      {"O": 0.460, "Si": 0.340, "Na": 0.100, "Ca": 0.070, "Al": 0.030},
    "fibreglass": {"H": 0.040, "C": 0.300, "O": 0.380, "Si": 0.200, "Ca": 0.060, "Al": 0.020},
    "aluminium":  {"Al": 1.0},
    "steel":      {"Fe": 1.0},
    "copper":     {"Cu": 1.0},
    "brass":      {"Cu": 0.65, "Zn": 0.35},
    "zamak":      {"Zn": 0.96, "Al": 0.04},
    "lead":       {"Pb": 1.0},
    "pcb":        {"H": 0.030, "C": 0.250, "O": 0.400, "Si": 0.180, "Ca": 0.040, "Cu": 0.100},
    "chip":       {"H": 0.030, "C": 0.300, "O": 0.250, "Si": 0.300, "Cu": 0.120},
    "liion":      {"H": 0.030, "C": 0.330, "O": 0.200, "Al": 0.100, "Co": 0.200, "Cu": 0.140},
    "alkaline":   {"H": 0.010, "C": 0.080, "O": 0.330, "Ca": 0.030, "Fe": 0.350, "Zn": 0.200},
    "ferrite":    {"O": 0.300, "Fe": 0.640, "Zn": 0.060},
    "powder":     {"H": 0.030, "C": 0.250, "N": 0.120, "O": 0.600},  # nitrocellulose
    "rdx":        {"H": 0.027, "C": 0.162, "N": 0.378, "O": 0.433},
    "petn":       {"H": 0.025, "C": 0.190, "N": 0.177, "O": 0.608},
    "tnt":        {"H": 0.022, "C": 0.370, "N": 0.185, "O": 0.423},
    "c4":         {"H": 0.036, "C": 0.220, "N": 0.344, "O": 0.400},
    "an":         {"H": 0.050, "N": 0.350, "O": 0.600},               # ammonium nitrate
    "cocaine":    {"H": 0.065, "C": 0.602, "N": 0.041, "O": 0.188, "Cl": 0.104},
    "heroin":     {"H": 0.063, "C": 0.683, "N": 0.038, "O": 0.216},
    "cheese":     {"H": 0.090, "C": 0.400, "N": 0.040, "O": 0.450, "Ca": 0.010, "Na": 0.010},
    "chocolate":  {"H": 0.070, "C": 0.550, "N": 0.010, "O": 0.370},
    "soap":       {"H": 0.100, "C": 0.600, "O": 0.220, "Na": 0.080},
    "sugar":      {"H": 0.065, "C": 0.420, "O": 0.515},
    "salt":       {"Na": 0.393, "Cl": 0.607},
    "toothpaste": {"H": 0.060, "C": 0.120, "O": 0.580, "Ca": 0.160, "Si": 0.050, "Na": 0.030},
    "ceramic":    {"Al": 0.530, "O": 0.470},
}
DENSITY = {  # typical bulk densities g/cm^3 (objects may override)
    "water": 1.0, "textile": 0.5, "polyester": 0.5, "nylon": 0.5, "leather": 0.9,
    "rubber": 1.15, "eva": 0.25, "pe": 0.93, "abs": 1.05, "pc": 1.2, "pvc": 1.35,
    "pom": 1.41, "wood": 0.7, "paper": 0.9, "glass": 2.5, "fibreglass": 1.85,
    "aluminium": 2.70, "steel": 7.85, "copper": 8.96, "brass": 8.5, "zamak": 6.6,
    "lead": 11.34, "pcb": 1.9, "chip": 2.0, "liion": 2.6, "alkaline": 3.2,
    "ferrite": 4.8, "powder": 0.95, "rdx": 1.7, "petn": 1.75, "tnt": 1.6, "c4": 1.6,
    "an": 1.3, "cocaine": 1.3, "heroin": 1.3, "cheese": 1.1, "chocolate": 1.25,
    "soap": 1.1, "sugar": 1.3, "salt": 1.4, "toothpaste": 1.4, "ceramic": 3.9,
}
MAT_INDEX = {m: i for i, m in enumerate(MATERIALS)}


def material_mu(mat, E):
    return sum(f * element_mu(el, E) for el, f in MATERIALS[mat].items())


# -------------------------------------------------------------------------------------
# Scanner spectra: 140 kVp tungsten tube, 2.0 mm Al + 0.1 mm Cu filtration,
# dual-layer detector: 0.25 mm ZnSe-like front layer (low channel), 1.5 mm Cu
# inter-layer filter, 3 mm CdWO4-like rear layer (high channel).  Energy-integrating.
# The continuous spectrum is Kramers' law; W K-lines added.  The per-channel energy
# response is binned into 10 bins (edges below) with signal weights.
# -------------------------------------------------------------------------------------
KVP = 140.0
BIN_EDGES = [20, 30, 40, 50, 60, 70, 80, 88, 100, 115, 140]


def _front_mu(E):   # ZnSe approximated as 1.3 x zinc (Se is a little heavier than Zn)
    return 1.3 * element_mu("Zn", E) * 5.27


def _rear_mu(E):    # CdWO4 approximated by 0.85 x lead (W/Cd K-edges not modelled)
    return 0.85 * element_mu("Pb", E) * 7.9


def scanner_spectra():
    E = np.arange(15.5, KVP, 1.0)
    n = np.clip(KVP - E, 0, None) / E                       # Kramers photons per keV
    for line, rel in ((59.3, 0.055), (58.0, 0.032), (67.2, 0.022)):
        n[np.argmin(np.abs(E - line))] += rel * n.sum()        # W K-lines
    filt = np.array([math.exp(-element_mu("Al", e) * 2.70 * 0.20 - element_mu("Cu", e) * 8.96 * 0.01)
                     for e in E])
    n = n * filt
    eta_f = np.array([1 - math.exp(-_front_mu(e) * 0.025) for e in E])
    t_mid = np.array([math.exp(-element_mu("Cu", e) * 8.96 * 0.15) for e in E])
    eta_r = np.array([1 - math.exp(-_rear_mu(e) * 0.30) for e in E])
    sig = {"low": n * eta_f * E, "high": n * (1 - eta_f) * t_mid * eta_r * E}
    out = {}
    for ch, s in sig.items():
        energies, weights = [], []
        for a, b in zip(BIN_EDGES[:-1], BIN_EDGES[1:]):
            m = (E >= a) & (E < b)
            w = s[m].sum()
            energies.append(round(float((s[m] * E[m]).sum() / w), 2))
            weights.append(float(w))
        wsum = sum(weights)
        weights = [round(w / wsum, 5) for w in weights]
        out[ch] = {"energies_keV": energies, "weights": weights,
                   "mean_keV": round(float((s * E).sum() / s.sum()), 1)}
    out["description"] = ("140 kVp W tube (Kramers + K lines), 2.0 mm Al + 0.1 mm Cu; dual-layer "
                          "detector: 0.25 mm ZnSe front (low), 1.5 mm Cu, 3 mm CdWO4 rear (high); "
                          "energy-integrating, 10 bins")
    return out


SPECTRA = scanner_spectra()
# mu[ch] : array (n_materials, n_bins) of mass attenuation at the bin energies
MU = {ch: np.array([[material_mu(m, e) for e in SPECTRA[ch]["energies_keV"]] for m in MATERIALS],
                   dtype=np.float64) for ch in ("low", "high")}
WEIGHTS = {ch: np.array(SPECTRA[ch]["weights"]) for ch in ("low", "high")}

# =====================================================================================
# 2. Geometry: every object is a set of "plates" in its own local frame (u, v, w).
#    A part is the 3-D region |w - w0| < h(u, v) / 2 of one material and density,
#    with h sampled on a local grid.  This is exact for prisms, slabs, and cylinders
#    lying along u, and a fair model for everything else.  Objects are posed in 3-D
#    (in-plane angle, out-of-plane tilt about any in-plane axis, mirror) and projected
#    by tracing parallel rays along the beam (image z axis) through the local grid.
# =====================================================================================
class Canvas:
    def __init__(self, umin, umax, vmin, vmax, res):
        self.res = float(res)
        self.nu = max(2, int(math.ceil((umax - umin) / res)))
        self.nv = max(2, int(math.ceil((vmax - vmin) / res)))
        self.umin, self.vmin = float(umin), float(vmin)
        self.umax = self.umin + self.nu * self.res
        self.vmax = self.vmin + self.nv * self.res
        u = (self.umin + (np.arange(self.nu) + 0.5) * self.res).astype(F32)
        v = (self.vmin + (np.arange(self.nv) + 0.5) * self.res).astype(F32)
        self.U, self.V = np.meshgrid(u, v)
        self.parts = []

    def zeros(self):
        return np.zeros((self.nv, self.nu), F32)

    def win(self, x0, x1, y0, y1, pad=1.0):
        i0 = max(0, int((x0 - pad - self.umin) / self.res))
        i1 = min(self.nu, int((x1 + pad - self.umin) / self.res) + 2)
        j0 = max(0, int((y0 - pad - self.vmin) / self.res))
        j1 = min(self.nv, int((y1 + pad - self.vmin) / self.res) + 2)
        return (slice(j0, max(j0, j1)), slice(i0, max(i0, i1)))

    def add(self, mat, h, rho=None, w0=0.0):
        h = np.asarray(h, F32)
        if h.size == 0 or float(h.max()) <= 0:
            return
        self.parts.append([mat, float(DENSITY[mat] if rho is None else rho), np.maximum(h, 0), float(w0)])

    def finalise(self):
        """Merge parts of one material, density and mid-plane (thicknesses add)."""
        groups = {}
        for mat, rho, h, w0 in self.parts:
            key = (mat, round(rho, 3), round(w0, 1))
            if key in groups:
                groups[key][2] = groups[key][2] + h
            else:
                groups[key] = [mat, rho, h, w0]
        self.parts = list(groups.values())


def xf(pts, cx=0.0, cy=0.0, ang=0.0, sx=1.0, sy=1.0):
    """Scale, rotate (rad) and shift a list of 2-D points."""
    p = np.asarray(pts, float).reshape(-1, 2) * [sx, sy]
    ca, sa = math.cos(ang), math.sin(ang)
    return np.stack([cx + p[:, 0] * ca - p[:, 1] * sa, cy + p[:, 0] * sa + p[:, 1] * ca], 1)


def _rot(U, V, cx, cy, ang):
    ca, sa = math.cos(ang), math.sin(ang)
    du, dv = U - cx, V - cy
    return du * ca + dv * sa, -du * sa + dv * ca


def poly_mask(c, pts):
    pts = np.asarray(pts, float)
    m = np.zeros((c.nv, c.nu), bool)
    sl = c.win(pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max())
    U, V = c.U[sl], c.V[sl]
    if U.size == 0:
        return m
    inside = np.zeros(U.shape, bool)
    x0, y0 = pts[-1]
    for x1, y1 in pts:
        if y1 != y0:
            cond = (y1 > V) != (y0 > V)
            xint = (x0 - x1) * (V - y1) / (y0 - y1) + x1
            inside ^= cond & (U < xint)
        x0, y0 = x1, y1
    m[sl] = inside
    return m


def seg_field(U, V, p0, p1):
    """(distance to segment, position along it in [0,1]) for arrays U, V."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    L2 = dx * dx + dy * dy + 1e-12
    t = np.clip(((U - x0) * dx + (V - y0) * dy) / L2, 0.0, 1.0)
    return np.hypot(U - x0 - t * dx, V - y0 - t * dy), t


def polyline_dist(c, pts, margin):
    """Distance to a polyline (inf beyond bbox+margin) and the slice it was computed on."""
    pts = np.asarray(pts, float)
    sl = c.win(pts[:, 0].min() - margin, pts[:, 0].max() + margin,
               pts[:, 1].min() - margin, pts[:, 1].max() + margin)
    U, V = c.U[sl], c.V[sl]
    d = np.full(U.shape, np.inf, F32)
    for a, b in zip(pts[:-1], pts[1:]):
        sx0, sx1 = min(a[0], b[0]) - margin, max(a[0], b[0]) + margin
        sy0, sy1 = min(a[1], b[1]) - margin, max(a[1], b[1]) + margin
        ii = np.nonzero((U[0] >= sx0) & (U[0] <= sx1))[0]
        jj = np.nonzero((V[:, 0] >= sy0) & (V[:, 0] <= sy1))[0]
        if ii.size == 0 or jj.size == 0:
            continue
        s2 = (slice(jj[0], jj[-1] + 1), slice(ii[0], ii[-1] + 1))
        dd, _ = seg_field(U[s2], V[s2], a, b)
        d[s2] = np.minimum(d[s2], dd)
    return d, sl


def cylp(d, r):
    """Chord of a circle of radius r at distance d from its centre."""
    return 2.0 * np.sqrt(np.clip(r * r - d * d, 0.0, None))


def tube_chord(d, r_out, r_in):
    return cylp(d, r_out) - (cylp(d, r_in) if r_in > 0 else 0.0)


def add_poly(h, c, pts, t):
    h += t * poly_mask(c, pts)


def add_tube(h, c, pts, r_out, r_in=0.0, fill=1.0):
    """Round tube/rod along a polyline (chord profile across it)."""
    d, sl = polyline_dist(c, pts, r_out + c.res)
    h[sl] += fill * tube_chord(d, r_out, r_in)


def add_band(h, c, pts, half_w, t):
    d, sl = polyline_dist(c, pts, half_w + c.res)
    h[sl] += t * (d <= half_w)


def add_rod(h, c, p0, p1, r_out, r_in=0.0, fill=1.0):
    """Cylinder with flat ends between p0 and p1 (no rounded caps)."""
    L = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
    sl = c.win(min(p0[0], p1[0]) - r_out, max(p0[0], p1[0]) + r_out,
               min(p0[1], p1[1]) - r_out, max(p0[1], p1[1]) + r_out)
    U, V = c.U[sl], c.V[sl]
    ang = math.atan2(p1[1] - p0[1], p1[0] - p0[0])
    ul, vl = _rot(U, V, p0[0], p0[1], ang)
    inside = (ul >= 0) & (ul <= L)
    h[sl] += fill * inside * tube_chord(np.abs(vl), r_out, r_in)


def ellipse_r(c, cx, cy, a, b, ang=0.0, sl=None):
    if sl is None:
        e = max(a, b)
        sl = c.win(cx - e, cx + e, cy - e, cy + e)
    ul, vl = _rot(c.U[sl], c.V[sl], cx, cy, ang)
    return np.sqrt((ul / a) ** 2 + (vl / b) ** 2), sl


def add_disk(h, c, cx, cy, r, t, profile="flat", b=None, ang=0.0):
    """Disk/ellipse of thickness t; profile 'flat', 'dome' (ellipsoid) or 'lens'."""
    rr, sl = ellipse_r(c, cx, cy, r, r if b is None else b, ang)
    if profile == "flat":
        h[sl] += t * (rr <= 1.0)
    elif profile == "dome":
        h[sl] += t * np.sqrt(np.clip(1 - rr * rr, 0, None))
    else:
        h[sl] += t * np.clip(1 - rr * rr, 0, None)


def add_ring(h, c, cx, cy, r_out, r_in, t, b_scale=1.0, ang=0.0):
    rr, sl = ellipse_r(c, cx, cy, r_out, r_out * b_scale, ang)
    ri = r_in / r_out
    h[sl] += t * ((rr <= 1.0) & (rr >= ri))


def rrect_sdf(c, cx, cy, hx, hy, r, ang=0.0, sl=None):
    """Signed distance to a rounded rectangle (negative inside)."""
    if sl is None:
        e = math.hypot(hx, hy)
        sl = c.win(cx - e, cx + e, cy - e, cy + e)
    ul, vl = _rot(c.U[sl], c.V[sl], cx, cy, ang)
    r = min(r, hx, hy)
    qx = np.abs(ul) - (hx - r)
    qy = np.abs(vl) - (hy - r)
    out = np.hypot(np.clip(qx, 0, None), np.clip(qy, 0, None))
    ins = np.minimum(np.maximum(qx, qy), 0)
    return out + ins - r, sl


def add_rrect(h, c, cx, cy, L, Wd, t, r=0.0, ang=0.0, edge=0.0, fill=1.0):
    """Rounded rectangle L x Wd, thickness t; with edge>0 the rim is rounded (pillow)."""
    sdf, sl = rrect_sdf(c, cx, cy, L / 2, Wd / 2, r, ang)
    if edge > 0:
        x = np.clip(-sdf / edge, 0, 1)
        h[sl] += fill * t * np.sqrt(np.clip(1 - (1 - x) ** 2, 0, None))
    else:
        h[sl] += fill * t * (sdf <= 0)


def add_shell_box(h_wall, c, cx, cy, L, Wd, T, wall, r=3.0, ang=0.0):
    """Hollow box (thin walls) lying flat: top+bottom plates plus side walls seen edge-on."""
    sdf, sl = rrect_sdf(c, cx, cy, L / 2, Wd / 2, r, ang)
    band = max(wall, c.res)
    h_wall[sl] += (sdf <= 0) * 2 * wall + ((sdf <= 0) & (sdf > -band)) * (T - 2 * wall) * (wall / band)


def smooth_noise(rng, shape, cells=6, octaves=2):
    """Smooth random field with unit-ish std on an array of `shape` (bilinear up-sampling)."""
    ny, nx = shape
    out = np.zeros(shape, F32)
    amp, tot = 1.0, 0.0
    for o in range(octaves):
        k = cells * (2 ** o)
        gy, gx = max(2, int(k * ny / max(nx, ny)) + 2), max(2, int(k * nx / max(nx, ny)) + 2)
        g = rng.standard_normal((gy, gx)).astype(F32)
        yi = np.linspace(0, gy - 1.001, ny)
        xi = np.linspace(0, gx - 1.001, nx)
        y0, x0 = yi.astype(int), xi.astype(int)
        fy, fx = (yi - y0)[:, None], (xi - x0)[None, :]
        a = g[y0][:, x0] * (1 - fx) + g[y0][:, x0 + 1] * fx
        b = g[y0 + 1][:, x0] * (1 - fx) + g[y0 + 1][:, x0 + 1] * fx
        out += amp * (a * (1 - fy) + b * fy)
        tot += amp * amp
        amp *= 0.5
    return out / math.sqrt(tot)


def blob_polygon(rng, rx, ry, n=48, rough=0.18, harmonics=5):
    th = np.linspace(0, 2 * math.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(2, harmonics + 1):
        r += rough / k * rng.standard_normal() * np.cos(k * th + rng.uniform(0, 2 * math.pi))
    r = np.clip(r, 0.55, 1.5)
    return np.stack([rx * r * np.cos(th), ry * r * np.sin(th)], 1)


class Obj:
    """A scene object: a Canvas of parts plus its name/class/family and (later) a pose."""

    def __init__(self, name, family, material, canvas, cls=None, ss=2):
        self.name, self.family, self.material, self.canvas, self.cls = name, family, material, canvas, cls
        self.ss = ss
        self.pose = None        # (cx_mm, cy_mm, R 3x3 local->world)
        self.tilt_deg = 0.0
        self.clip = None        # optional (bag frame) clipping, for soft items
        self.box = None
        canvas.finalise()

    def local_extent(self):
        c = self.canvas
        ws = [(p[3] - float(p[2].max()) / 2, p[3] + float(p[2].max()) / 2) for p in c.parts] or [(0, 0)]
        return (c.umin, c.umax, c.vmin, c.vmax, min(w[0] for w in ws), max(w[1] for w in ws))

    def world_bounds(self):
        """Conservative world bounding box (mm) of the posed object."""
        cx, cy, R = self.pose
        u0, u1, v0, v1, w0, w1 = self.local_extent()
        pts = np.array([[u, v, w] for u in (u0, u1) for v in (v0, v1) for w in (w0, w1)])
        wp = pts @ R.T
        return (cx + wp[:, 0].min(), cx + wp[:, 0].max(), cy + wp[:, 1].min(), cy + wp[:, 1].max())


def rotation(phi, tilt=0.0, axis=0.0, mirror=False):
    """Local->world rotation: mirror (v -> -v), tilt about in-plane local axis at angle
    `axis`, then in-plane rotation phi about the beam axis."""
    M = np.diag([1.0, -1.0, 1.0]) if mirror else np.eye(3)
    a = np.array([math.cos(axis), math.sin(axis), 0.0])
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    Rt = np.eye(3) + math.sin(tilt) * K + (1 - math.cos(tilt)) * (K @ K)
    cz, sz = math.cos(phi), math.sin(phi)
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1.0]])
    return Rz @ Rt @ M


def rasterise(obj, acc, rng):
    """Project obj into the per-material mass-thickness maps acc (g/cm^2).
    Returns the tight pixel box [x1, y1, x2, y2] (x2, y2 exclusive) or None."""
    c = obj.canvas
    if not c.parts:
        return None
    cx, cy, R = obj.pose
    x0, x1, y0, y1 = obj.world_bounds()
    c0, c1 = max(0, int(math.floor(x0 / PIXEL_MM))), min(W, int(math.ceil(x1 / PIXEL_MM)))
    r0, r1 = max(0, int(math.floor(y0 / PIXEL_MM))), min(H, int(math.ceil(y1 / PIXEL_MM)))
    if c1 <= c0 or r1 <= r0:
        return None
    ss = obj.ss
    xs = ((np.arange(c0 * ss, c1 * ss) + 0.5) / ss * PIXEL_MM).astype(F32)
    ys = ((np.arange(r0 * ss, r1 * ss) + 0.5) / ss * PIXEL_MM).astype(F32)
    X, Y = np.meshgrid(xs - F32(cx), ys - F32(cy))
    a = [R[0, k] * X + R[1, k] * Y for k in range(3)]       # ray origin (z=0) in local frame
    d = [R[2, k] for k in range(3)]                          # ray direction in local frame
    ext = obj.local_extent()
    paths = [np.zeros(X.shape, F32) for _ in c.parts]
    res = c.res

    def lookup(u, v):
        iu = ((u - c.umin) / res).astype(np.int32)
        iv = ((v - c.vmin) / res).astype(np.int32)
        ok = (iu >= 0) & (iu < c.nu) & (iv >= 0) & (iv < c.nv) & (u >= c.umin) & (v >= c.vmin)
        return np.where(ok, iv, 0), np.where(ok, iu, 0), ok

    if abs(d[2]) > math.cos(math.radians(10.0)):
        t = -a[2] / d[2]
        iv, iu, ok = lookup(a[0] + t * d[0], a[1] + t * d[1])
        for k, (mat, rho, h, w0) in enumerate(c.parts):
            paths[k] = np.where(ok, h[iv, iu], 0) / abs(d[2])
    else:
        tlo = np.full(X.shape, -1e9, F32)
        thi = np.full(X.shape, 1e9, F32)
        for k in range(3):
            lo, hi = ext[2 * k], ext[2 * k + 1]
            if abs(d[k]) < 1e-9:
                bad = (a[k] < lo) | (a[k] > hi)
                thi = np.where(bad, -1e9, thi)
            else:
                t1, t2 = (lo - a[k]) / d[k], (hi - a[k]) / d[k]
                tlo = np.maximum(tlo, np.minimum(t1, t2))
                thi = np.minimum(thi, np.maximum(t1, t2))
        seg = np.clip(thi - tlo, 0, None)
        kcap = max(8, min(96, int(3e7 / max(1, X.size * len(c.parts)))))   # bound the cost
        K = int(np.clip(math.ceil(float(seg.max()) / max(res, 0.35)), 2, kcap))
        jit = rng.random(X.shape, dtype=F32)
        for s in range(K):
            t = tlo + (s + jit) / K * seg
            u, v, w = a[0] + t * d[0], a[1] + t * d[1], a[2] + t * d[2]
            iv, iu, ok = lookup(u, v)
            for k, (mat, rho, h, w0) in enumerate(c.parts):
                paths[k] += ok & (np.abs(w - w0) < h[iv, iu] * 0.5)
        for k in range(len(paths)):
            paths[k] *= seg / K
    foot = np.zeros((r1 - r0, c1 - c0), bool)
    for (mat, rho, h, w0), p in zip(c.parts, paths):
        if obj.clip is not None:
            p = p * obj.clip(X + F32(cx), Y + F32(cy))
        pm = p.reshape(r1 - r0, ss, c1 - c0, ss)
        foot |= (pm > 0).any(axis=(1, 3))
        A = pm.mean(axis=(1, 3)) * F32(rho / 10.0)
        if mat not in acc:
            acc[mat] = np.zeros((H, W), F32)
        acc[mat][r0:r1, c0:c1] += A
    rows, cols = np.nonzero(foot.any(1))[0], np.nonzero(foot.any(0))[0]
    if rows.size == 0:
        return None
    return [int(c0 + cols[0]), int(r0 + rows[0]), int(c0 + cols[-1] + 1), int(r0 + rows[-1] + 1)]


class Parts:
    """Per-(material, density, mid-plane) thickness maps of one canvas."""

    def __init__(self, c):
        self.c, self.h = c, {}

    def __call__(self, mat, rho=None, w0=0.0):
        key = (mat, float(DENSITY[mat] if rho is None else rho), float(w0))
        if key not in self.h:
            self.h[key] = self.c.zeros()
        return self.h[key]

    def commit(self):
        for (mat, rho, w0), h in self.h.items():
            self.c.add(mat, h, rho, w0)


def dist_full(c, pts, margin):
    d, sl = polyline_dist(c, pts, margin)
    D = np.full((c.nv, c.nu), np.inf, F32)
    D[sl] = d
    return D


def pick(rng, items, weights=None):
    if weights is None:
        return items[int(rng.integers(len(items)))]
    p = np.asarray(weights, float)
    return items[int(rng.choice(len(items), p=p / p.sum()))]


def add_handle(h, c, u0, u1, hw0, hw1, T, v0=0.0, bulge=0.08, round_butt=True):
    """Handle/grip between butt u0 and front u1, elliptical cross-section, thickness T."""
    m = max(hw0, hw1) * (1 + abs(bulge)) + 2
    sl = c.win(min(u0, u1), max(u0, u1), v0 - m, v0 + m)
    U, V = c.U[sl], c.V[sl]
    s = (U - u0) / (u1 - u0)
    hw = (hw0 + (hw1 - hw0) * s) * (1 + bulge * np.sin(np.pi * np.clip(s, 0, 1)))
    if round_butt:
        x = np.abs(U - u0)
        hw = hw * np.maximum(np.sqrt(np.clip(1 - np.clip(1 - x / hw0, 0, 1) ** 2, 0, 1)), 1e-3)
    inside = (s >= 0) & (s <= 1) & (np.abs(V - v0) < hw)
    h[sl] += inside * T * np.sqrt(np.clip(1 - ((V - v0) / hw) ** 2, 0, 1))


HANDLE_MATS = [("abs", 1.05, 1.0), ("pom", 1.41, 1.0), ("wood", 0.75, 1.0), ("rubber", 1.15, 1.0),
               ("fibreglass", 1.85, 1.0), ("steel", 7.85, 0.22), ("aluminium", 2.7, 0.35),
               ("leather", 0.95, 1.0)]


# -------------------------------------------------------------------------------------
# 3a. Knives (class 0)
# -------------------------------------------------------------------------------------
def _blade_poly(Lb, wb, tip_v, s_drop, p_drop, s_belly, p_belly, n=56):
    s = np.linspace(0, 1, n)
    f = np.clip((s - s_drop) / (1 - s_drop + 1e-9), 0, 1) ** p_drop
    g = np.clip((s - s_belly) / (1 - s_belly + 1e-9), 0, 1) ** p_belly
    spine = np.stack([s * Lb, wb / 2 + (tip_v - wb / 2) * f], 1)
    edge = np.stack([s * Lb, -wb / 2 + (tip_v + wb / 2) * g], 1)
    return np.concatenate([spine, edge[::-1]]), edge


def _knife_handle(rng, P, c, Lh, hw, T, t_blade, tang=None, rivets=None, mat=None):
    mat, rho, fill = mat or pick(rng, HANDLE_MATS, [5, 3, 4, 2, 1.5, 1, 1, 1])
    add_handle(P(mat, rho * fill), c, -Lh, 0.0, hw * rng.uniform(0.9, 1.15), hw, T,
               bulge=rng.uniform(-0.05, 0.15))
    tang = tang or pick(rng, ["full", "hidden", "partial"], [5, 3, 2])
    if mat in ("steel", "aluminium"):
        tang = "hidden"
    if tang == "full":
        sh = c.zeros()
        add_handle(sh, c, -Lh + 4, 0.0, hw * 0.7, hw * 0.78, 1.0, bulge=0.0)
        P("steel")[:] += (sh > 0) * t_blade
        nr = int(rng.integers(2, 4)) if rivets is None else rivets
        rmat = pick(rng, ["brass", "steel", "aluminium"])
        for k in range(nr):
            add_disk(P(rmat), c, -Lh * (0.2 + 0.6 * k / max(nr - 1, 1)), 0.0,
                     rng.uniform(2.0, 3.0), T * 0.85)
    elif tang == "hidden":
        add_rod(P("steel"), c, (-Lh * 0.85, 0), (0.5, 0), rng.uniform(2.0, 3.2))
    else:
        sh = c.zeros()
        add_handle(sh, c, -Lh * 0.45, 0.0, hw * 0.5, hw * 0.6, 1.0, bulge=0.0)
        P("steel")[:] += (sh > 0) * t_blade


def make_knife(rng, kind=None):
    kinds = ["chef", "utility", "bread", "hunting", "dagger", "folding", "boxcutter", "machete", "cleaver"]
    kind = kind or pick(rng, kinds, [16, 13, 7, 12, 10, 16, 11, 8, 7])
    if kind == "folding":
        return _folding_knife(rng)
    if kind == "boxcutter":
        return _box_cutter(rng)
    g = rng.uniform
    if kind == "chef":
        Lb, wb, t = g(140, 250), g(34, 52), g(1.8, 2.8)
        tip_v, sd, pd, sb, pb, bev = wb * g(0.0, 0.3), g(0.45, 0.7), g(1.4, 2.2), g(0.4, 0.65), g(1.8, 2.6), wb * g(0.35, 0.6)
        Lh, hw, T = g(100, 135), g(10, 13), g(15, 22)
    elif kind == "utility":
        Lb, wb, t = g(65, 140), g(14, 28), g(1.0, 2.0)
        tip_v, sd, pd, sb, pb, bev = wb * g(-0.1, 0.35), g(0.3, 0.7), g(1.0, 2.0), g(0.3, 0.7), g(1.5, 2.5), wb * g(0.3, 0.6)
        Lh, hw, T = g(85, 115), g(8.5, 11), g(13, 18)
    elif kind == "bread":
        Lb, wb, t = g(180, 250), g(22, 30), g(1.5, 2.2)
        tip_v, sd, pd, sb, pb, bev = 0.0, g(0.88, 0.94), 2.0, g(0.88, 0.94), 2.0, wb * 0.4
        Lh, hw, T = g(100, 130), g(10, 12.5), g(15, 20)
    elif kind == "hunting":
        Lb, wb, t = g(95, 200), g(26, 40), g(2.4, 3.0)
        tip_v, sd, pd, sb, pb, bev = wb * g(0.15, 0.35), g(0.55, 0.8), g(0.9, 1.3), g(0.45, 0.65), g(2.0, 2.8), wb * g(0.25, 0.45)
        Lh, hw, T = g(100, 130), g(11, 14), g(18, 24)
    elif kind == "dagger":
        Lb, wb, t = g(100, 210), g(22, 38), g(2.5, 3.0)
        Lh, hw, T = g(95, 125), g(11, 14), g(20, 26)
    elif kind == "machete":
        Lb, wb, t = g(270, 450), g(38, 62), g(2.0, 3.0)
        tip_v, sd, pd, sb, pb, bev = wb * g(-0.1, 0.3), g(0.6, 0.85), g(1.5, 2.5), g(0.6, 0.85), g(1.5, 2.5), wb * g(0.15, 0.3)
        Lh, hw, T = g(115, 145), g(12, 15), g(20, 26)
    else:  # cleaver
        Lb, wb, t = g(150, 205), g(70, 100), g(2.2, 3.0)
        Lh, hw, T = g(105, 130), g(10.5, 13), g(16, 22)
    ext = max(wb * (0.6 if kind == "cleaver" else 0.75), hw * 1.3, 28) + 6
    bend = g(0.15, 0.35) * Lb if (kind == "machete" and rng.random() < 0.35) else 0.0
    c = Canvas(-Lh - 6, Lb + 6, -ext - (wb * 0.35 if kind == "cleaver" else 0) - bend, ext,
               0.3 if Lb < 240 else 0.4)
    P = Parts(c)
    U = c.U
    if kind == "dagger":
        s = np.linspace(0, 1, 48)
        half = wb / 2 * (1 - np.clip((s - g(0.2, 0.5)) / 0.7, 0, 1) ** g(1.0, 1.6))
        half[-1] = 0.0
        top = np.stack([s * Lb, half], 1)
        bot = np.stack([s * Lb, -half], 1)
        poly = np.concatenate([top, bot[::-1]])
        dd = np.minimum(dist_full(c, top, wb), dist_full(c, bot, wb))
        th = t * np.clip(dd / (wb * 0.45), 0.12, 1.0)
        edge = None
    elif kind == "cleaver":
        yb = -wb / 2 - wb * 0.1
        poly = np.array([[0, wb * 0.4], [Lb - 6, wb * 0.4], [Lb, wb * 0.4 - 6], [Lb, yb + 12],
                         [Lb - 10, yb], [Lb * 0.5, yb - 2], [12, yb + 2], [0, -wb * 0.25]])
        edge = np.array([[Lb, yb + 12], [Lb - 10, yb], [Lb * 0.5, yb - 2], [12, yb + 2]])
        th = t * np.clip(dist_full(c, edge, wb) / (wb * 0.35), 0.12, 1.0)
    else:
        poly, edge = _blade_poly(Lb, wb, tip_v, sd, pd, sb, pb)
        if bend > 0:                                      # kukri-like bend
            for arr in (poly, edge):
                arr[:, 1] -= bend * (arr[:, 0] / Lb) ** 2
        if kind == "bread":                               # serrations (scallops)
            edge = edge.copy()
            per = g(3.0, 5.0)
            sc = 0.8 * np.abs(np.sin(np.pi * edge[:, 0] / per))
            poly = poly.copy()
            n = len(edge)
            poly[n:, 1] += sc[::-1]
        th = t * np.clip(dist_full(c, edge, wb) / bev, 0.12, 1.0)
    taper = np.clip(1 - 0.45 * (U / Lb) ** 2, 0.4, 1.0)
    P("steel")[:] += poly_mask(c, poly) * th * taper
    if kind == "cleaver" and rng.random() < 0.7:
        hole = c.zeros()
        add_disk(hole, c, Lb - 16, wb * 0.4 - 14, g(5, 8), 1.0)
        P("steel")[:] *= (hole == 0)
    # bolster / guard / pommel
    if kind in ("chef", "utility") and rng.random() < 0.45:
        add_rrect(P("steel"), c, -6, 0, 12, 2 * hw * 1.05, g(7, 11), r=4, edge=3)
    if kind in ("hunting", "dagger") and rng.random() < (0.6 if kind == "hunting" else 0.95):
        gl = g(45, 70) if kind == "dagger" else g(36, 56)
        add_rrect(P(pick(rng, ["steel", "brass"])), c, -4, 0, 8, gl, g(7, 11), r=3.5, edge=3)
    if kind == "dagger":
        add_rod(P("steel"), c, (-Lh, 0), (-8, 0), g(2.5, 3.5))
        add_handle(P(*pick(rng, [("leather", 0.95), ("wood", 0.75), ("rubber", 1.15)])), c,
                   -Lh + 6, -8, hw * 0.95, hw, T, bulge=0.12)
        pr = g(10, 15)
        add_disk(P(pick(rng, ["steel", "brass"])), c, -Lh + 2, 0, pr, pr * 1.8, profile="dome", b=pr * 0.8)
    else:
        _knife_handle(rng, P, c, Lh, hw, T, t)
    P.commit()
    return Obj(f"knife_{kind}", "knife", "steel", c, cls=0)


def _folding_knife(rng):
    g = rng.uniform
    Lb, wb, t = g(60, 105), g(18, 30), g(2.2, 3.0)
    Lh, hw, T = Lb + g(10, 25), g(9.5, 13), g(10, 15)
    state = pick(rng, ["open", "half", "closed"], [55, 25, 20])
    ang = {"open": 0.0, "half": math.radians(g(40, 120)), "closed": math.radians(g(172, 180))}[state]
    ext = max(hw, wb) + 10
    c = Canvas(-Lh - 6, (Lb + 6) if state != "closed" else 8, -ext,
               (Lb + wb) if state == "half" else ext, 0.3)
    P = Parts(c)
    # handle: scales + liners (+ back spacer)
    scale_mat = pick(rng, [("fibreglass", 1.85, 1.0), ("aluminium", 2.7, 0.4), ("abs", 1.05, 1.0),
                           ("wood", 0.75, 1.0), ("steel", 7.85, 0.18)])
    add_handle(P(scale_mat[0], scale_mat[1] * scale_mat[2]), c, -Lh, 6, hw, hw * 1.05, T, bulge=0.05)
    if rng.random() < 0.7:
        sh = c.zeros()
        add_handle(sh, c, -Lh + 2, 5, hw * 0.95, hw, 1.0, bulge=0.0)
        P("steel")[:] += (sh > 0) * g(1.6, 2.4)               # two steel liners
    add_disk(P("steel"), c, 0, 0, g(4.5, 6.5), T)              # pivot
    add_disk(P("steel"), c, -Lh + 8, 0, 2.2, T)                # back pin
    if rng.random() < 0.6:                                     # pocket clip
        add_rrect(P("steel"), c, -Lh * 0.55, hw * 0.45, Lh * 0.6, 8, 1.0)
    if rng.random() < 0.5:                                     # lock-back spring
        add_rrect(P("steel"), c, -Lh * 0.45, hw * 0.8, Lh * 0.7, 2.5, T * 0.8)
    # blade, rotated about the pivot (closed: folded back into the handle)
    poly, edge = _blade_poly(Lb, wb, wb * g(-0.05, 0.3), g(0.4, 0.7), g(1.2, 2.0), g(0.4, 0.65), g(1.8, 2.5))
    poly = np.concatenate([[[-6, wb * 0.45], [-6, -wb * 0.45]], poly[::-1]])[::-1]
    poly = xf(poly, 0, 0, ang)
    edge = xf(edge, 0, 0, ang)
    th = t * np.clip(dist_full(c, edge, wb) / (wb * g(0.4, 0.6)), 0.12, 1.0)
    P("steel")[:] += poly_mask(c, poly) * th
    P.commit()
    return Obj(f"knife_folding_{state}", "knife", "steel", c, cls=0)


def _box_cutter(rng):
    g = rng.uniform
    if rng.random() < 0.6:   # snap-off cutter
        Lb, bw = g(125, 165), pick(rng, [9.0, 18.0, 18.0, 25.0])
        hw, T = bw / 2 + g(4, 7), g(10, 15)
        out = g(15, 60)
        c = Canvas(-Lb - 4, out + 6, -hw - 6, hw + 6, 0.3)
        P = Parts(c)
        add_rrect(P(pick(rng, ["abs", "pom"]), 1.1 * 0.45), c, -Lb / 2, 0, Lb, 2 * hw, T, r=4, edge=3)
        add_rrect(P("steel", 7.85), c, -Lb * 0.45, 0, Lb * 0.85, bw + 2, g(1.2, 1.8))   # steel channel
        add_rrect(P(pick(rng, ["steel", "zamak"])), c, -Lb * 0.35, hw * 0.4, 22, 10, g(4, 7), r=2)
        bl = c.zeros()
        L_bl = Lb * 0.8 + out
        pts = [[out, bw / 2], [out - bw * 0.55, -bw / 2], [out - L_bl, -bw / 2], [out - L_bl, bw / 2]]
        add_poly(bl, c, pts, g(0.55, 0.8))
        P("steel")[:] += bl
        name = "knife_boxcutter_snapoff"
    else:                    # trapezoid-blade utility knife, zinc/aluminium body
        Lb, hw, T = g(140, 175), g(13, 17), g(15, 20)
        out = g(12, 25)
        c = Canvas(-Lb - 4, out + 6, -hw - 8, hw + 8, 0.3)
        P = Parts(c)
        body = blob_polygon(rng, Lb / 2, hw, rough=0.05)
        body[:, 0] -= Lb / 2
        m = poly_mask(c, body)
        bm, bf = pick(rng, [("zamak", 0.30), ("aluminium", 0.40), ("abs", 0.8)])
        P(bm, DENSITY[bm] * bf)[:] += m * T
        add_disk(P("steel"), c, -Lb * 0.5, 0, 3.0, T)
        pts = [[out, hw * 0.5], [out - 8, -hw * 0.7], [out - 61, -hw * 0.7], [out - 61 + 8, hw * 0.5]]
        add_poly(P("steel"), c, pts, 0.63)
        name = "knife_boxcutter_utility"
    P.commit()
    return Obj(name, "knife", "steel", c, cls=0)


# -------------------------------------------------------------------------------------
# 3b. Cartridges (used by guns, magazines and ammunition)
# -------------------------------------------------------------------------------------
CARTRIDGES = {
    # case_len, R_case, R_rim, R_neck, shoulder (start, end) or None, bullet r, OAL, jacket
    "9x19":    dict(cl=19.15, R=4.95, Rr=4.95, Rn=4.8, sh=None, r=4.5, oal=29.7, fmj=True),
    ".45acp":  dict(cl=22.8, R=6.0, Rr=6.0, Rn=6.0, sh=None, r=5.74, oal=32.4, fmj=True),
    ".40sw":   dict(cl=21.6, R=5.4, Rr=5.4, Rn=5.4, sh=None, r=5.1, oal=28.8, fmj=True),
    ".38spl":  dict(cl=29.3, R=4.8, Rr=5.6, Rn=4.8, sh=None, r=4.5, oal=39.0, fmj=False),
    ".357mag": dict(cl=33.0, R=4.8, Rr=5.6, Rn=4.8, sh=None, r=4.5, oal=40.0, fmj=True),
    ".22lr":   dict(cl=15.6, R=2.85, Rr=3.5, Rn=2.85, sh=None, r=2.85, oal=25.0, fmj=False),
    "5.56x45": dict(cl=44.7, R=4.8, Rr=4.8, Rn=3.2, sh=(36.5, 39.5), r=2.85, oal=57.4, fmj=True),
    "7.62x39": dict(cl=38.7, R=5.67, Rr=5.67, Rn=4.3, sh=(30.5, 33.0), r=3.95, oal=56.0, fmj=True),
    ".308":    dict(cl=51.2, R=5.95, Rr=5.95, Rn=4.35, sh=(39.6, 43.4), r=3.9, oal=71.0, fmj=True),
}
PISTOL_CARTS = ["9x19", "9x19", "9x19", ".45acp", ".40sw"]
REVOLVER_CARTS = [".38spl", ".357mag"]
RIFLE_CARTS = ["5.56x45", "7.62x39", ".308"]


def _case_radius(x, sp):
    R = np.full(x.shape, sp["R"], F32)
    if sp["sh"] is not None:
        a, b = sp["sh"]
        f = np.clip((x - a) / (b - a), 0, 1)
        R = sp["R"] + (sp["Rn"] - sp["R"]) * f
    R = np.where(x < 1.3, sp["Rr"], R)
    return R


def cartridge_side(P, c, bx, by, ang, sp, steel_case=False, jit=None):
    """Cartridge lying with its axis in the plate plane: base at (bx,by), pointing at ang."""
    L, R = sp["oal"], max(sp["Rr"], sp["R"])
    tip = (bx + L * math.cos(ang), by + L * math.sin(ang))
    sl = c.win(min(bx, tip[0]) - R, max(bx, tip[0]) + R, min(by, tip[1]) - R, max(by, tip[1]) + R)
    x, y = _rot(c.U[sl], c.V[sl], bx, by, ang)
    ay = np.abs(y)
    cl, wall, head = sp["cl"], 0.35, 3.0
    seat = min(7.0, 1.4 * sp["r"] + 1.0)
    bb = cl - seat
    Rx = _case_radius(x, sp)
    inc = (x >= 0) & (x <= cl)
    case = np.where(x < head, cylp(ay, Rx), cylp(ay, Rx) - cylp(ay, Rx - wall)) * inc
    P("steel" if steel_case else "brass")[sl] += case
    P("powder", 0.9)[sl] += ((x >= head) & (x < bb)) * cylp(ay, Rx - wall)
    bl = L - bb
    og = min(bl * 0.75, (2.4 if sp["sh"] is None else 5.5) * sp["r"])
    xb = x - bb
    f = np.clip((xb - (bl - og)) / og, 0, 1)
    rb = sp["r"] * np.sqrt(np.clip(1 - f * f, 0, 1))
    if sp["sh"] is None:
        rb = np.maximum(rb, 0.3 * sp["r"])
    inb = (xb >= 0) & (xb <= bl)
    if sp["fmj"]:
        P("copper")[sl] += inb * (cylp(ay, rb) - cylp(ay, np.clip(rb - 0.45, 0, None)))
        P("lead")[sl] += inb * cylp(ay, np.clip(rb - 0.45, 0, None))
    else:
        P("lead")[sl] += inb * cylp(ay, rb)


def cartridge_up(P, c, cx, cy, sp, steel_case=False):
    """Cartridge standing with its axis along the plate normal (seen end-on)."""
    R = max(sp["Rr"], sp["R"])
    sl = c.win(cx - R, cx + R, cy - R, cy + R)
    rr = np.hypot(c.U[sl] - cx, c.V[sl] - cy)
    cl, wall, head = sp["cl"], 0.35, 3.0
    seat = min(7.0, 1.4 * sp["r"] + 1.0)
    bb = cl - seat
    band = max(wall, 1.2 * c.res)
    Rc = sp["R"] if sp["sh"] is None else sp["Rn"] * 0.5 + sp["R"] * 0.5
    cm = "steel" if steel_case else "brass"
    P(cm)[sl] += (rr < sp["Rr"]) * 1.3 + (rr < Rc) * (head - 1.3)
    P(cm)[sl] += ((rr < Rc) & (rr >= Rc - band)) * (cl - head) * (wall / band)
    P("powder", 0.9)[sl] += (rr < Rc - wall) * (bb - head)
    bl = sp["oal"] - bb
    og = min(bl * 0.75, (2.4 if sp["sh"] is None else 5.5) * sp["r"])
    q = np.clip(rr / sp["r"], 0, 1)
    lead_h = (rr < sp["r"]) * ((bl - og) + og * np.sqrt(1 - q * q))
    P("lead")[sl] += lead_h * (0.85 if sp["fmj"] else 1.0)
    if sp["fmj"]:
        P("copper")[sl] += (rr < sp["r"]) * 0.9 + ((rr < sp["r"]) & (rr >= sp["r"] - band)) * bl * (0.45 / band)


def shotshell(P, c, bx, by, ang, L=None, upright=False, rng=None):
    L = L or 67.0
    R = 10.25
    if upright:
        sl = c.win(bx - R, bx + R, by - R, by + R)
        rr = np.hypot(c.U[sl] - bx, c.V[sl] - by)
        band = max(0.6, 1.2 * c.res)
        P("pe")[sl] += ((rr < R) & (rr >= R - band)) * L * (0.6 / band) + (rr < R) * 2.0
        P("brass")[sl] += (rr < R) * 0.7 + ((rr < R) & (rr >= R - band)) * 12 * (0.35 / band)
        P("lead", 11.34 * 0.62)[sl] += (rr < R - 0.6) * 26.0
        P("powder", 0.9)[sl] += (rr < R - 0.6) * 6.0
        return
    tip = (bx + L * math.cos(ang), by + L * math.sin(ang))
    sl = c.win(min(bx, tip[0]) - R, max(bx, tip[0]) + R, min(by, tip[1]) - R, max(by, tip[1]) + R)
    x, y = _rot(c.U[sl], c.V[sl], bx, by, ang)
    ay = np.abs(y)
    inn = (x >= 0) & (x <= L)
    P("pe")[sl] += inn * tube_chord(ay, R, R - 0.6)
    P("brass")[sl] += ((x >= 0) & (x < 12)) * tube_chord(ay, R + 0.3, R) + ((x >= 0) & (x < 1.5)) * cylp(ay, R)
    P("powder", 0.9)[sl] += ((x >= 4) & (x < 10)) * cylp(ay, R - 0.6)
    P("pe", 0.5)[sl] += ((x >= 10) & (x < 30)) * cylp(ay, R - 0.6)
    P("lead", 11.34 * 0.62)[sl] += ((x >= 30) & (x < L - 7)) * cylp(ay, R - 0.6)


def magazine(P, c, top, ang, length, depth, thick, sp, n_loaded, body=("steel", 7.85), wall=0.8,
             curve=0.0, steel_case=False, forward=1.0):
    """Box magazine whose axis starts at `top` and runs along angle `ang` (optionally curved).
    Cartridges lie across it, pointing `forward` (+1: rotate axis +90 deg)."""
    n = 24
    m = np.linspace(0, length, n)
    a = ang + curve * m
    px = top[0] + np.concatenate([[0], np.cumsum(np.cos(a[:-1]) * np.diff(m))])
    py = top[1] + np.concatenate([[0], np.cumsum(np.sin(a[:-1]) * np.diff(m))])
    nx, ny = -np.sin(a) * forward, np.cos(a) * forward          # towards the bullet tips
    front = np.stack([px + nx * depth / 2, py + ny * depth / 2], 1)
    back = np.stack([px - nx * depth / 2, py - ny * depth / 2], 1)
    poly = np.concatenate([front, back[::-1]])
    mat, rho = body
    P(mat, rho * min(1.0, 2 * wall / thick))[:] += poly_mask(c, poly) * thick
    band = max(wall, 1.2 * c.res)
    for edge in (front, back):
        add_band(P(mat, rho * min(1.0, wall / band)), c, edge, band / 2, thick)
    # base plate
    add_band(P("pom" if mat != "steel" else "steel"), c,
             [back[-1], front[-1]], 1.5, thick + 2)
    pitch = 2 * sp["R"] * (0.58 if depth > 0 and thick > 3.2 * sp["R"] else 1.0)
    k_max = int((length - 10) / pitch)
    nl = min(n_loaded, k_max)
    for k in range(nl):
        mk = 4 + sp["R"] + k * pitch
        i = min(n - 1, int(mk / length * (n - 1)))
        cxk, cyk = np.interp(mk, m, px), np.interp(mk, m, py)
        ca = math.atan2(ny[i], nx[i])
        base = (cxk - math.cos(ca) * sp["oal"] / 2 * 0.96, cyk - math.sin(ca) * sp["oal"] / 2 * 0.96)
        cartridge_side(P, c, base[0], base[1], ca, sp, steel_case)
    # follower + spring in the empty part
    m0 = 4 + nl * pitch + (sp["R"] if nl else 0)
    if m0 < length - 8:
        zz = []
        for j, mj in enumerate(np.linspace(m0 + 3, length - 4, max(3, int((length - m0) / 5)))):
            sgn = 0.4 if j % 2 else -0.4
            zz.append([np.interp(mj, m, px) + nx[-1] * depth * sgn, np.interp(mj, m, py) + ny[-1] * depth * sgn])
        add_tube(P("steel"), c, zz, 0.65)
    return poly


# -------------------------------------------------------------------------------------
# 3c. Guns (class 1).  Local frame: u towards the muzzle, v up, w across the gun.
#     Hollow steel parts are modelled as their full outer width with a reduced density.
# -------------------------------------------------------------------------------------
def _grip_poly(u_top_back, u_top_front, v_top, length, slope_deg, flare=2.0):
    t = math.tan(math.radians(slope_deg))
    return np.array([[u_top_back, v_top], [u_top_front, v_top],
                     [u_top_front - length * t + flare, v_top - length],
                     [u_top_back - length * t - flare, v_top - length - 3]])


def _trigger_group(P, c, rng, ug, vg, mat, rho, wth=9.0):
    g = rng.uniform
    a, b = g(20, 27), g(13, 17)
    ring = c.zeros()
    add_ring(ring, c, ug, vg, a, a - g(3.5, 5.5), 1.0, b_scale=b / a)
    ring *= (c.V < vg + b * 0.3)
    P(mat, rho)[:] += ring * wth
    add_tube(P("steel"), c, [[ug + 3, vg + b * 0.5], [ug + 1, vg - 2], [ug + 4, vg - b * 0.5]], 2.6)


def make_pistol(rng):
    g = rng.uniform
    compact = rng.random() < 0.4
    Ls = g(150, 172) if compact else g(180, 215)
    Hs, Ws = g(27, 34), g(22, 29)
    Lg = g(82, 100) if compact else g(100, 125)
    slope = g(14, 22)
    polymer = rng.random() < 0.5
    c = Canvas(-14 - Lg * math.tan(math.radians(slope)), Ls + 6, -Lg - 12, Hs + 10, 0.35)
    P = Parts(c)
    sp = CARTRIDGES[pick(rng, PISTOL_CARTS)]
    # slide (hollow steel) with ejection port, rails
    add_rrect(P("steel", 7.85 * g(0.38, 0.5)), c, Ls / 2, Hs / 2, Ls, Hs, Ws, r=3, edge=4)
    port = (c.U > Ls * 0.45) & (c.U < Ls * 0.68) & (c.V > Hs * 0.62)
    for (mat, rho, w0), hh in P.h.items():
        if mat == "steel" and rho < 7.0 and rho > 2.5:
            hh[port] *= 0.45
    bore_v = Hs * g(0.5, 0.6)
    add_rod(P("steel"), c, (Ls * 0.3, bore_v), (Ls - 1, bore_v), g(6.2, 7.2), sp["r"] + 0.1)
    add_rod(P("steel"), c, (Ls * 0.3, bore_v), (Ls * 0.3 + 20, bore_v), g(7.5, 8.5), sp["R"] + 0.1)
    add_rod(P("steel"), c, (Ls * 0.35, Hs * 0.15), (Ls - 4, Hs * 0.15), g(2.0, 2.8))
    add_rod(P("steel"), c, (Ls * 0.35, Hs * 0.15), (Ls - 4, Hs * 0.15), 5.0, 4.2, fill=0.4)
    add_rrect(P("steel"), c, 8, Hs + 2.5, 8, 5, g(8, 12), r=1)           # rear sight
    add_rrect(P("steel"), c, Ls - 8, Hs + 2, 4, 4, 3.5, r=1)              # front sight
    if rng.random() < 0.45:                                               # hammer
        add_rrect(P("steel"), c, -4, Hs * 0.45, 12, Hs * 0.7, 8, r=3, ang=0.3)
    # frame
    fm, frho = ("nylon", 1.35 * 0.75) if polymer else ("steel", 7.85 * g(0.25, 0.4))
    fw = g(26, 31)
    add_rrect(P(fm, frho), c, Ls * 0.62, -5.5, Ls * 0.62, 11, fw, r=3)       # dust cover
    add_rrect(P(fm, frho), c, Ls * 0.16, -7, Ls * 0.36, 14, fw, r=3)         # frame over grip
    gd = g(30, 38)
    grip = _grip_poly(-6, gd - 6, -4, Lg, slope)
    gm = poly_mask(c, grip)
    if polymer:
        P("nylon", 1.35 * 0.35)[:] += gm * fw
        add_rrect(P("steel"), c, Ls * 0.2, -1.5, 14, 3, fw * 0.8)            # rail inserts
        add_rrect(P("steel"), c, Ls * 0.8, -1.5, 12, 3, fw * 0.8)
    else:
        P("steel", 7.85 * 0.18)[:] += gm * fw
        gpm, gpr = pick(rng, [("wood", 0.75), ("rubber", 1.15), ("pom", 1.41)])
        P(gpm, gpr * 0.35)[:] += gm * (fw + 4)
    _trigger_group(P, c, rng, gd + g(6, 12), -18, fm, frho * (1.6 if polymer else 2.0))
    # magazine in the grip (sometimes absent)
    if rng.random() < 0.85:
        a = math.radians(-90 - slope)
        top = (gd / 2 - 6 + 2, -6)
        nl = int(rng.integers(0, 18)) if rng.random() < 0.75 else 0
        magazine(P, c, top, a, Lg + 2, gd - 8, Ws - 2, sp, nl, forward=1.0)
    P.commit()
    return Obj("gun_pistol" + ("_polymer" if polymer else "_steel") + ("_compact" if compact else ""),
               "gun", "steel", c, cls=1)


def make_revolver(rng):
    g = rng.uniform
    sp = CARTRIDGES[pick(rng, REVOLVER_CARTS)]
    nch = pick(rng, [5, 6, 6, 6, 7, 8])
    rb = sp["Rr"] + 0.2
    Rd = g(16.5, 20.5) if nch <= 6 else g(19.5, 21.5)
    rc = Rd - rb - g(1.8, 3.0)
    if nch >= 7:
        rc = max(rc, rb / math.sin(math.pi / nch) + 0.6)
        Rd = rc + rb + 1.6
    Ld = sp["oal"] + g(1.0, 4.0)
    Lbar = pick(rng, [g(50, 65), g(95, 105), g(145, 155)])
    ud0 = 20.0
    uf = ud0 + Ld + 14
    Lg = g(85, 115)
    slope = g(18, 30)
    vc = -rc
    c = Canvas(-24 - Lg * math.tan(math.radians(slope)), uf + Lbar + 6, vc - Rd - Lg - 20, 28, 0.35)
    P = Parts(c)
    fw = g(20, 26)
    fr = 7.85 * g(0.7, 0.9)
    vb = vc - Rd - 5
    add_poly(P("steel", fr), c, [[-6, 16], [uf, 16], [uf, vb + 4], [-6, vb]], fw)     # frame
    hole = (c.U > ud0 - 1) & (c.U < ud0 + Ld + 1) & (c.V < 10) & (c.V > vb + 4)
    for (mat, rho, w0), hh in P.h.items():
        hh[hole] = 0
    # barrel (+ underlug, ejector rod, sight)
    rbo = g(8, 10.5)
    add_rod(P("steel"), c, (uf, 0), (uf + Lbar, 0), rbo, sp["r"] + 0.1)
    if rng.random() < 0.45:
        add_rrect(P("steel"), c, uf + Lbar / 2, -rbo - 5, Lbar, 10, 12, r=2)
    add_rod(P("steel"), c, (ud0 + Ld, vc - 2), (uf + min(Lbar, 60), vc - 2), g(2.5, 3.2))
    add_rrect(P("steel"), c, uf + Lbar - 8, rbo + 3, 10, 6, 4, r=1)
    # cylinder: drum minus chambers (chords), cartridges in the loaded chambers
    sl = c.win(ud0, ud0 + Ld, vc - Rd, vc + Rd)
    U, V = c.U[sl], c.V[sl]
    inu = (U >= ud0) & (U <= ud0 + Ld)
    phase = g(0, 2 * math.pi / nch)
    drum = cylp(np.abs(V - vc), Rd)
    vks = [vc + rc * math.cos(phase + 2 * math.pi * k / nch) for k in range(nch)]
    for vk in vks:
        drum = drum - cylp(np.abs(V - vk), rb)
    P("steel")[sl] += inu * np.clip(drum, 0, None)
    nload = nch if rng.random() < 0.55 else int(rng.integers(0, nch))
    for k in rng.permutation(nch)[:nload]:
        cartridge_side(P, c, ud0 + 0.5, vks[k], 0.0, sp)
    # grip frame + grips, hammer, trigger
    grip = _grip_poly(-10, 18, vb + 6, Lg, slope, flare=6)
    P(*pick(rng, [("wood", 0.75), ("rubber", 1.15)]))[:] += poly_mask(c, grip) * g(30, 36)
    strap = _grip_poly(-6, 4, vb + 6, Lg * 0.92, slope, flare=0)
    add_poly(P("steel"), c, strap, 13)
    add_rrect(P("steel"), c, -8, 14, 18, 9, 7, r=3, ang=0.5)             # hammer spur
    _trigger_group(P, c, rng, 30, vb - 10, "steel", 7.85)
    P.commit()
    return Obj(f"gun_revolver_{nch}shot", "gun", "steel", c, cls=1)


def make_smg(rng):
    g = rng.uniform
    Lr, Hr, Wr = g(210, 300), g(38, 55), g(34, 48)
    bar_out = g(15, 70)
    grip_mag = rng.random() < 0.5
    sp = CARTRIDGES[pick(rng, ["9x19", "9x19", ".45acp"])]
    Lm = g(150, 240)
    c = Canvas(-30, Lr + bar_out + 8, -Lm - 30, Hr + 14, 0.4)
    P = Parts(c)
    wall = g(1.2, 2.0)
    add_rrect(P("steel", 7.85 * 2 * wall / Wr), c, Lr / 2, Hr / 2, Lr, Hr, Wr, r=4)
    for vv in (wall / 2, Hr - wall / 2):
        add_rrect(P("steel", 7.85 * 0.5), c, Lr / 2, vv, Lr - 4, max(wall, 0.8) * 2, Wr)
    for uu in (3, Lr - 3):
        add_rrect(P("steel"), c, uu, Hr / 2, 6, Hr - 2, Wr * 0.9, r=2)
    ub = Lr * g(0.15, 0.35)
    add_rrect(P("steel"), c, ub + 40, Hr / 2, g(70, 100), Hr - 10, Wr - 8, r=3)       # bolt
    add_rod(P("steel"), c, (Lr * 0.5, Hr * 0.5), (Lr + bar_out, Hr * 0.5), g(7.5, 9.5), sp["r"] + 0.1)
    add_disk(P("steel"), c, Lr * 0.4, Hr + 4, 5, 10)                                 # cocking knob
    add_rrect(P("steel"), c, 10, Hr + 4, 10, 8, 8, r=1)
    ug = Lr * g(0.3, 0.45)
    gp = _grip_poly(ug - 15, ug + 22, 0, g(95, 115), g(5, 18))
    P("nylon", 1.3 * 0.8)[:] += poly_mask(c, gp) * g(28, 34)
    _trigger_group(P, c, rng, ug + 32, -14, "steel", 7.85 * 0.6, wth=8)
    nl = int(rng.integers(8, 33)) if rng.random() < 0.75 else 0
    if grip_mag:
        magazine(P, c, (ug + 3, 2), math.radians(-90 - 8), Lm, 2 * sp["R"] * 2.6, 24, sp, nl,
                 forward=1.0)
    else:
        magazine(P, c, (ug + 70, 2), math.radians(-90 + 12), Lm, 2 * sp["R"] * 2.6, 24, sp, nl,
                 curve=math.radians(0.10), forward=1.0)
        add_rrect(P("nylon", 1.3 * 0.8), c, Lr * 0.8, -18, 50, 34, 30, r=8)          # foregrip
    if rng.random() < 0.5:                                                           # folded stock
        add_rod(P("steel"), c, (-20, Hr * 0.3), (Lr * 0.75, Hr * 0.3), 4.5, 3.3)
        add_rod(P("steel"), c, (-20, Hr * 0.75), (Lr * 0.75, Hr * 0.75), 4.5, 3.3)
        add_rrect(P("steel"), c, -20, Hr * 0.5, 6, Hr * 0.8, 5)
    P.commit()
    return Obj("gun_smg" + ("_gripmag" if grip_mag else "_frontmag"), "gun", "steel", c, cls=1)


def make_gun(rng):
    k = pick(rng, ["pistol", "revolver", "smg"], [60, 28, 12])
    return {"pistol": make_pistol, "revolver": make_revolver, "smg": make_smg}[k](rng)


# -------------------------------------------------------------------------------------
# 3d. Ammunition (class 2)
# -------------------------------------------------------------------------------------
def make_ammo(rng):
    kind = pick(rng, ["loose", "box", "magazine", "clip", "shells", "speedloader"], [30, 26, 24, 6, 9, 5])
    g = rng.uniform
    if kind == "loose":
        n = pick(rng, [1, 1, 2, 3, 4, 5, 6, 8])
        name = pick(rng, list(CARTRIDGES), [5, 2, 1, 2, 1, 1, 2, 2, 1])
        sp = CARTRIDGES[name]
        steel = name == "7.62x39" and rng.random() < 0.5
        spread = 0 if n == 1 else g(12, 30) * math.sqrt(n)
        ext = spread + sp["oal"] + 4
        c = Canvas(-ext, ext, -ext, ext, 0.25)
        P = Parts(c)
        for k in range(n):
            cx, cy = (rng.uniform(-spread, spread, 2) if n > 1 else (0.0, 0.0))
            if rng.random() < 0.15 and n > 1:
                cartridge_up(P, c, cx, cy, sp, steel)
            else:
                a = g(0, 2 * math.pi)
                cartridge_side(P, c, cx - math.cos(a) * sp["oal"] / 2, cy - math.sin(a) * sp["oal"] / 2, a, sp, steel)
        P.commit()
        return Obj(f"ammo_loose_{name}_x{n}", "ammunition", "brass", c, cls=2)
    if kind == "box":
        name = pick(rng, list(CARTRIDGES), [5, 2, 1, 2, 1, 2, 2, 1, 1])
        sp = CARTRIDGES[name]
        upright = rng.random() < 0.6 and sp["oal"] < 45
        if upright:
            nr, nc = pick(rng, [(4, 5), (5, 5), (5, 10), (10, 5), (5, 10)])
            pitch = 2 * sp["Rr"] + g(1.0, 2.5)
            L, Wd = nc * pitch + 8, nr * pitch + 8
        else:
            nr, nc = pick(rng, [(10, 2), (5, 4), (10, 4), (5, 5)])
            pitch = 2 * sp["Rr"] + g(0.8, 2.0)
            L, Wd = nc * (sp["oal"] + 3) + 8, nr * pitch + 8
        T = (sp["oal"] + 8) if upright else 2 * sp["Rr"] + 8
        c = Canvas(-L / 2 - 3, L / 2 + 3, -Wd / 2 - 3, Wd / 2 + 3, 0.25)
        P = Parts(c)
        add_shell_box(P("paper", 0.75), c, 0, 0, L, Wd, T, 1.0, r=1.5)
        sdf, sl = rrect_sdf(c, 0, 0, L / 2 - 2, Wd / 2 - 2, 1)
        P("pe", 0.95 * 0.25)[sl] += (sdf <= 0) * T * 0.6
        missing = rng.random() < 0.3
        for i in range(nr):
            for j in range(nc):
                if missing and rng.random() < 0.2:
                    continue
                y = -Wd / 2 + 4 + pitch * (i + 0.5)
                if upright:
                    cartridge_up(P, c, -L / 2 + 4 + pitch * (j + 0.5), y, sp)
                else:
                    x0 = -L / 2 + 4 + j * (sp["oal"] + 3)
                    if (i + j) % 2:
                        cartridge_side(P, c, x0 + sp["oal"], y, math.pi, sp)
                    else:
                        cartridge_side(P, c, x0, y, 0.0, sp)
        P.commit()
        return Obj(f"ammo_box_{name}_{nr * nc}", "ammunition", "brass", c, cls=2)
    if kind == "magazine":
        if rng.random() < 0.6:
            name = pick(rng, PISTOL_CARTS)
            sp = CARTRIDGES[name]
            Lm, depth, thick, body, curve = g(95, 135), sp["oal"] + 3, g(20, 25), ("steel", 7.85), 0.0
        else:
            name = pick(rng, ["5.56x45", "7.62x39"])
            sp = CARTRIDGES[name]
            Lm, depth, thick = g(150, 240), sp["oal"] + 4, g(22, 26)
            body = pick(rng, [("steel", 7.85), ("aluminium", 2.7), ("nylon", 1.35)])
            curve = math.radians(g(0.05, 0.22))
        c = Canvas(-depth, Lm * 0.5 + depth, -Lm - 5, 8, 0.3)
        P = Parts(c)
        nl = int(rng.integers(5, 40)) if rng.random() < 0.5 else 99
        magazine(P, c, (0.0, 0.0), -math.pi / 2, Lm, depth, thick, sp, nl, body=body, curve=curve,
                 forward=-1.0, steel_case=(name == "7.62x39" and rng.random() < 0.5))
        P.commit()
        return Obj(f"ammo_magazine_{name}", "ammunition", "brass", c, cls=2)
    if kind == "clip":
        sp = CARTRIDGES[pick(rng, RIFLE_CARTS)]
        n = pick(rng, [5, 10])
        pitch = 2 * sp["Rr"] + 0.3
        Wd = n * pitch + 4
        c = Canvas(-4, sp["oal"] + 4, -Wd / 2 - 2, Wd / 2 + 2, 0.25)
        P = Parts(c)
        for k in range(n):
            cartridge_side(P, c, 0, -Wd / 2 + 2 + pitch * (k + 0.5), 0.0, sp)
        add_rrect(P("steel"), c, 1.5, 0, 4, Wd, 2 * sp["Rr"] * 0.9, r=0.5)
        P.commit()
        return Obj(f"ammo_clip_x{n}", "ammunition", "brass", c, cls=2)
    if kind == "shells":
        n = pick(rng, [1, 2, 3, 5, 10, 25])
        L = g(63, 72)
        if n >= 10:
            nr = 5
            nc = n // nr
            upright = rng.random() < 0.5
            pitch = 21.5
            Lx = (nc * pitch if upright else nc * (L + 2)) + 6
            Ly = nr * pitch + 6
            c = Canvas(-Lx / 2 - 3, Lx / 2 + 3, -Ly / 2 - 3, Ly / 2 + 3, 0.3)
            P = Parts(c)
            add_shell_box(P("paper", 0.75), c, 0, 0, Lx, Ly, (L if upright else 22) + 4, 1.0)
            for i in range(nr):
                for j in range(nc):
                    y = -Ly / 2 + 3 + pitch * (i + 0.5)
                    if upright:
                        shotshell(P, c, -Lx / 2 + 3 + pitch * (j + 0.5), y, 0, L, upright=True)
                    else:
                        shotshell(P, c, -Lx / 2 + 3 + j * (L + 2), y, 0.0, L)
        else:
            spread = g(15, 35) * math.sqrt(n) if n > 1 else 0
            ext = spread + L + 4
            c = Canvas(-ext, ext, -ext, ext, 0.3)
            P = Parts(c)
            for k in range(n):
                cx, cy = (rng.uniform(-spread, spread, 2) if n > 1 else (0.0, 0.0))
                a = g(0, 2 * math.pi)
                shotshell(P, c, cx - math.cos(a) * L / 2, cy - math.sin(a) * L / 2, a, L)
        P.commit()
        return Obj(f"ammo_shotshells_x{n}", "ammunition", "lead", c, cls=2)
    # speedloader: revolver rounds upright in a ring
    sp = CARTRIDGES[pick(rng, REVOLVER_CARTS)]
    n = pick(rng, [5, 6])
    rc = 13.5 if n == 6 else 12.5
    c = Canvas(-rc - 8, rc + 8, -rc - 8, rc + 8, 0.25)
    P = Parts(c)
    add_disk(P(pick(rng, ["aluminium", "abs"])), c, 0, 0, rc + 6, 14)
    add_disk(P("steel"), c, 0, 0, 4, 20)
    for k in range(n):
        a = 2 * math.pi * k / n
        cartridge_up(P, c, rc * math.cos(a), rc * math.sin(a), sp)
    P.commit()
    return Obj("ammo_speedloader", "ammunition", "brass", c, cls=2)


# -------------------------------------------------------------------------------------
# 3e. Dense organic blocks (class 3): explosive simulants / drugs, 1.2-1.9 g/cm^3
# -------------------------------------------------------------------------------------
DENSE_ORGANICS = [("rdx", 1.55, 1.80), ("petn", 1.55, 1.77), ("tnt", 1.45, 1.65), ("c4", 1.50, 1.72),
                  ("an", 1.20, 1.45), ("cocaine", 1.20, 1.45), ("heroin", 1.20, 1.40)]


def make_dense_organic(rng):
    g = rng.uniform
    mat, r0, r1 = pick(rng, DENSE_ORGANICS, [3, 1.5, 1.5, 3, 1.5, 3, 2])
    rho = float(np.clip(g(r0, r1) * g(0.98, 1.08), 1.2, 1.9))
    form = pick(rng, ["brick", "slab", "bundle", "packets", "lump"], [40, 20, 12, 16, 12])
    if form in ("brick", "slab"):
        L, Wd = (g(110, 260), g(70, 160)) if form == "brick" else (g(150, 300), g(90, 210))
        T = g(35, 85) if form == "brick" else g(20, 35)
        c = Canvas(-L / 2 - 4, L / 2 + 4, -Wd / 2 - 4, Wd / 2 + 4, 0.6)
        P = Parts(c)
        sdf, sl = rrect_sdf(c, 0, 0, L / 2, Wd / 2, g(4, 18))
        edge = g(4, 14)
        x = np.clip(-sdf / edge, 0, 1)
        prof = np.sqrt(np.clip(1 - (1 - x) ** 2, 0, None))
        tex = 1 + 0.03 * smooth_noise(rng, prof.shape, cells=5)
        P(mat, rho)[sl] += T * prof * tex
        P("pe")[sl] += (sdf <= 0) * g(0.3, 1.2)                                # wrap
        for k in range(int(rng.integers(0, 4))):                                 # tape bands
            add_rrect(P("pvc"), c, g(-L / 3, L / 3), 0, g(25, 50), Wd + 2, 0.3, ang=g(-0.2, 0.2))
    elif form == "bundle":                                                       # sticks
        n = int(rng.integers(3, 9))
        r, L = g(12, 17), g(150, 210)
        Wd = n * 2 * r
        c = Canvas(-L / 2 - 4, L / 2 + 4, -Wd / 2 - 6, Wd / 2 + 6, 0.5)
        P = Parts(c)
        for k in range(n):
            y = -Wd / 2 + r * (2 * k + 1)
            add_rod(P(mat, rho), c, (-L / 2, y), (L / 2, y), r)
            add_rod(P("paper", 0.8), c, (-L / 2, y), (L / 2, y), r + 0.6, r)
        add_rrect(P("pvc"), c, 0, 0, 40, Wd + 3, 2 * r, ang=0)
    elif form == "packets":
        n = int(rng.integers(2, 7))
        pl, pw, pt = g(70, 120), g(45, 80), g(22, 40)
        cols = min(n, int(rng.integers(1, 4)))
        rows = int(math.ceil(n / cols))
        L, Wd = cols * pl + 4, rows * pw + 4
        c = Canvas(-L / 2 - 4, L / 2 + 4, -Wd / 2 - 4, Wd / 2 + 4, 0.6)
        P = Parts(c)
        for k in range(n):
            cx = -L / 2 + 2 + pl * (k % cols + 0.5) + g(-3, 3)
            cy = -Wd / 2 + 2 + pw * (k // cols + 0.5) + g(-3, 3)
            add_rrect(P(mat, rho), c, cx, cy, pl - 2, pw - 2, pt, r=6, edge=g(5, 10), ang=g(-0.08, 0.08))
            add_rrect(P("pe"), c, cx, cy, pl, pw, 0.6, r=6)
        add_rrect(P("pvc"), c, 0, 0, L + 2, g(30, 50), 0.3)
    else:  # lump of plastic explosive / pressed powder
        rx, ry, T = g(50, 110), g(35, 80), g(30, 60)
        c = Canvas(-rx * 1.6, rx * 1.6, -ry * 1.6, ry * 1.6, 0.6)
        P = Parts(c)
        m = poly_mask(c, blob_polygon(rng, rx, ry, rough=0.3))
        inner = np.clip(np.asarray(m, F32), 0, 1)
        # dome-ish profile from a blurred mask
        k = max(1, int(12 / c.res))
        prof = inner.copy()
        for ax in (0, 1):
            prof = (np.cumsum(np.pad(prof, [(k, k) if a == ax else (0, 0) for a in (0, 1)]), axis=ax))
            prof = (np.take(prof, range(2 * k, prof.shape[ax]), axis=ax) -
                    np.take(prof, range(0, prof.shape[ax] - 2 * k), axis=ax)) / (2 * k)
        prof = np.clip(prof, 0, 1) * inner
        P(mat, rho)[:] += T * np.sqrt(prof) * (1 + 0.04 * smooth_noise(rng, prof.shape, 5))
        P("pe")[:] += inner * 0.5
    P.commit()
    return Obj(f"dense_organic_{form}_{mat}", "dense_organic", mat, c, cls=3)


THREAT_MAKERS = [make_knife, make_gun, make_ammo, make_dense_organic]


# -------------------------------------------------------------------------------------
# 4. Benign clutter (class None)
# -------------------------------------------------------------------------------------
def _obj(name, family, material, c, P, ss=2):
    P.commit()
    return Obj(name, family, material, c, cls=None, ss=ss)


def _screws(P, c, rng, L, Wd, n, cx=0.0, cy=0.0):
    for k in range(n):
        add_disk(P("steel"), c, cx + rng.uniform(-L / 2, L / 2), cy + rng.uniform(-Wd / 2, Wd / 2),
                 rng.uniform(0.9, 1.4), rng.uniform(3, 6))


def _board(P, c, rng, cx, cy, L, Wd, nchips=6):
    add_rrect(P("pcb"), c, cx, cy, L, Wd, 1.2, r=2)
    for k in range(nchips):
        add_rrect(P("chip"), c, cx + rng.uniform(-L / 2.5, L / 2.5), cy + rng.uniform(-Wd / 2.5, Wd / 2.5),
                  rng.uniform(5, 20), rng.uniform(5, 20), rng.uniform(0.8, 2.0), r=0.5)
    for k in range(int(rng.integers(0, 3))):
        add_shell_box(P("steel"), c, cx + rng.uniform(-L / 3, L / 3), cy + rng.uniform(-Wd / 3, Wd / 3),
                      rng.uniform(12, 30), rng.uniform(10, 25), 2.5, 0.2)


def make_laptop(rng):
    g = rng.uniform
    L, Wd, T = g(290, 370), g(195, 255), g(14, 24)
    c = Canvas(-L / 2 - 4, L / 2 + 4, -Wd / 2 - 4, Wd / 2 + 4, 0.5)
    P = Parts(c)
    alu = rng.random() < 0.6
    add_shell_box(P("aluminium" if alu else "abs", 2.7 if alu else 1.1), c, 0, 0, L, Wd, T,
                  g(0.9, 1.4) if alu else g(1.6, 2.4), r=g(4, 12))
    if not alu:
        add_rrect(P("aluminium", 1.8), c, 0, 0, L - 20, Wd - 20, 0.8, r=5)      # Mg frame
    add_rrect(P("glass"), c, 0, 0, L - 12, Wd - 12, g(1.0, 2.2), r=4)         # display
    add_rrect(P("abs"), c, 0, -Wd * 0.1, L * 0.85, Wd * 0.4, 3, r=2)          # keyboard
    add_rrect(P("aluminium"), c, 0, -Wd * 0.1, L * 0.85, Wd * 0.4, 0.4, r=2)
    ncell = int(rng.integers(2, 6))
    cw = (L * 0.8) / ncell
    bh = g(55, 90)
    for k in range(ncell):
        add_rrect(P("liion"), c, -L * 0.4 + cw * (k + 0.5), -Wd / 2 + 12 + bh / 2, cw - 3, bh,
                  g(5, 7), r=2, edge=1.5)
    _board(P, c, rng, g(-L / 6, L / 6), Wd * 0.22, L * g(0.5, 0.75), g(60, 90), int(rng.integers(6, 14)))
    y_hp = Wd * 0.3
    add_tube(P("copper"), c, [[-L * 0.1, y_hp], [L * 0.15, y_hp - 10], [L * 0.3, y_hp]], 3.2, 2.7)
    for sx in (-1, 1):
        add_disk(P("abs", 0.4), c, sx * L * 0.3, Wd * 0.28, g(25, 35), 8)
        add_rrect(P("steel"), c, sx * L * 0.38, Wd / 2 - 6, 30, 10, 6, r=1)      # hinges
        add_rrect(P("steel"), c, sx * L * 0.42, -Wd * 0.05, 18, 12, 3)          # speaker magnets
    for k in range(int(rng.integers(2, 5))):                                        # ports
        add_shell_box(P("steel"), c, -L / 2 + 5, g(-Wd / 3, Wd / 3), 10, 13, 5, 0.3)
    _screws(P, c, rng, L - 10, Wd - 10, int(rng.integers(8, 16)))
    return _obj("laptop", "electronics", "aluminium" if alu else "abs", c, P)


def make_tablet(rng):
    g = rng.uniform
    L, Wd = g(190, 290), g(130, 200)
    c = Canvas(-L / 2 - 3, L / 2 + 3, -Wd / 2 - 3, Wd / 2 + 3, 0.5)
    P = Parts(c)
    add_shell_box(P("aluminium"), c, 0, 0, L, Wd, g(6, 8), g(0.5, 0.8), r=10)
    add_rrect(P("glass"), c, 0, 0, L - 2, Wd - 2, g(1.2, 1.8), r=9)
    for k in range(int(rng.integers(1, 4))):
        add_rrect(P("liion"), c, -L * 0.2 + k * L * 0.2, 0, L * 0.18, Wd * 0.7, 3.5, r=2)
    _board(P, c, rng, L * 0.35, 0, L * 0.15, Wd * 0.6, 5)
    for k in range(6):
        add_rrect(P("steel"), c, g(-L / 2 + 5, L / 2 - 5), pick(rng, [-1, 1]) * (Wd / 2 - 3), 12, 3, 3)
    return _obj("tablet", "electronics", "aluminium", c, P)


def make_phone(rng):
    g = rng.uniform
    L, Wd, T = g(135, 168), g(64, 79), g(7.5, 9.5)
    c = Canvas(-L / 2 - 2, L / 2 + 2, -Wd / 2 - 2, Wd / 2 + 2, 0.3)
    P = Parts(c)
    fm = pick(rng, ["aluminium", "steel", "abs"])
    add_shell_box(P(fm), c, 0, 0, L, Wd, T, g(0.4, 0.8) if fm != "abs" else 1.2, r=g(6, 11))
    add_rrect(P("glass"), c, 0, 0, L - 1, Wd - 1, g(1.2, 1.6), r=8)
    add_rrect(P("liion"), c, -L * 0.12, 0, L * 0.55, Wd * 0.72, g(4, 5), r=2)
    _board(P, c, rng, L * 0.3, 0, L * 0.3, Wd * 0.7, 6)
    add_rrect(P("steel"), c, L * 0.38, Wd * 0.2, 12, 12, 5, r=2)                     # camera
    add_rrect(P("steel"), c, -L * 0.45, 0, 8, 14, 3, r=1)                           # speaker
    return _obj("phone", "electronics", fm, c, P)


def make_charger(rng):
    g = rng.uniform
    big = rng.random() < 0.4
    L, Wd, T = (g(95, 140), g(45, 65), g(25, 35)) if big else (g(40, 70), g(35, 60), g(22, 32))
    c = Canvas(-L / 2 - 25, L / 2 + 4, -Wd / 2 - 4, Wd / 2 + 4, 0.4)
    P = Parts(c)
    add_shell_box(P("pc"), c, 0, 0, L, Wd, T, 2.0, r=5)
    _board(P, c, rng, 0, 0, L - 8, Wd - 8, 4)
    add_rrect(P("ferrite"), c, L * 0.1, 0, g(12, 20), g(12, 20), g(12, 18), r=1)      # transformer
    add_rrect(P("copper"), c, L * 0.1, 0, g(16, 24), g(8, 12), g(8, 12), r=2, edge=2)
    add_disk(P("aluminium"), c, -L * 0.25, -Wd * 0.2, g(5, 8), g(12, 20), profile="flat")  # capacitor
    if not big:
        for sy in (-1, 1):
            add_rrect(P("brass"), c, -L / 2 - 9, sy * 6, 18, 2, 6)                    # prongs
    return _obj("charger_brick" if big else "charger_plug", "electronics", "pc", c, P)


def make_cable(rng):
    g = rng.uniform
    R = g(45, 95)
    loops = int(rng.integers(3, 9))
    ext = R * 1.5 + 30
    c = Canvas(-ext, ext, -ext, ext, 0.4)
    P = Parts(c)
    ro, rcu = g(1.6, 3.5), g(0.45, 1.0)
    ncore = pick(rng, [1, 2, 2, 3])
    ecc = g(0.45, 1.0)
    for k in range(loops):
        th = np.linspace(0, 2 * math.pi, 60)
        rr = R * g(0.85, 1.15)
        a0 = g(0, math.pi)
        pts = xf(np.stack([rr * np.cos(th), rr * ecc * np.sin(th)], 1), g(-8, 8), g(-8, 8), a0 + g(-0.3, 0.3))
        add_tube(P("pvc"), c, pts, ro)
        add_tube(P("copper"), c, pts, rcu * math.sqrt(ncore))
    end = (R * 1.2, g(-R / 2, R / 2))
    if rng.random() < 0.7:
        add_shell_box(P("steel"), c, end[0], end[1], 14, 12, 5, 0.35)                  # USB plug
        add_rrect(P("abs"), c, end[0] - 14, end[1], 18, 14, 9, r=3)
    return _obj("cable_coil", "cable", "copper", c, P)


def make_umbrella(rng):
    g = rng.uniform
    compact = rng.random() < 0.6
    L = g(220, 300) if compact else g(550, 700)
    c = Canvas(-L / 2 - 40, L / 2 + 15, -32, 32, 0.4)
    P = Parts(c)
    sm = pick(rng, ["steel", "aluminium"])
    if compact:
        nseg = 3
        for k in range(nseg):
            r = 5.5 - k * 1.0
            add_rod(P(sm), c, (-L / 2 + k * 8, 0), (L / 2 - 40 + k * 15, 0), r, r - 0.6)
    else:
        add_rod(P("steel"), c, (-L / 2, 0), (L / 2, 0), 4.5, 3.7)
    nrib = int(rng.integers(6, 9))
    rm = pick(rng, ["steel", "fibreglass"])
    for k in range(nrib):
        y = g(-10, 10)
        add_rod(P(rm), c, (-L / 2 + g(10, 30), y), (L / 2 - g(0, 20), y + g(-3, 3)), g(0.8, 1.3))
    add_rod(P("nylon", 0.6), c, (-L / 2 + 10, 0), (L / 2, 0), g(18, 26), g(14, 18))     # canopy
    add_rrect(P("zamak"), c, L * 0.1, 0, 18, 14, 14, r=3)                              # runner
    if compact:
        add_rrect(P("abs"), c, -L / 2 - 25, 0, 50, 28, 28, r=10, edge=8)
    else:
        pts = [[-L / 2, 0], [-L / 2 - 25, 0], [-L / 2 - 35, 12], [-L / 2 - 28, 25], [-L / 2 - 18, 22]]
        add_tube(P("abs"), c, pts, 12)
        add_tube(P("steel"), c, pts[:3], 3.0)
    return _obj("umbrella_" + ("compact" if compact else "long"), "umbrella", sm, c, P)


def make_tool(rng):
    g = rng.uniform
    kind = pick(rng, ["wrench", "adjustable", "pliers", "screwdriver", "scissors", "hammer"], [3, 2, 3, 3, 3, 1])
    if kind in ("wrench", "adjustable"):
        L = g(110, 260)
        w = L * g(0.09, 0.12)
        t = g(4, 8) if kind == "wrench" else g(8, 14)
        hr = w * g(1.1, 1.5)
        c = Canvas(-L / 2 - hr * 1.8, L / 2 + hr * 1.8, -hr * 1.8, hr * 1.8, 0.35)
        P = Parts(c)
        add_rrect(P("steel"), c, 0, 0, L - 1.8 * hr, w, t * 0.8, r=w / 2, edge=2)
        h2 = c.zeros()
        add_disk(h2, c, L / 2, 0, hr * 1.2, t)
        add_disk(h2, c, L / 2 + hr * 0.9, 0, hr * 0.62, -t)                               # jaw opening
        if kind == "wrench":
            add_disk(h2, c, -L / 2, 0, hr, t)
            add_disk(h2, c, -L / 2, 0, hr * 0.55, -t)
        else:
            add_rod(h2, c, (L / 2 - 4, -hr * 0.9), (L / 2 - 4, hr * 0.9), 5, fill=1.0)
        P("steel")[:] += np.clip(h2, 0, None)
        name = kind
    elif kind == "pliers":
        L = g(140, 230)
        c = Canvas(-L / 2 - 5, L / 2 + 5, -40, 40, 0.35)
        P = Parts(c)
        op = g(0.05, 0.25)
        for s in (-1, 1):
            pts = [[-L / 2, s * 18 * (1 + op)], [0, s * 4], [L * 0.32, -s * 3], [L / 2, -s * 1]]
            add_tube(P("steel"), c, pts[:2], g(4, 5.5))
            add_tube(P("steel"), c, pts[1:], g(5, 7))
            add_tube(P(pick(rng, ["pvc", "rubber"])), c, [[-L / 2, s * 18 * (1 + op)], [-L * 0.1, s * 7]], 9)
        add_disk(P("steel"), c, 0, 0, 8, 12)
        name = "pliers"
    elif kind == "screwdriver":
        L = g(150, 320)
        hl = L * g(0.32, 0.45)
        c = Canvas(-L / 2 - 3, L / 2 + 3, -20, 20, 0.35)
        P = Parts(c)
        rs = g(2.5, 4.0)
        add_rod(P("steel"), c, (-L / 2 + hl * 0.5, 0), (L / 2 - 4, 0), rs)
        add_rrect(P("steel"), c, L / 2 - 3, 0, 6, rs * 2.2, rs * 0.8)
        add_handle(P(pick(rng, ["pc", "abs", "wood"])), c, -L / 2, -L / 2 + hl, g(12, 17), g(10, 13), g(24, 34))
        name = "screwdriver"
    elif kind == "scissors":
        L = g(130, 240)
        c = Canvas(-L * 0.45, L * 0.6, -45, 45, 0.3)
        P = Parts(c)
        op = g(0.0, 0.35)
        for s in (-1, 1):
            a = s * op / 2
            blade = xf([[0, 0], [L * 0.55, s * 2], [L * 0.55, -s * 1], [0, -s * 8]], 0, 0, a)
            add_poly(P("steel"), c, blade, g(2.0, 3.0))
            ring = c.zeros()
            add_ring(ring, c, -L * 0.28 * math.cos(a), s * (14 + 10 * op), L * 0.12, L * 0.12 - 6, 1.0)
            rm = pick(rng, [("abs", 1.05), ("steel", 7.85)])
            P(*rm)[:] += ring * (8 if rm[0] == "abs" else 3)
            add_tube(P("steel"), c, [[0, 0], [-L * 0.2, s * 10]], 3.0)
        add_disk(P("steel"), c, 0, 0, 3.5, 6)
        name = "scissors"
    else:
        L = g(250, 330)
        c = Canvas(-L / 2 - 3, L / 2 + 3, -70, 70, 0.4)
        P = Parts(c)
        add_handle(P(pick(rng, ["wood", "fibreglass"])), c, -L / 2, L / 2 - 10, 14, 12, 26)
        head = [[L / 2 - 25, -55], [L / 2 + 3, -55], [L / 2 + 3, 40], [L / 2 - 25, 40]]
        add_poly(P("steel"), c, head, 25)
        name = "hammer"
    return _obj(name, "tool", "steel", c, P)


def make_can(rng):
    g = rng.uniform
    kind = pick(rng, ["drink", "food", "aerosol"], [5, 2, 3])
    if kind == "drink":
        R, L, wall, wm = 33.0, 122.0, 0.1, "aluminium"
    elif kind == "food":
        R, L, wall, wm = g(35, 50), g(70, 115), 0.22, "steel"
    else:
        R, L, wall, wm = g(22, 27), g(130, 200), pick(rng, [0.45, 0.25]), pick(rng, ["aluminium", "steel"])
    upright = rng.random() < 0.3
    fill = g(0.0, 1.0) if rng.random() < 0.3 else 1.0
    c = Canvas(-L / 2 - 3, L / 2 + 3, -R - 3, R + 3, 0.4) if not upright else Canvas(-R - 3, R + 3, -R - 3, R + 3, 0.4)
    P = Parts(c)
    cont = pick(rng, [("water", 1.0), ("toothpaste", 1.15), ("sugar", 1.2)]) if kind == "food" else ("water", 1.0)
    if upright:
        rr = np.hypot(c.U, c.V)
        band = max(wall, 1.2 * c.res)
        P(wm)[:] += ((rr < R) & (rr >= R - band)) * L * (wall / band) + (rr < R) * 0.6
        P(*cont)[:] += (rr < R - wall) * (L - 4) * fill
    else:
        add_rod(P(wm), c, (-L / 2, 0), (L / 2, 0), R, R - wall)
        add_rod(P(wm, DENSITY[wm]), c, (-L / 2, 0), (-L / 2 + 0.6, 0), R)
        add_rod(P(wm, DENSITY[wm]), c, (L / 2 - 0.6, 0), (L / 2, 0), R)
        hh = c.zeros()
        add_rod(hh, c, (-L / 2 + 1, 0), (L / 2 - 1, 0), R - wall)
        if fill < 1:   # liquid settles: keep the lower part (in w) -- approximate by scaling
            hh *= fill
        P(*cont)[:] += hh
    if kind == "aerosol":
        add_rrect(P("steel"), c, (L / 2 - 5) if not upright else 0, 0, 10, 12, 10, r=3)
    return _obj(f"can_{kind}", "can", wm, c, P)


def make_coins(rng):
    g = rng.uniform
    pile = rng.random() < 0.4
    wallet = (not pile) and rng.random() < 0.4
    n = int(rng.integers(5, 21)) if pile else int(rng.integers(2, 13))
    spread = 8 if pile else g(25, 60)
    ext = spread + 20
    if wallet:
        ext = max(ext, 65)
    c = Canvas(-ext, ext, -ext, ext, 0.3)
    P = Parts(c)
    if wallet:
        add_rrect(P("leather"), c, 0, 0, 115, 95, g(3, 6), r=6)
        for k in range(int(rng.integers(2, 9))):
            add_rrect(P("pvc"), c, g(-6, 6), g(-6, 6), 85.6, 54, 0.76, r=3)
        if rng.random() < 0.5:
            add_rrect(P("copper", 8.9), c, g(-20, 20), g(-10, 10), 10, 8, 0.1)       # card chip
    dx, dy = g(-1.2, 1.2), g(-1.2, 1.2)
    for k in range(n):
        r = g(8, 15)
        m = pick(rng, ["brass", "copper", "steel", "brass"])
        if pile:
            add_disk(P(m), c, k * dx + g(-0.6, 0.6), k * dy + g(-0.6, 0.6), r, g(1.5, 2.4))
        else:
            add_disk(P(m), c, g(-spread, spread), g(-spread, spread), r, g(1.5, 2.4))
    return _obj("coins_pile" if pile else ("wallet_coins" if wallet else "coins_loose"), "coins", "brass", c, P)


def make_belt(rng):
    g = rng.uniform
    bw, t = g(25, 40), g(2.5, 4.5)
    coiled = rng.random() < 0.6
    if coiled:
        th = np.linspace(0, 2 * math.pi * g(2.0, 3.2), 120)
        r = g(30, 45) + bw * 1.05 * th / (2 * math.pi)
        pts = np.stack([r * np.cos(th), r * np.sin(th)], 1)
    else:
        L = g(300, 500)
        x = np.linspace(-L / 2, L / 2, 40)
        pts = np.stack([x, g(10, 60) * np.sin(x / L * math.pi * g(0.5, 2.0))], 1)
    ext = np.abs(pts).max() + bw + 40
    c = Canvas(-ext, ext, -ext, ext, 0.5)
    P = Parts(c)
    add_band(P(pick(rng, ["leather", "nylon"]), 1.0), c, pts, bw / 2, t)
    end = pts[-1]
    a = math.atan2(pts[-1][1] - pts[-2][1], pts[-1][0] - pts[-2][0])
    bm = pick(rng, ["steel", "zamak", "brass"])
    ring = c.zeros()
    sdf_o, sl = rrect_sdf(c, end[0], end[1], bw * 0.4 + 6, bw / 2 + 6, 4, a)
    sdf_i, _ = rrect_sdf(c, end[0], end[1], bw * 0.4, bw / 2, 2, a, sl=sl)
    ring[sl] += ((sdf_o <= 0) & (sdf_i > 0)) * g(3.5, 6.0)
    P(bm)[:] += ring
    add_rod(P(bm), c, (end[0], end[1]), (end[0] + math.cos(a) * bw * 0.4, end[1] + math.sin(a) * bw * 0.4), 1.5)
    return _obj("belt", "belt", bm, c, P)


def _key(P, c, rng, cx, cy, ang):
    g = rng.uniform
    L, w = g(25, 45), g(7, 9)
    m = pick(rng, ["brass", "steel", "brass", "copper"])
    h = c.zeros()
    u = np.linspace(0, L, 10)
    cuts = w / 2 - g(0, w * 0.45, 10)
    pts = np.concatenate([np.stack([u, np.full(10, w / 2)], 1), [[L + 2, 0]], np.stack([u[::-1], -cuts[::-1]], 1)])
    add_poly(h, c, xf(pts, cx, cy, ang), 2.0)
    hb = g(10, 15)
    hx, hy = cx - math.cos(ang) * hb, cy - math.sin(ang) * hb
    add_disk(h, c, hx, hy, hb, 2.2)
    add_disk(h, c, hx - math.cos(ang) * hb * 0.55, hy - math.sin(ang) * hb * 0.55, 2.5, -2.2)
    P(m)[:] += np.clip(h, 0, None)
    return hx - math.cos(ang) * hb * 0.55, hy - math.sin(ang) * hb * 0.55


def make_keys(rng):
    g = rng.uniform
    n = int(rng.integers(1, 7))
    c = Canvas(-75, 75, -75, 75, 0.25)
    P = Parts(c)
    rr = g(11, 16)
    for k in range(n):
        a = g(0, 2 * math.pi)
        _key(P, c, rng, math.cos(a) * (rr + 14), math.sin(a) * (rr + 14), a)
    ring = c.zeros()
    add_ring(ring, c, 0, 0, rr + 0.8, rr - 0.8, 1.0)
    P("steel")[:] += ring * 1.6
    if rng.random() < 0.5:
        add_rrect(P("abs"), c, g(-40, 40), g(-40, 40), 55, 32, 13, r=8, ang=g(0, 3))
        add_disk(P("steel"), c, 0, -rr - 30, 10, 3.2)                                    # coin cell
    return _obj("keys", "keys", "brass", c, P)


def make_hairdryer(rng):
    g = rng.uniform
    L, R = g(150, 220), g(30, 42)
    c = Canvas(-L / 2 - 5, L / 2 + 5, -R - 120, R + 5, 0.5)
    P = Parts(c)
    add_rod(P("abs"), c, (-L / 2, 0), (L / 2, 0), R, R - 2.0)
    add_rod(P("steel", 7.85 * 0.6), c, (-L / 2 + 20, 0), (-L / 2 + 55, 0), g(14, 18))     # motor
    add_rod(P("copper", 8.96 * 0.4), c, (-L / 2 + 25, 0), (-L / 2 + 50, 0), g(15, 19), 10)
    zz = [[L * 0.05 + k * 4, (-1) ** k * R * 0.6] for k in range(int(L * 0.35 / 4))]
    add_tube(P("steel"), c, zz, 0.4)                                                     # heater
    add_rrect(P("abs", 0.5), c, L * 0.2, 0, L * 0.4, R * 1.4, 2 * R * 0.6)                # mica/frame
    add_handle(P("abs", 0.6), c, -L * 0.05, -R - 105, 18, 15, 32, v0=0, round_butt=False)
    hp = c.zeros()
    add_rrect(hp, c, -L * 0.05, -R - 50, 36, 105, 30, r=8)
    P("abs", 1.05 * 0.35)[:] += hp
    _board(P, c, rng, -L * 0.05, -R - 30, 20, 40, 2)
    return _obj("hairdryer", "appliance", "abs", c, P)


def make_jar(rng):
    g = rng.uniform
    R, L = g(30, 50), g(70, 140)
    wall = g(2.5, 5)
    upright = rng.random() < 0.4
    c = Canvas(-L / 2 - 4, L / 2 + 4, -R - 4, R + 4, 0.4) if not upright else Canvas(-R - 4, R + 4, -R - 4, R + 4, 0.4)
    P = Parts(c)
    cont = pick(rng, [("sugar", 1.35), ("water", 1.0), ("toothpaste", 1.2), ("cheese", 1.05)])
    if upright:
        rr = np.hypot(c.U, c.V)
        P("glass")[:] += ((rr < R) & (rr >= R - wall)) * L + (rr < R) * 6
        P(*cont)[:] += (rr < R - wall) * (L - 14) * g(0.5, 1.0)
        add_disk(P("steel"), c, 0, 0, R + 1, 0.3)
        ring = c.zeros()
        add_ring(ring, c, 0, 0, R + 1.5, R, 12.0)
        P("steel", 7.85 * 0.03)[:] += ring
    else:
        add_rod(P("glass"), c, (-L / 2 + 10, 0), (L / 2, 0), R, R - wall)
        add_rod(P("glass"), c, (L / 2 - 6, 0), (L / 2, 0), R)
        add_rod(P(*cont), c, (-L / 2 + 12, 0), (L / 2 - 6, 0), R - wall)
        add_rod(P("steel"), c, (-L / 2, 0), (-L / 2 + 12, 0), R + 1.5, R + 1.2)
        add_rod(P("steel"), c, (-L / 2, 0), (-L / 2 + 0.3, 0), R + 1.5)
    return _obj("jar", "jar", "glass", c, P)


def make_book(rng):
    g = rng.uniform
    L, Wd, T = g(150, 290), g(105, 215), g(10, 60)
    hard = rng.random() < 0.6
    c = Canvas(-L / 2 - 5, L / 2 + 5, -Wd / 2 - 5, Wd / 2 + 5, 0.8)
    P = Parts(c)
    add_rrect(P("paper", g(0.7, 1.15)), c, 0, 0, L, Wd, T, r=1)
    if hard:
        add_rrect(P("paper", 0.8), c, 0, 0, L + 6, Wd + 6, g(4, 6), r=1)
        if rng.random() < 0.2:
            add_rrect(P("steel"), c, g(-L / 3, L / 3), Wd / 2 - 15, 35, 8, 1.0, r=2)      # paperclip
    return _obj("book_hardback" if hard else "book_paperback", "book", "paper", c, P, ss=1)


def make_shoe(rng):
    g = rng.uniform
    L, Wd = g(230, 310), g(80, 110)
    pair = rng.random() < 0.6
    c = Canvas(-L / 2 - 6, L / 2 + 6, -Wd * (1.25 if pair else 0.6) - 6, Wd * (1.25 if pair else 0.6) + 6, 0.6)
    P = Parts(c)
    dress = rng.random() < 0.45
    for k in range(2 if pair else 1):
        oy = (k - 0.5) * Wd * 1.15 if pair else 0
        th = np.linspace(0, 2 * math.pi, 40, endpoint=False)
        rx = L / 2
        ry = Wd / 2 * (1 - 0.25 * (np.cos(th) < 0) * np.abs(np.cos(th)))
        sole = np.stack([rx * np.cos(th), oy + ry * np.sin(th) * (1 + 0.1 * np.cos(th))], 1)
        sm = poly_mask(c, sole)
        if dress:
            P("rubber", 1.15)[:] += sm * g(8, 14)
            add_rrect(P("rubber"), c, -L * 0.35, oy, L * 0.18, Wd * 0.5, g(20, 30), r=8)    # heel
            add_rrect(P("steel"), c, -L * 0.12, oy, g(80, 110), g(12, 16), g(1.2, 2.0), r=3)  # shank
            for j in range(int(rng.integers(4, 9))):
                add_disk(P("steel"), c, -L * 0.35 + g(-15, 15), oy + g(-12, 12), 1.0, 8)     # heel nails
        else:
            P("eva", g(0.2, 0.35))[:] += sm * g(25, 40)
            P("rubber")[:] += sm * g(3, 6)
        d, sl = polyline_dist(c, np.concatenate([sole, sole[:1]]), 8)
        depth = g(70, 120)
        P("leather" if dress else "nylon", 0.9)[sl] += (d < 2.0) * depth * 0.9 + ((d < 30) & sm[sl]) * 2.5
        for j in range(int(rng.integers(0, 8))):
            add_ring(P("steel"), c, L * 0.15 + j * 9, oy + pick(rng, [-1, 1]) * 12, 2.5, 1.5, 1.0)
    return _obj("shoes" if pair else "shoe", "shoe", "rubber", c, P, ss=1)


def make_bottle(rng):
    g = rng.uniform
    kind = pick(rng, ["pet", "shampoo", "glass", "thermos", "perfume"], [4, 4, 2, 2, 2])
    if kind == "pet":
        R, L, wm, wall, cont = g(30, 40), g(180, 260), "polyester", 0.35, ("water", 1.0)
    elif kind == "shampoo":
        R, L, wm, wall, cont = g(22, 35), g(100, 200), "pe", 1.0, ("soap", 1.03)
    elif kind == "glass":
        R, L, wm, wall, cont = g(33, 40), g(250, 320), "glass", g(3, 5), ("water", 1.0)
    elif kind == "thermos":
        R, L, wm, wall, cont = g(32, 40), g(200, 280), "steel", 0.5, ("water", 1.0)
    else:
        R, L, wm, wall, cont = g(20, 35), g(60, 110), "glass", g(4, 8), ("water", 0.9)
    ecc = g(0.55, 1.0) if kind in ("shampoo", "perfume") else 1.0
    c = Canvas(-L / 2 - 30, L / 2 + 4, -R - 4, R + 4, 0.4)
    P = Parts(c)
    def chord(d, r):
        return cylp(d, r) * ecc
    sl = c.win(-L / 2 - 30, L / 2, -R, R)
    U, V = c.U[sl], c.V[sl]
    ay = np.abs(V)
    body = (U >= -L / 2) & (U <= L / 2)
    nw = {"pet": 12, "shampoo": 14, "glass": 13, "thermos": 25, "perfume": 8}[kind]
    neck = (U < -L / 2) & (U >= -L / 2 - 25)
    P(wm)[sl] += body * (chord(ay, R) - chord(ay, R - wall)) + neck * (cylp(ay, nw) - cylp(ay, max(nw - wall, 1)))
    if kind == "thermos":
        P(wm)[sl] += body * (chord(ay, R - 4) - chord(ay, R - 4 - wall))
        fill_r = R - 4 - wall
    else:
        fill_r = R - wall
    level = g(0.3, 1.0) if rng.random() < 0.4 else 1.0
    P(*cont)[sl] += body * chord(ay, fill_r) * level
    P(pick(rng, ["pe", "abs"]))[sl] += ((U < -L / 2 - 18) & (U >= -L / 2 - 30)) * cylp(ay, nw + 2)
    if kind == "perfume":
        add_rod(P("steel"), c, (-L / 2 - 30, 0), (-L / 2 - 18, 0), 5)
    return _obj(f"bottle_{kind}", "toiletry" if kind in ("shampoo", "perfume") else "bottle", wm, c, P)


def make_toiletry(rng):
    g = rng.uniform
    kind = pick(rng, ["toothpaste", "razor", "clippers", "hairclips", "battery_pack", "powerbank"])
    if kind == "toothpaste":
        L, Wd = g(120, 190), g(35, 50)
        c = Canvas(-L / 2 - 15, L / 2 + 3, -Wd / 2 - 3, Wd / 2 + 3, 0.4)
        P = Parts(c)
        sl = c.win(-L / 2, L / 2, -Wd / 2, Wd / 2)
        U, V = c.U[sl], c.V[sl]
        s = np.clip((U + L / 2) / L, 0, 1)
        hw = Wd / 2 * (0.6 + 0.4 * s)
        T = g(18, 28) * (1 - 0.85 * s)
        inside = (U >= -L / 2) & (U <= L / 2) & (np.abs(V) < hw)
        P("toothpaste")[sl] += inside * T * np.sqrt(np.clip(1 - (V / hw) ** 2, 0, 1)) * g(0.5, 1.0)
        P(pick(rng, ["aluminium", "pe"]), 1.0)[sl] += inside * 0.6
        add_rod(P("pe"), c, (-L / 2 - 14, 0), (-L / 2, 0), 10)
        name = "toothpaste"
    elif kind == "razor":
        c = Canvas(-80, 80, -25, 25, 0.3)
        P = Parts(c)
        add_handle(P("abs"), c, -75, 35, 8, 6, 12)
        add_rrect(P("abs"), c, 50, 0, 14, 42, 8, r=3)
        for k in range(3):
            add_rrect(P("steel"), c, 48 + k * 1.5, 0, 0.6, 38, 6)
        name = "razor"
    elif kind == "clippers":
        c = Canvas(-45, 45, -15, 15, 0.25)
        P = Parts(c)
        add_rrect(P("steel"), c, 0, 0, g(55, 85), g(12, 16), g(5, 9), r=4)
        add_rrect(P("steel"), c, g(-10, 10), 0, 45, 10, 2, r=3, ang=0.05)
        name = "nail_clippers"
    elif kind == "hairclips":
        c = Canvas(-60, 60, -60, 60, 0.25)
        P = Parts(c)
        for k in range(int(rng.integers(3, 12))):
            a = g(0, math.pi)
            x0, y0 = g(-40, 40), g(-40, 40)
            pts = xf([[0, 0], [55, 1.5], [0, 3], [50, 5]], x0, y0, a)
            add_tube(P("steel"), c, pts, 0.5)
        name = "hair_clips"
    elif kind == "battery_pack":
        n = int(rng.integers(2, 9))
        c = Canvas(-40, 40, -45, 45, 0.3)
        P = Parts(c)
        for k in range(n):
            y = -n * 7.5 + k * 15 + 7.5
            add_rod(P("steel"), c, (-25, y), (25, y), 7.25, 6.9)
            add_rod(P("alkaline"), c, (-24, y), (24, y), 6.9)
            add_rod(P("steel"), c, (25, y), (26.5, y), 2.5)
        name = "aa_batteries"
    else:
        n = int(rng.integers(1, 5))
        L = 75
        c = Canvas(-L / 2 - 8, L / 2 + 8, -n * 10 - 12, n * 10 + 12, 0.3)
        P = Parts(c)
        add_shell_box(P(pick(rng, ["aluminium", "pc"])), c, 0, 0, L + 10, n * 19 + 14, 24, 1.2, r=6)
        for k in range(n):
            y = -n * 9.5 + k * 19 + 9.5
            add_rod(P("steel"), c, (-32.5, y), (32.5, y), 9.2, 8.95)
            add_rod(P("liion"), c, (-32, y), (32, y), 8.9)
        _board(P, c, rng, L / 2 - 3, 0, 8, n * 18, 2)
        name = "powerbank"
    return _obj(name, "toiletry" if kind in ("toothpaste", "razor", "clippers", "hairclips") else "electronics",
                "steel", c, P)


def make_food(rng):
    g = rng.uniform
    kind = pick(rng, ["cheese", "chocolate", "apple", "sausage", "sugar", "soap", "candle", "salt"])
    if kind == "apple":
        n = int(rng.integers(1, 4))
        c = Canvas(-100, 100, -50, 50, 0.6)
        P = Parts(c)
        for k in range(n):
            r = g(32, 42)
            add_disk(P("water", 0.85), c, -70 + k * 75, g(-5, 5), r, 2 * r, profile="dome")
        return _obj("fruit", "food", "water", c, P, ss=1)
    if kind == "sausage":
        L, r = g(150, 300), g(18, 30)
        c = Canvas(-L / 2 - 3, L / 2 + 3, -r - 3, r + 3, 0.5)
        P = Parts(c)
        add_rod(P("cheese", 1.0), c, (-L / 2, 0), (L / 2, 0), r)
        return _obj("sausage", "food", "cheese", c, P, ss=1)
    mat, rho = {"cheese": ("cheese", 1.1), "chocolate": ("chocolate", 1.25), "sugar": ("sugar", 0.9),
                "soap": ("soap", 1.1), "candle": ("pe", 0.9), "salt": ("salt", 1.2)}[kind]
    L, Wd, T = g(80, 220), g(50, 120), g(10, 60)
    if kind == "chocolate":
        T = g(8, 20)
    c = Canvas(-L / 2 - 3, L / 2 + 3, -Wd / 2 - 3, Wd / 2 + 3, 0.6)
    P = Parts(c)
    add_rrect(P(mat, rho), c, 0, 0, L, Wd, T, r=g(2, 15), edge=g(2, 8))
    if kind == "chocolate":
        add_rrect(P("aluminium"), c, 0, 0, L, Wd, 0.03)
    return _obj(kind, "food", mat, c, P, ss=1)


def make_misc(rng):
    g = rng.uniform
    kind = pick(rng, ["headphones", "glasses_case", "watch", "camera", "flashlight", "padlock",
                      "cutlery", "adapter", "straightener", "pens", "tripod"])
    if kind == "headphones":
        c = Canvas(-110, 110, -100, 110, 0.4)
        P = Parts(c)
        th = np.linspace(0.15 * math.pi, 0.85 * math.pi, 30)
        arc = np.stack([90 * np.cos(th), 90 * np.sin(th) - 20], 1)
        add_band(P("abs"), c, arc, 12, 10)
        add_band(P("steel"), c, arc, 6, 1.2)
        for s in (-1, 1):
            add_disk(P("abs", 0.5), c, s * 80, -40, 40, 35)
            add_disk(P("steel"), c, s * 80, -40, g(12, 18), g(3, 6))                      # magnet
            add_ring(P("copper"), c, s * 80, -40, 13, 10, 4)
        add_tube(P("pvc"), c, [[80, -80], [0, -95], [-80, -80]], 1.5)
    elif kind == "glasses_case":
        c = Canvas(-85, 85, -40, 40, 0.4)
        P = Parts(c)
        add_shell_box(P(pick(rng, ["steel", "abs"])), c, 0, 0, 160, 65, 40, 0.4, r=25)
        add_rrect(P("pc"), c, 0, 0, 130, 40, 3, r=15)
        add_tube(P("steel"), c, [[-65, 5], [65, 5]], 0.8)
    elif kind == "watch":
        c = Canvas(-90, 90, -30, 30, 0.25)
        P = Parts(c)
        add_disk(P("steel"), c, 0, 0, g(18, 23), g(8, 13), profile="dome")
        add_disk(P("glass"), c, 0, 0, 16, 2)
        bm = pick(rng, [("steel", 7.85 * 0.6), ("leather", 0.9)])
        for s in (-1, 1):
            add_rrect(P(*bm), c, s * 55, 0, 70, 20, 4, r=3)
    elif kind == "camera":
        c = Canvas(-70, 70, -50, 90, 0.5)
        P = Parts(c)
        add_shell_box(P("aluminium"), c, 0, 0, 125, 80, 60, 1.5, r=8)
        add_rrect(P("liion"), c, -35, 0, 22, 50, 15)
        _board(P, c, rng, 20, 0, 60, 60, 5)
        add_rod(P("aluminium"), c, (0, 40), (0, 85), 30, 27)
        for k in range(4):
            add_rod(P("glass"), c, (0, 45 + k * 10), (0, 49 + k * 10), 24)
    elif kind == "flashlight":
        L = g(100, 250)
        nb = int((L - 50) / 52) + 1
        c = Canvas(-L / 2 - 3, L / 2 + 3, -22, 22, 0.3)
        P = Parts(c)
        R = g(11, 19)
        add_rod(P("aluminium"), c, (-L / 2, 0), (L / 2, 0), R, R - 1.8)
        add_rod(P("aluminium"), c, (L / 2 - 35, 0), (L / 2, 0), R + 3, R + 1)
        for k in range(nb):
            add_rod(P("steel"), c, (-L / 2 + 3 + k * 52, 0), (-L / 2 + 51 + k * 52, 0), min(R - 2, 9.2), min(R - 2, 9.2) - 0.3)
            add_rod(P("alkaline"), c, (-L / 2 + 3 + k * 52, 0), (-L / 2 + 51 + k * 52, 0), min(R - 2.3, 8.9))
        add_rod(P("glass"), c, (L / 2 - 3, 0), (L / 2, 0), R + 2)
    elif kind == "padlock":
        c = Canvas(-35, 35, -40, 55, 0.3)
        P = Parts(c)
        m = pick(rng, ["brass", "steel", "zamak"])
        add_rrect(P(m), c, 0, 0, g(40, 55), g(35, 45), g(15, 22), r=4, edge=3)
        th = np.linspace(0, math.pi, 20)
        add_tube(P("steel"), c, np.stack([15 * np.cos(th), 20 + 25 * np.sin(th)], 1), g(3, 4.5))
    elif kind == "cutlery":
        c = Canvas(-110, 110, -60, 60, 0.3)
        P = Parts(c)
        for k in range(int(rng.integers(1, 4))):
            y = -35 + k * 30
            typ = pick(rng, ["spoon", "fork"])
            add_rrect(P("steel"), c, -30, y, 120, 10, g(1.5, 2.5), r=4)
            if typ == "spoon":
                add_disk(P("steel"), c, 55, y, 24, 1.6, b=17)
            else:
                for j in range(4):
                    add_rrect(P("steel"), c, 55, y - 7.5 + j * 5, 45, 2.5, 1.8)
    elif kind == "adapter":
        c = Canvas(-40, 40, -40, 40, 0.3)
        P = Parts(c)
        add_shell_box(P("pc"), c, 0, 0, 60, 55, 45, 2.0, r=6)
        for j in range(3):
            add_rrect(P("brass"), c, -15 + j * 15, 0, 3, 18, 6)
        add_rrect(P("brass"), c, 0, 22, 30, 4, 10)
    elif kind == "straightener":
        L = g(250, 300)
        c = Canvas(-L / 2 - 3, L / 2 + 3, -25, 25, 0.4)
        P = Parts(c)
        add_rrect(P("abs", 0.6), c, 0, 0, L, 35, 40, r=10)
        add_rrect(P(pick(rng, ["aluminium", "ceramic"])), c, L * 0.25, 0, 100, 25, 6)
        add_disk(P("steel"), c, -L / 2 + 15, 0, 6, 30)
        _board(P, c, rng, -L * 0.2, 0, 60, 20, 3)
    elif kind == "pens":
        c = Canvas(-80, 80, -40, 40, 0.3)
        P = Parts(c)
        for k in range(int(rng.integers(2, 8))):
            y = g(-30, 30)
            a = g(-0.3, 0.3)
            p0, p1 = xf([[-70, 0], [70, 0]], 0, y, a)
            metal = rng.random() < 0.3
            add_rod(P("brass" if metal else "abs"), c, tuple(p0), tuple(p1), 5, 4.3 if metal else 3.5)
            q0, q1 = xf([[-40, 0], [60, 0]], 0, y, a)
            add_rod(P("pe"), c, tuple(q0), tuple(q1), 1.5)
            add_tube(P("steel"), c, xf([[30 + j * 1.5, (-1) ** j * 1.5] for j in range(12)], 0, y, a), 0.3)
    else:  # tripod
        L = g(250, 400)
        c = Canvas(-L / 2 - 30, L / 2 + 3, -30, 30, 0.4)
        P = Parts(c)
        for k in range(3):
            y = -14 + k * 14
            add_rod(P("aluminium"), c, (-L / 2, y), (L / 2, y), 7, 6)
            add_rod(P("aluminium"), c, (-L / 2 + 20, y), (L / 2 - 10, y), 5.5, 4.6)
        add_rrect(P("zamak"), c, -L / 2 - 15, 0, 30, 45, 30, r=5)
    return _obj(kind, "misc", "steel", c, P)


CLUTTER = [  # (maker, weight, carries metal)
    (make_laptop, 7, True), (make_tablet, 4, True), (make_phone, 7, True), (make_charger, 8, True),
    (make_cable, 9, True), (make_umbrella, 5, True), (make_tool, 7, True), (make_can, 6, True),
    (make_coins, 6, True), (make_belt, 6, True), (make_keys, 6, True), (make_hairdryer, 4, True),
    (make_jar, 4, True), (make_book, 8, False), (make_shoe, 8, True), (make_bottle, 9, False),
    (make_toiletry, 9, True), (make_food, 7, False), (make_misc, 10, True),
]


# -------------------------------------------------------------------------------------
# 5. The bag: shell, trolley, wheels, zippers; clothes
# -------------------------------------------------------------------------------------
def shell_profile(s, D, rc, t):
    """Beam path through a closed shell of depth D, wall t and rim radius rc at inward
    distance s from the outline (s >= 0 inside)."""
    s = np.asarray(s, F32)
    x = rc - s
    corner = np.sqrt(np.clip(rc * rc - x * x, 0, None)) - np.sqrt(np.clip((rc - t) ** 2 - x * x, 0, None))
    corner = np.where(np.abs(x) < rc - t, corner, np.sqrt(np.clip(rc * rc - x * x, 0, None)))
    out = np.where(s < rc, 2 * corner, 2 * t) + (s < t) * (D - 2 * rc)
    return np.where(s >= 0, out, 0)


def rect_tube(P, c, mat, p0, p1, wd, ht, wall):
    """Rectangular tube lying flat (wide side in the image plane) from p0 to p1."""
    L = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
    a = math.atan2(p1[1] - p0[1], p1[0] - p0[0])
    cx, cy = (p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2
    add_rrect(P(mat), c, cx, cy, L, wd, 2 * wall, ang=a)
    band = max(wall, 1.2 * c.res)
    for sgn in (-1, 1):
        ox, oy = -math.sin(a) * sgn * (wd / 2 - band / 2), math.cos(a) * sgn * (wd / 2 - band / 2)
        add_rrect(P(mat, DENSITY[mat] * wall / band), c, cx + ox, cy + oy, L, band, ht - 2 * wall, ang=a)


def make_bag(rng):
    g = rng.uniform
    btype = pick(rng, ["hard", "soft", "backpack", "duffel"], [38, 34, 16, 12])
    if btype in ("hard", "soft"):
        L, Wd = g(480, 740), g(330, 490)
        Wd = min(Wd, L * 0.8)
        D = g(180, 290)
        rcorner = g(35, 75)
    elif btype == "backpack":
        L, Wd, D, rcorner = g(400, 540), g(280, 370), g(140, 240), g(50, 110)
    else:
        L, Wd, D = g(500, 720), g(270, 380), g(220, 320)
        rcorner = Wd / 2 * g(0.7, 1.0)
    res = 1.5
    ext = (L / 2 + 40, Wd / 2 + 40)
    objs = []
    # --- shell
    c = Canvas(-ext[0], ext[0], -ext[1], ext[1], res)
    P = Parts(c)
    sdf, _ = rrect_sdf(c, 0, 0, L / 2, Wd / 2, rcorner, sl=(slice(None), slice(None)))
    if btype in ("soft", "backpack", "duffel"):
        sdf = sdf + 6.0 * smooth_noise(rng, sdf.shape, cells=4)                      # bulges
    s = -sdf
    if btype == "hard":
        mat = pick(rng, [("pc", 1.2, g(2.0, 3.2)), ("abs", 1.05, g(2.2, 3.5)), ("aluminium", 2.7, g(0.7, 1.0))],
                   [5, 4, 1])
        shell_mat = mat[0]
        P(mat[0], mat[1])[:] += shell_profile(s, D, g(20, 40), mat[2])
        P("textile")[:] += (s > 0) * 1.0                                                # lining
    else:
        fab = shell_mat = pick(rng, ["polyester", "nylon"])
        P(fab, 0.7)[:] += shell_profile(s, D, g(12, 30), g(1.5, 3.0))
        P(fab, 0.5)[:] += (s > 0) * g(0.5, 1.5)
        if btype == "soft" or rng.random() < 0.4:
            P("pe", 0.9)[:] += (s > 15) * g(1.5, 3.0)                                   # stiffener boards
    metal_zip = rng.random() < (0.4 if btype == "hard" else 0.65)
    zs = g(0.5, 3.0)
    P("zamak" if metal_zip else "nylon", 6.6 if metal_zip else 1.1)[:] += ((s > zs) & (s < zs + 6)) * (2.5 if metal_zip else 4.0)
    P.commit()
    shell = Obj(f"bag_{btype}", "bag", shell_mat, c, ss=1)
    objs.append(shell)
    # --- zipper pulls, handles
    c = Canvas(-ext[0], ext[0], -ext[1], ext[1], 0.5)
    P = Parts(c)
    for k in range(int(rng.integers(1, 4))):
        x = g(-L / 2 + 60, L / 2 - 60)
        y = pick(rng, [-1, 1]) * (Wd / 2 - 4)
        add_rrect(P("zamak" if metal_zip or rng.random() < 0.5 else "abs"), c, x, y, 12, 32, 3, r=3)
    for k in range(int(rng.integers(1, 3))):                                           # carry handles
        if btype == "backpack":
            break
        x, y = (g(-L / 4, L / 4), pick(rng, [-1, 1]) * (Wd / 2 - 14)) if k == 0 else (pick(rng, [-1, 1]) * (L / 2 - 14), 0)
        horiz = k == 0
        add_rrect(P("abs"), c, x, y, 130 if horiz else 25, 25 if horiz else 130, 22, r=8)
        for j in (-1, 1):
            add_disk(P("steel"), c, x + (j * 55 if horiz else 0), y + (0 if horiz else j * 55), 2.5, 10)
    if btype == "backpack":
        for sx in (-1, 1):                                                              # shoulder straps
            pts = [[-L / 2 + 30, sx * 60], [-L / 6, sx * 75], [L / 4, sx * 70], [L / 2 - 40, sx * 55]]
            add_band(P("eva", 0.15), c, pts, 30, 12)
            add_band(P("nylon", 0.8), c, pts, 30, 2)
            add_rrect(P("pom"), c, L / 2 - 50, sx * 55, 40, 45, 6, r=5)
            add_ring(P("steel"), c, -L / 2 + 40, sx * 60, 14, 11, 4)
        if rng.random() < 0.4:
            for sx in (-1, 1):
                add_rrect(P("aluminium"), c, 0, sx * 40, L * 0.8, 25, 3, r=5)
        for k in range(int(rng.integers(1, 3))):
            x0 = g(-L / 4, L / 4)
            add_band(P("zamak" if metal_zip else "nylon"), c, [[x0, -Wd / 2 + 30], [x0 + 20, 0], [x0, Wd / 2 - 30]], 3, 1.5)
    if btype == "duffel":
        add_band(P("zamak" if metal_zip else "nylon"), c, [[-L / 2 + 40, 0], [L / 2 - 40, 0]], 3, 2.0)
        for sx in (-1, 1):
            add_rrect(P("zamak"), c, sx * (L / 2 - 30), g(-30, 30), 60, 25, 8, r=6)        # snap hooks
    if btype == "soft" and rng.random() < 0.5:
        sdf2, sl2 = rrect_sdf(c, 0, 0, L / 2 - 12, Wd / 2 - 12, rcorner)
        P("steel")[sl2] += cylp(np.abs(sdf2), g(1.5, 2.2))                               # wire frame
    P.commit()
    if c.parts:
        objs.append(Obj("bag_hardware", "bag", "zamak", c, ss=1))
    # --- trolley + wheels (roller cases)
    if btype in ("hard", "soft") and rng.random() < 0.85:
        c = Canvas(-ext[0], ext[0], -ext[1], ext[1], 0.8)
        P = Parts(c)
        sep = g(180, min(280, Wd - 80)) / 2
        tm = pick(rng, ["aluminium", "aluminium", "steel"])
        u0, u1 = -L / 2 + 20, L / 2 - g(50, 90)
        nsec = pick(rng, [2, 3])
        for sy in (-1, 1):
            for k in range(nsec):
                wd, ht = 24 - 4 * k, 13 - 3 * k
                rect_tube(P, c, tm, (u0 + k * 25, sy * sep), (u1 - k * 10, sy * sep), wd, ht, 1.2 if tm == "aluminium" else 0.6)
            add_rrect(P("abs"), c, u1 + 15, sy * sep, 40, 36, 30, r=6, fill=0.4)       # base bracket
        add_rrect(P("abs"), c, u0 - 5, 0, 40, 2 * sep + 40, 32, r=12, fill=0.45)       # handle bar
        add_rod(P("steel"), c, (u0 - 5, -sep), (u0 - 5, sep), 2.0)
        add_rrect(P("steel"), c, u0 + 2, 0, 20, 30, 6, r=2)
        wheels = pick(rng, ["inline", "spinner"])
        R = g(20, 35)
        spots = [(L / 2 - 35, -Wd / 2 + 40), (L / 2 - 35, Wd / 2 - 40)]
        if wheels == "spinner":
            spots += [(-L / 2 + 35, -Wd / 2 + 40), (-L / 2 + 35, Wd / 2 - 40)]
        for (wu, wv) in spots:
            add_rrect(P("abs"), c, wu, wv, 2.4 * R, 2.0 * R, 40, r=10, fill=0.35)       # housing
            for k in range(2 if wheels == "spinner" else 1):
                vv = wv + (k - 0.5) * 22 if wheels == "spinner" else wv
                sl = c.win(wu - R, wu + R, vv - 12, vv + 12)
                du, dv = np.abs(c.U[sl] - wu), np.abs(c.V[sl] - vv)
                ww = 18 if wheels == "spinner" else 26
                P("rubber", 1.2)[sl] += (dv < ww / 2) * cylp(du, R)
                P("steel")[sl] += (np.abs(dv - ww / 2 + 3) < 2.5) * tube_chord(du, 11, 8)  # bearings
            add_rod(P("steel"), c, (wu, wv - 25), (wu, wv + 25), 3.5)                    # axle
            if wheels == "spinner":
                add_disk(P("steel"), c, wu, wv, 22, 3)
        P.commit()
        objs.append(Obj("trolley_and_wheels", "bag", tm, c, ss=1))
    inner = (L / 2 - 25, Wd / 2 - 25, max(rcorner - 25, 5))
    return btype, (L, Wd, D), objs, inner


def make_garment(rng, inner):
    g = rng.uniform
    kind = pick(rng, ["tshirt", "shirt", "jeans", "sweater", "towel", "dress", "socks", "jacket", "rolled"],
                [14, 10, 10, 8, 6, 5, 6, 4, 6])
    fab = {"tshirt": ("textile", 0.6, 0.35), "shirt": ("textile", 0.5, 0.4), "jeans": ("textile", 1.2, 0.55),
           "sweater": ("leather", 3.0, 0.13), "towel": ("textile", 2.5, 0.2), "dress": ("polyester", 0.5, 0.35),
           "socks": ("textile", 1.5, 0.25), "jacket": ("nylon", 4.0, 0.1), "rolled": ("textile", 0.0, 0.3)}[kind]
    mat, tl, rho = fab
    if kind == "rolled":
        L, r = g(180, 320), g(25, 45)
        c = Canvas(-L / 2 - 4, L / 2 + 4, -r - 4, r + 4, 2.0)
        P = Parts(c)
        add_rod(P(pick(rng, ["textile", "polyester"]), g(0.25, 0.4)), c, (-L / 2, 0), (L / 2, 0), r)
        P.commit()
        return Obj("clothes_rolled", "clothes", "textile", c, ss=1)
    if kind == "socks":
        rx, ry = g(50, 90), g(35, 55)
    else:
        rx, ry = g(110, min(260, inner[0])), g(90, min(200, inner[1]))
    c = Canvas(-rx * 1.6, rx * 1.6, -ry * 1.6, ry * 1.6, 2.0)
    P = Parts(c)
    base = poly_mask(c, blob_polygon(rng, rx, ry, rough=0.25))
    nl = int(rng.integers(2, 9))
    h = base * tl * 2
    for k in range(nl):
        a = g(0, 2 * math.pi)
        d = g(-0.5, 0.6) * min(rx, ry)
        h = h + tl * (base & ((c.U * math.cos(a) + c.V * math.sin(a)) < d))
    h = h * np.clip(1 + 0.35 * smooth_noise(rng, h.shape, cells=6), 0.3, 2.0)
    P(mat, rho * 1.5)[:] += h
    if kind == "jeans":
        for k in range(int(rng.integers(4, 8))):
            add_disk(P("copper"), c, g(-rx * 0.6, rx * 0.6), g(-ry * 0.6, ry * 0.6), 3.5, 2.5)
        x0, y0 = g(-rx * 0.4, rx * 0.4), g(-ry * 0.4, ry * 0.4)
        a = g(0, math.pi)
        add_band(P("brass"), c, xf([[-60, 0], [60, 0]], x0, y0, a), 3, 1.6)
        add_disk(P("brass"), c, x0 + 70 * math.cos(a), y0 + 70 * math.sin(a), 8, 3)
    if kind in ("dress", "shirt") and rng.random() < 0.15:                                  # underwire
        th = np.linspace(0.2, math.pi - 0.2, 16)
        for sx in (-1, 1):
            add_tube(P("steel"), c, np.stack([sx * 55 + 50 * np.cos(th), -50 * np.sin(th)], 1), 0.8)
    if kind == "jacket":
        x0 = g(-rx * 0.3, rx * 0.3)
        add_band(P("zamak"), c, [[x0, -ry * 0.8], [x0 + g(-20, 20), ry * 0.8]], 3, 2.0)
    P.commit()
    return Obj(f"clothes_{kind}", "clothes", mat, c, ss=1)


# =====================================================================================
# 6. Scene layout (all random draws that decide content use the layout stream only)
# =====================================================================================
def _tilt(rng, threat=True):
    r = rng.random()
    if not threat:
        return math.radians(rng.uniform(0, 60)) if r < 0.2 else 0.0
    if r < 0.55:
        return math.radians(rng.uniform(0, 15))
    if r < 0.80:
        return math.radians(rng.uniform(15, 60))
    if r < 0.95:
        return math.radians(rng.uniform(60, 85))
    return math.radians(rng.uniform(85, 89.5))


class Scene:
    def __init__(self, seed, index):
        self.seed, self.index = seed, index
        self.rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index, 0])))
        self.objects = []
        self.threats = []
        self.dropped = 0
        self._layout()

    def _bag_to_world(self, u, v):
        ca, sa = math.cos(self.bag_angle), math.sin(self.bag_angle)
        return self.bag_c[0] + u * ca - v * sa, self.bag_c[1] + u * sa + v * ca

    def _world_to_bag(self, x, y):
        ca, sa = math.cos(self.bag_angle), math.sin(self.bag_angle)
        dx, dy = x - self.bag_c[0], y - self.bag_c[1]
        return dx * ca + dy * sa, -dx * sa + dy * ca

    def _inside_bag(self, x, y, margin=0.0):
        u, v = self._world_to_bag(x, y)
        hx, hy, r = self.inner
        qx, qy = np.abs(u) - (hx - r), np.abs(v) - (hy - r)
        sdf = np.hypot(np.clip(qx, 0, None), np.clip(qy, 0, None)) + np.minimum(np.maximum(qx, qy), 0) - r
        return sdf <= -margin

    def _place(self, obj, threat=False, near=None, tries=40):
        rng = self.rng
        hx, hy, _ = self.inner
        img_w, img_h = W * PIXEL_MM, H * PIXEL_MM
        # out-of-plane pose drawn once, so that placement does not favour tilted objects
        tilt, axis, mirror = _tilt(rng, threat), rng.uniform(0, 2 * math.pi), rng.random() < 0.5
        for t in range(tries):
            if near is not None and t < tries // 2:
                cx, cy = near[0] + rng.uniform(-60, 60), near[1] + rng.uniform(-60, 60)
            else:
                u, v = rng.uniform(-hx * 0.9, hx * 0.9), rng.uniform(-hy * 0.9, hy * 0.9)
                cx, cy = self._bag_to_world(u, v)
            if rng.random() < 0.55 and not threat:
                phi = self.bag_angle + pick(rng, [0, 0.5, 1, 1.5]) * math.pi + rng.normal(0, 0.12)
            else:
                phi = rng.uniform(0, 2 * math.pi)
            R = rotation(phi, tilt, axis, mirror)
            obj.pose = (cx, cy, R)
            obj.tilt_deg = math.degrees(tilt)
            obj.angle_deg = math.degrees(phi) % 360
            x0, x1, y0, y1 = obj.world_bounds()
            m = 3 * PIXEL_MM
            if x0 < m or y0 < m or x1 > img_w - m or y1 > img_h - m:
                continue
            tol = 12.0 if threat else 30.0      # the interior is already 25 mm inside the outline
            if not all(self._inside_bag(x, y, -tol) for x, y in ((x0, y0), (x0, y1), (x1, y0), (x1, y1))):
                continue
            return True
        return False

    def _layout(self):
        rng = self.rng
        g = rng.uniform
        btype, dims, bag_objs, inner = make_bag(rng)
        L, Wd, D = dims
        self.bag_type, self.bag_dims = btype, dims
        img_w, img_h = W * PIXEL_MM, H * PIXEL_MM
        self.bag_angle = rng.normal(0, math.radians(5))
        if rng.random() < 0.12 and L < img_h - 30:
            self.bag_angle += math.pi / 2
        self.bag_c = (img_w / 2 + rng.normal(0, 25), img_h / 2 + rng.normal(0, 18))
        self.inner = inner
        for o in bag_objs:
            o.pose = (self.bag_c[0], self.bag_c[1], rotation(self.bag_angle))
            o.angle_deg, o.tilt_deg = math.degrees(self.bag_angle) % 360, 0.0
            self.objects.append(o)
        # clothes (clipped to the bag interior)
        fullness = g(0.3, 1.0)
        for k in range(int(4 + fullness * rng.integers(6, 22))):
            o = make_garment(rng, inner)
            u, v = g(-inner[0] * 0.7, inner[0] * 0.7), g(-inner[1] * 0.7, inner[1] * 0.7)
            cx, cy = self._bag_to_world(u, v)
            phi = self.bag_angle + g(-0.6, 0.6) + pick(rng, [0, math.pi])
            o.pose = (cx, cy, rotation(phi))
            o.angle_deg, o.tilt_deg = math.degrees(phi) % 360, 0.0
            o.clip = lambda X, Y, s=self: s._inside_bag(X, Y, 4.0).astype(F32)
            self.objects.append(o)
        # benign clutter (same distribution whether or not the bag carries threats)
        makers = [m for m, _, _ in CLUTTER]
        wts = [w for _, w, _ in CLUTTER]
        metal = [mt for _, _, mt in CLUTTER]
        n = int(rng.integers(5, 16))
        chosen = [int(rng.choice(len(makers), p=np.array(wts) / sum(wts))) for _ in range(n)]
        if sum(metal[i] for i in chosen) < 3:
            chosen += [int(rng.choice([i for i in range(len(makers)) if metal[i]])) for _ in range(2)]
        dense_spots = []
        self.clutter_tried = len(chosen)
        for i in chosen:
            o = makers[i](rng)
            if self._place(o, threat=False):
                self.objects.append(o)
                if o.family in ("electronics", "book", "shoe", "tool", "toiletry", "bottle", "can", "misc"):
                    dense_spots.append(o.pose[:2])
        # threats
        r = rng.random()
        nthreat = 0 if r < 0.38 else int(pick(rng, [1, 2, 3], [20, 40, 40]))
        for cls in [int(x) for x in rng.permutation(4)[:nthreat]]:     # distinct classes per bag
            for attempt in range(6):
                o = THREAT_MAKERS[cls](rng)
                near = dense_spots[int(rng.integers(len(dense_spots)))] if dense_spots and rng.random() < 0.5 else None
                if self._place(o, threat=True, near=near):
                    self.objects.append(o)
                    self.threats.append(o)
                    break
            else:
                self.dropped += 1
        self.i0_low = float(math.exp(g(math.log(2e4), math.log(1e5))))
        self.i0_high = self.i0_low * g(0.45, 0.65)
        self.psf_low = g(0.6, 1.0)
        self.psf_high = self.psf_low * 1.15


# =====================================================================================
# 7. Rendering and detector model
# =====================================================================================
def gblur(img, sigma):
    """Separable Gaussian blur with reflected borders."""
    if sigma <= 0:
        return img
    r = max(1, int(math.ceil(3 * sigma)))
    x = np.arange(-r, r + 1)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k = (k / k.sum()).astype(F32)
    out = img.astype(F32)
    for ax in (0, 1):
        pad = [(r, r) if a == ax else (0, 0) for a in (0, 1)]
        p = np.pad(out, pad, mode="reflect")
        acc = np.zeros_like(out)
        n = out.shape[ax]
        for i, w in enumerate(k):
            acc += w * (p[i:i + n, :] if ax == 0 else p[:, i:i + n])
        out = acc
    return out


def render(scene):
    """Returns (low, high) uint16 images, detector parameters, and fills object boxes."""
    rrng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([scene.seed, scene.index, 1])))
    acc = {}
    for o in scene.objects:
        o.box = rasterise(o, acc, rrng)
    mats = list(acc)
    idx = [MAT_INDEX[m] for m in mats]
    stack = np.stack([acc[m] for m in mats]) if mats else np.zeros((0, H, W), F32)
    # detector element gains/offsets (one element per image column; belt motion along rows)
    gain = 1 + rrng.normal(0, 0.03, W)
    gain_res = rrng.normal(0, 0.003, W)
    bad = rrng.integers(0, W, int(rrng.integers(0, 4)))
    gain_res[bad] += rrng.choice([-1, 1], bad.size) * rrng.uniform(0.01, 0.025, bad.size)
    flicker = 1 + gblur(rrng.normal(0, 0.004, (H, 1)).astype(F32), 3.0)[:, 0]
    out = {}
    for ch, i0, psf in (("low", scene.i0_low, scene.psf_low), ("high", scene.i0_high, scene.psf_high)):
        mu, wts = MU[ch], WEIGHTS[ch]
        T = np.zeros((H, W), F32)
        for b in range(len(wts)):
            if wts[b] < 1e-4:
                continue
            s = np.zeros((H, W), F32)
            for j, mi in enumerate(idx):
                s += F32(mu[mi, b]) * stack[j]
            T += F32(wts[b]) * np.exp(-s)
        T = gblur(T, psf)                                         # focal spot + detector PSF
        counts = rrng.poisson(np.clip(T, 0, None).astype(np.float64) * i0).astype(F32)
        counts = gblur(counts, 0.45)                              # scintillator cross-talk
        dark = 0.01 * i0 * (1 + rrng.normal(0, 0.2, W))
        raw = counts * gain[None, :].astype(F32) * flicker[:, None] + dark[None, :].astype(F32)
        raw += rrng.normal(0, 0.0012 * i0, (H, W)).astype(F32)   # electronic noise
        dark_cal = dark + rrng.normal(0, 0.0008 * i0, W)
        val = (raw - dark_cal[None, :]) / (i0 * gain * (1 + gain_res))[None, :] * 65535.0
        out[ch] = np.clip(np.rint(val), 0, 65535).astype(np.uint16)
    det = {"i0": {"low": round(scene.i0_low, 1), "high": round(scene.i0_high, 1)},
           "psf_sigma_px": {"low": round(scene.psf_low, 3), "high": round(scene.psf_high, 3)},
           "crosstalk_sigma_px": 0.45, "gain_spread": 0.03, "gain_residual": 0.003,
           "electronic_noise_rel": 0.0012}
    return out["low"], out["high"], det


# =====================================================================================
# 8. PNG (16-bit grayscale) writer/reader, outputs
# =====================================================================================
def _chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_png16(path, img):
    img = np.ascontiguousarray(img, dtype=np.uint16)
    h, w = img.shape
    raw = np.zeros((h, 1 + 2 * w), np.uint8)
    raw[:, 1:] = img.astype(">u2").view(np.uint8).reshape(h, 2 * w)
    data = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0)) +
            _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + _chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)


def read_png16(path):
    """Minimal reader: returns (header dict, uint16 array); checks CRCs; filters 0-4."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "bad signature"
    pos, idat, hdr, chunks = 8, b"", None, []
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        tag = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        crc = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF, "bad CRC"
        chunks.append(tag.decode())
        if tag == b"IHDR":
            w, h, bd, ct, cm, fm, im = struct.unpack(">IIBBBBB", body)
            hdr = dict(width=w, height=h, bit_depth=bd, colour_type=ct, compression=cm, filter=fm, interlace=im)
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    hdr["chunks"] = chunks
    w, h, bpp = hdr["width"], hdr["height"], 2
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * bpp)
    hdr["filters_used"] = sorted(set(int(x) for x in raw[:, 0]))
    rows = np.zeros((h, w * bpp), np.int32)
    prev = np.zeros(w * bpp, np.int32)
    for y in range(h):
        ft, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if ft == 0:
            cur = line
        elif ft == 2:
            cur = (line + prev) & 255
        else:
            cur = np.zeros_like(line)
            for x in range(w * bpp):
                a = cur[x - bpp] if x >= bpp else 0
                b, cc = prev[x], (prev[x - bpp] if x >= bpp else 0)
                if ft == 1:
                    pr = a
                elif ft == 3:
                    pr = (a + b) // 2
                else:
                    p = a + b - cc
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - cc)
                    pr = a if pa <= pb and pa <= pc else (b if pb <= pc else cc)
                cur[x] = (line[x] + pr) & 255
        rows[y] = cur
        prev = cur
    img = (rows[:, 0::2] << 8 | rows[:, 1::2]).astype(np.uint16)
    return hdr, img


def bag_id(seed, index):
    return f"ind_{seed}_{index:05d}"


def write_bag(scene, out_dir):
    low, high, det = render(scene)
    bid = bag_id(scene.seed, scene.index)
    write_png16(os.path.join(out_dir, bid + "_low.png"), low)
    write_png16(os.path.join(out_dir, bid + "_high.png"), high)
    lines, objs = [], []
    for o in scene.objects:
        rec = {"name": o.name, "class": o.cls, "class_name": CLASSES[o.cls] if o.cls is not None else None,
               "family": o.family, "material": o.material, "box": o.box,
               "center_mm": [round(float(o.pose[0]), 1), round(float(o.pose[1]), 1)],
               "angle_deg": round(float(getattr(o, "angle_deg", 0.0)), 1), "tilt_deg": round(float(o.tilt_deg), 1)}
        objs.append(rec)
        if o.cls is not None:
            x1, y1, x2, y2 = o.box
            assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H, "threat box outside image"
            lines.append(f"{o.cls} {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}")
    with open(os.path.join(out_dir, bid + ".txt"), "w") as f:
        f.write("".join(l + "\n" for l in lines))
    spectra = {ch: {k: SPECTRA[ch][k] for k in ("energies_keV", "weights", "mean_keV")} for ch in ("low", "high")}
    spectra["description"] = SPECTRA["description"]
    truth = {"id": bid, "seed": scene.seed, "index": scene.index, "width": W, "height": H,
             "pixel_mm": PIXEL_MM, "generator": GENERATOR_VERSION, "spectra": spectra,
             "i0": det["i0"], "psf_sigma_px": det["psf_sigma_px"],
             "detector": {k: det[k] for k in ("crosstalk_sigma_px", "gain_spread", "gain_residual",
                                              "electronic_noise_rel")},
             "value_mapping": "16-bit transmission, 65535 = air (flat-field), 0 = opaque",
             "bag": {"type": scene.bag_type, "size_mm": [round(x, 1) for x in scene.bag_dims],
                     "angle_deg": round(math.degrees(scene.bag_angle) % 360, 1)},
             "threats_dropped": scene.dropped, "objects": objs}
    with open(os.path.join(out_dir, bid + ".json"), "w") as f:
        json.dump(truth, f, indent=1)
    return len(lines)


def scene_stats(scene):
    return [o.cls for o in scene.threats]


# =====================================================================================
# 9. Self-check of a generated folder
# =====================================================================================
def check_dir(d):
    ids = sorted(f[:-5] for f in os.listdir(d)
                 if f.endswith(".json") and os.path.exists(os.path.join(d, f[:-5] + ".txt")))
    per_class, free, problems = [0, 0, 0, 0], 0, []
    stats = {"air_low": [], "air_high": [], "threat_low": [], "threat_high": [], "clothes_low": [],
             "clothes_high": []}
    for n, bid in enumerate(ids):
        js = json.load(open(os.path.join(d, bid + ".json")))
        labels = [l.split() for l in open(os.path.join(d, bid + ".txt")).read().splitlines() if l.strip()]
        threats = [o for o in js["objects"] if o["class"] is not None]
        if len(labels) != len(threats):
            problems.append(f"{bid}: {len(labels)} labels vs {len(threats)} threat objects")
        for lab, o in zip(labels, threats):
            c, cx, cy, w, h = int(lab[0]), *map(float, lab[1:])
            x1, y1, x2, y2 = o["box"]
            if c != o["class"]:
                problems.append(f"{bid}: class mismatch")
            if not (0 <= cx - w / 2 + 1e-9 and cx + w / 2 <= 1 + 1e-9 and 0 <= cy - h / 2 + 1e-9 and cy + h / 2 <= 1 + 1e-9):
                problems.append(f"{bid}: label outside image {lab}")
            if abs(cx * W - (x1 + x2) / 2) > 0.01 or abs(w * W - (x2 - x1)) > 0.01 or \
               abs(cy * H - (y1 + y2) / 2) > 0.01 or abs(h * H - (y2 - y1)) > 0.01:
                problems.append(f"{bid}: label/box mismatch {lab} {o['box']}")
            per_class[c] += 1
        free += len(labels) == 0
        if n < 8:
            hdr, lo = read_png16(os.path.join(d, bid + "_low.png"))
            _, hi = read_png16(os.path.join(d, bid + "_high.png"))
            if (hdr["width"], hdr["height"], hdr["bit_depth"], hdr["colour_type"], hdr["interlace"]) != (W, H, 16, 0, 0):
                problems.append(f"{bid}: bad header {hdr}")
            stats["air_low"].append(float(np.median(lo[:, :8])))
            stats["air_high"].append(float(np.median(hi[:, :8])))
            for o in js["objects"]:
                x1, y1, x2, y2 = o["box"] or (0, 0, 0, 0)
                if x2 <= x1:
                    continue
                if o["class"] == 1:
                    stats["threat_low"].append(float(np.percentile(lo[y1:y2, x1:x2], 5)))
                    stats["threat_high"].append(float(np.percentile(hi[y1:y2, x1:x2], 5)))
                if o["family"] == "clothes":
                    stats["clothes_low"].append(float(np.median(lo[y1:y2, x1:x2])))
                    stats["clothes_high"].append(float(np.median(hi[y1:y2, x1:x2])))
            # re-build the scene from (seed, index) and re-project each threat on its own:
            # the box must come out the same (+-1 px for dithered tilted objects)
            sc = Scene(js["seed"], js["index"])
            rr = np.random.Generator(np.random.PCG64(7))
            for o, rec in zip(sc.threats, threats):
                b = rasterise(o, {}, rr)
                if rec["name"] != o.name or max(abs(p - q) for p, q in zip(b, rec["box"])) > 1:
                    problems.append(f"{bid}: re-projected box {b} != {rec['box']} ({o.name})")
                x1, y1, x2, y2 = rec["box"]
                if lo[y1:y2, x1:x2].min() > 60000:
                    problems.append(f"{bid}: nothing attenuating inside the box of {o.name}")
            if n == 0:
                print("PNG header:", hdr, "low min/max", int(lo.min()), int(lo.max()),
                      "high min/max", int(hi.min()), int(hi.max()),
                      "mean low", round(float(lo.mean())), "mean high", round(float(hi.mean())))
    summ = {k: (round(float(np.median(v))) if v else None) for k, v in stats.items()}
    print(json.dumps({"bags": len(ids), "threat_free": free,
                      "threat_free_share": round(free / max(1, len(ids)), 3),
                      "instances": dict(zip(CLASSES, per_class)), "median_values": summ,
                      "problems": problems[:20], "n_problems": len(problems)}, indent=1))
    return not problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--stats-only", action="store_true",
                    help="draw the scene layouts (same random draws) without rendering pixels")
    ap.add_argument("--check", metavar="DIR", help="decode and validate a generated folder")
    a = ap.parse_args(argv)
    if a.check:
        return 0 if check_dir(a.check) else 1
    if not a.stats_only and not a.out:
        ap.error("--out is required unless --stats-only or --check")
    if a.out:
        os.makedirs(a.out, exist_ok=True)
    per_class, free, hist, dropped = [0, 0, 0, 0], 0, [0, 0, 0, 0], 0
    for i in range(a.start, a.start + a.count):
        sc = Scene(a.seed, i)
        cls = scene_stats(sc)
        if not a.stats_only:
            write_bag(sc, a.out)
        for c in cls:
            per_class[c] += 1
        free += not cls
        hist[len(cls)] += 1
        dropped += sc.dropped
    print(json.dumps({"seed": a.seed, "start": a.start, "bags": a.count, "threat_free": free,
                      "threat_free_share": round(free / max(1, a.count), 3),
                      "threats_per_bag_hist": hist, "instances": dict(zip(CLASSES, per_class)),
                      "threats_dropped": dropped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
