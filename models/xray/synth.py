#!/usr/bin/env python3
"""Synthetic dual-energy X-ray scans (baggage and cargo) with ground truth. Python + numpy.

Physics: objects are thickness maps of materials; per pixel the transmission of each energy
channel is the detector-weighted sum over a few spectrum bins of exp(-sum_k mu/rho_k(E) *
rho_k * t_k) (Beer-Lambert, mu/rho from attenuation.json), then photon (Poisson) noise at I0,
a Gaussian detector PSF, per-detector-row gain and offset with the scanner's dark correction, and
quantisation to 16 (or 8) bits.

    python3 models/xray/synth.py --kind baggage|cargo --config train|heldout|test --seed N \
        --count K --out DIR [--width W --height H] [--scenario NAME] [--bits 16|8]
    python3 models/xray/synth.py --kind baggage --config wide ...   # domain-randomised (wide.py)
    python3 models/xray/synth.py --kind threat --config wide ... [--pixel-mm P]   # one threat per file

Output per scan (format in README.md): {id}_low.png, {id}_high.png (grayscale transmission,
65535 = no attenuation), {id}_materials.png (8-bit class per pixel), {id}.txt (YOLO threat
labels), {id}.json (scanner, energies, objects, masses, declared goods). Deterministic: the
same arguments give the same files.

This file is long because it is the whole generator in one script (physics, scenes, cargo
scenarios, output), so that a reviewer of the X-ray model's data reads it in one place.
"""

import argparse
import json
import math
import os
import struct
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "attenuation.json")) as _f:
    TABLE = json.load(_f)

THREAT_CLASSES = ["knife", "gun", "ammunition", "dense_organic"]
MATERIAL_CLASSES = {0: "background", 1: "organic", 2: "mixed/inorganic", 3: "metal", 4: "too dense"}
CARGO_SCENARIOS = ["textiles_clean", "textiles_dense_block", "void", "empty", "loaded_declared_empty", "tiles"]
CONFIGS = ["train", "heldout", "test", "wide"]

# Noise, blur and clutter per config. heldout and test share a distribution (test is drawn
# from another seed stream) and differ from train in object silhouettes, clutter and noise.
NOISE = {
    "train": {"i0": (15000, 60000), "psf": (0.5, 0.9), "gain_sd": 0.008, "offset": (0.0, 0.002), "elec_sd": 2.0,
              "clutter": (7, 16)},
    "heldout": {"i0": (6000, 30000), "psf": (0.8, 1.3), "gain_sd": 0.015, "offset": (0.0, 0.004), "elec_sd": 4.0,
                "clutter": (10, 22)},
}
NOISE["test"] = NOISE["heldout"]
CARGO_I0 = {"train": (3e5, 1e6), "heldout": (1e5, 5e5), "test": (1e5, 5e5)}


# ---- PNG ----------------------------------------------------------------------------------
def write_png(path, img):
    """Grayscale PNG, 8 or 16 bits (by dtype), no filter, zlib: the minimal valid file."""
    h, w = img.shape
    if img.dtype == np.uint16:
        depth, raw = 16, img.astype(">u2").view(np.uint8).reshape(h, 2 * w)
    elif img.dtype == np.uint8:
        depth, raw = 8, img
    else:
        raise ValueError(f"write_png: {img.dtype} is neither uint8 nor uint16")
    rows = np.concatenate([np.zeros((h, 1), np.uint8), raw], axis=1).tobytes()

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(rows, 6)))
        f.write(chunk(b"IEND", b""))


def read_png(path):
    """Reads what write_png writes (used by train.py/evaluate.py; not a general decoder)."""
    with open(path, "rb") as f:
        data = f.read()
    pos, idat, w, h, depth = 8, b"", 0, 0, 8
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if tag == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            if ctype != 0:
                raise ValueError(f"{path}: colour type {ctype}, expected grayscale")
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 2 if depth == 16 else 1
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * bpp)
    if np.any(raw[:, 0] != 0):
        raise ValueError(f"{path}: filtered rows; only unfiltered PNGs are read here")
    px = raw[:, 1:]
    return px.view(">u2").astype(np.uint16) if depth == 16 else px.copy()


# ---- geometry -----------------------------------------------------------------------------
def in_poly(u, v, pts):
    inside = np.zeros(u.shape, bool)
    n = len(pts)
    for i in range(n):
        x1, y1 = pts[i]
        x2, y2 = pts[(i + 1) % n]
        if y1 == y2:
            continue
        cond = (y1 > v) != (y2 > v)
        xint = (x2 - x1) * (v - y1) / (y2 - y1) + x1
        inside ^= cond & (u < xint)
    return inside


def seg_dist(u, v, pts):
    d = np.full(u.shape, np.inf, np.float32)
    for (x1, y1), (x2, y2) in zip(pts[:-1], pts[1:]):
        dx, dy = x2 - x1, y2 - y1
        ll = dx * dx + dy * dy + 1e-9
        t = np.clip(((u - x1) * dx + (v - y1) * dy) / ll, 0, 1)
        d = np.minimum(d, np.hypot(u - x1 - t * dx, v - y1 - t * dy))
    return d


class Part:
    """One material region of an object in local mm: `shape` decides where, `t` how thick (mm).

    shape: ("rect", x0, y0, x1, y1) | ("ellipse", cx, cy, rx, ry) | ("poly", [(x, y), ...]) |
    ("tube", [(x, y), ...], r) (a round rod along a polyline).
    profile: "flat", "cyl_x"/"cyl_y" (a cylinder whose axis runs along x/y: thickness falls
    off across it), "dome" (ellipsoid). sub=True removes material (hollow shells, cavities).
    """

    def __init__(self, material, shape, t, profile="flat", fill=1.0, sub=False):
        self.material, self.shape, self.t, self.profile, self.fill, self.sub = material, shape, t, profile, fill, sub

    def bbox(self):
        s = self.shape
        if s[0] == "rect":
            return s[1], s[2], s[3], s[4]
        if s[0] == "ellipse":
            return s[1] - s[3], s[2] - s[4], s[1] + s[3], s[2] + s[4]
        pts = np.asarray(s[1], float)
        r = s[2] if s[0] == "tube" else 0.0
        return pts[:, 0].min() - r, pts[:, 1].min() - r, pts[:, 0].max() + r, pts[:, 1].max() + r

    def thickness(self, u, v):
        """Thickness in mm at local points (u, v)."""
        s, t = self.shape, self.t
        if s[0] == "rect":
            _, x0, y0, x1, y1 = s
            inside = (u >= x0) & (u <= x1) & (v >= y0) & (v <= y1)
            if self.profile == "cyl_x":
                r = (y1 - y0) / 2
                f = np.sqrt(np.clip(1 - ((v - (y0 + y1) / 2) / r) ** 2, 0, 1))
            elif self.profile == "cyl_y":
                r = (x1 - x0) / 2
                f = np.sqrt(np.clip(1 - ((u - (x0 + x1) / 2) / r) ** 2, 0, 1))
            else:
                f = 1.0
            return np.where(inside, t * f, 0.0)
        if s[0] == "ellipse":
            _, cx, cy, rx, ry = s
            q = ((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2
            if self.profile == "dome":
                return np.where(q <= 1, t * np.sqrt(np.clip(1 - q, 0, 1)), 0.0)
            return np.where(q <= 1, t, 0.0)
        if s[0] == "poly":
            return np.where(in_poly(u, v, s[1]), t, 0.0)
        if s[0] == "tube":
            r = s[2]
            d = seg_dist(u, v, s[1])
            return np.where(d <= r, 2 * np.sqrt(np.clip(r * r - d * d, 0, None)) * (t / (2 * r)), 0.0)
        raise ValueError(s[0])


class Obj:
    def __init__(self, name, parts, cls=None, family=None, info=None):
        self.name, self.parts, self.cls, self.family, self.info = name, parts, cls, family, info or {}


class Scene:
    """Per-material mass-thickness maps (g/cm^2) of one scan."""

    def __init__(self, w, h, pixel_mm):
        self.w, self.h, self.px = w, h, pixel_mm
        self.maps = {}
        self.records = []

    def add(self, obj, cx, cy, angle=0.0, scale=1.0, mirror=False, inside=False):
        """Places `obj` (local mm) with its origin at pixel (cx, cy), rotated and scaled.
        With inside=True an object whose support would touch the image border is not placed.
        Returns the object's record (box, mask area, mass), or None when nothing was placed."""
        ca, sa = math.cos(angle), math.sin(angle)
        k = scale / self.px
        sgn = -1.0 if mirror else 1.0

        def window(b):
            corners = [(x, y) for x in (b[0], b[2]) for y in (b[1], b[3])]
            xs = [cx + sgn * (x * ca - y * sa) * k for x, y in corners]
            ys = [cy + (x * sa + y * ca) * k for x, y in corners]
            return (max(int(math.floor(min(xs))) - 1, 0), max(int(math.floor(min(ys))) - 1, 0),
                    min(int(math.ceil(max(xs))) + 2, self.w), min(int(math.ceil(max(ys))) + 2, self.h))

        X0, Y0, X1, Y1 = self.w, self.h, 0, 0
        evaluated = []
        for p in obj.parts:
            x0, y0, x1, y1 = window(p.bbox())
            if x1 <= x0 or y1 <= y0:
                continue
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            dx, dy = sgn * (xx + 0.5 - cx) / k, (yy + 0.5 - cy) / k
            u, v = dx * ca + dy * sa, -dx * sa + dy * ca
            t = p.thickness(u, v)  # mm
            evaluated.append((p, (x0, y0, x1, y1), t))
            if not p.sub:
                X0, Y0, X1, Y1 = min(X0, x0), min(Y0, y0), max(X1, x1), max(Y1, y1)
        if X1 <= X0 or Y1 <= Y0:
            return None
        support = np.zeros((Y1 - Y0, X1 - X0), bool)
        for p, (x0, y0, x1, y1), t in evaluated:
            if not p.sub:
                support[y0 - Y0:y1 - Y0, x0 - X0:x1 - X0] |= t > 0
        if not support.any():
            return None
        ys, xs = np.nonzero(support)
        box = [int(X0 + xs.min()), int(Y0 + ys.min()), int(X0 + xs.max() + 1), int(Y0 + ys.max() + 1)]
        if inside and (box[0] <= 0 or box[1] <= 0 or box[2] >= self.w or box[3] >= self.h):
            return None
        mass_g = 0.0
        for p, (x0, y0, x1, y1), t in evaluated:
            m = (t * (scale * 0.1 * TABLE["materials"][p.material]["density"] * p.fill)).astype(np.float32)
            if p.sub:
                m = -m
            if p.material not in self.maps:
                self.maps[p.material] = np.zeros((self.h, self.w), np.float32)
            self.maps[p.material][y0:y1, x0:x1] += m
            mass_g += float(m.sum(dtype=np.float64)) * (self.px * 0.1) ** 2
        rec = {"name": obj.name, "class": obj.cls, "family": obj.family,
               "materials": sorted({p.material for p in obj.parts if not p.sub}),
               "box": box, "mask_area_px": int(support.sum()), "mass_kg": round(mass_g / 1000, 4)}
        rec.update(obj.info)
        self.records.append(rec)
        return rec

    def clamp_nonnegative(self):
        for m in self.maps.values():
            np.maximum(m, 0, out=m)

    def mass_kg(self):
        a = (self.px * 0.1) ** 2 / 1000
        return {k: round(float(v.sum()) * a, 3) for k, v in sorted(self.maps.items())}


# ---- detector -----------------------------------------------------------------------------
def gauss_blur(img, sigma):
    if sigma <= 0.05:
        return img
    r = max(1, int(math.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k = (k / k.sum()).astype(np.float32)
    out = img
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        p = np.pad(out, pad, mode="edge")
        acc = np.zeros_like(out)
        n = out.shape[axis]
        for i, w in enumerate(k):
            acc += w * (p[i:i + n] if axis == 0 else p[:, i:i + n])
        out = acc
    return out


def transmission(scene, scanner, channel, spec=None):
    """Noise-free transmission of one channel (detector-weighted sum over spectrum bins); the
    scanner's own spectrum unless `spec` is given."""
    spec = spec or TABLE["scanners"][scanner]["spectrum"][channel]
    t = np.zeros((scene.h, scene.w), np.float32)
    for kev, w in zip(spec["kev"], spec["weight"]):
        a = np.zeros((scene.h, scene.w), np.float32)
        for mat, m in scene.maps.items():
            a += np.float32(TABLE["materials"][mat]["mu_rho"][str(kev)]) * m
        t += np.float32(w / sum(spec["weight"])) * np.exp(-a)
    return t


def effective_z(scene, scanner):
    """Effective atomic number of each pixel's whole ray (attenuation.json's z_eff convention):
    Z_eff^n is the electron-weighted mean of its materials' Z_eff^n. This is what a
    dual-energy pair measures: in either regime the per-electron attenuation is a + b*Z^n, so
    a stack of materials attenuates like one material of that Z_eff."""
    n = TABLE["z_eff"]["exponent"][scanner]
    electrons = np.zeros((scene.h, scene.w), np.float64)
    moment = np.zeros((scene.h, scene.w), np.float64)
    for mat, m in scene.maps.items():
        e = TABLE["materials"][mat]["electrons_per_gram"] * m
        electrons += e
        moment += e * TABLE["materials"][mat]["z_eff"][scanner] ** n
    return np.where(electrons > 0, (moment / np.maximum(electrons, 1e-30)) ** (1 / n), 0.0)


def material_classes(scene, scanner, t_high):
    """Ground truth per pixel: the class of the ray's effective atomic number (organic,
    mixed/inorganic, metal by the table's z_eff bounds); 0 where almost nothing attenuates, 4
    where t_high is below the dense floor. A thin steel blade on a thick pile of clothes is a
    mixed ray: no transmission measurement can tell it from one inorganic material."""
    z = effective_z(scene, scanner)
    lo, hi = TABLE["z_eff"]["bounds"]
    cls = np.where(z < lo, 1, np.where(z < hi, 2, 3)).astype(np.uint8)
    cls[-np.log(np.maximum(t_high, 1e-30)) < (0.02 if scanner == "kv" else 0.01)] = 0
    cls[t_high < TABLE["scanners"][scanner]["dense_floor"]] = 4
    return cls


# Beam-off lines a line scanner reads before each scan; it subtracts their mean per detector
# row (dark correction), so what reaches the image is the offset's estimation noise only,
# on a fixed pedestal (a fraction of full scale) that keeps the noise of dark pixels from
# being clipped at zero (a scanner config's `dark_level`).
DARK_LINES = 64
PEDESTAL = 0.002
# Raw air level as a fraction of full scale. The linac's detectors are set with headroom so
# that a row with more than average gain does not saturate in air; the kV scanner delivers
# air at full scale (rows above average gain clip there).
AIR_LEVEL = {"kv": 1.0, "mev": 0.9}


def measure(t, i0, psf, gain, offset, elec_sd, rng, bits, air_level):
    """Detector: blur, Poisson photons at I0, electronic noise, per-row gain and offset, the
    scanner's dark correction from DARK_LINES beam-off lines, air at `air_level`, quantise."""
    tb = gauss_blur(t, psf)
    counts = rng.poisson(np.float64(i0) * tb).astype(np.float32)
    counts += rng.normal(0, elec_sd, counts.shape).astype(np.float32)
    dark_counts = rng.normal(0, elec_sd / math.sqrt(DARK_LINES), offset.shape).astype(np.float32)
    dark = dark_counts / np.float32(i0) * gain + offset
    sig = counts / np.float32(i0) * (gain * np.float32(air_level))[:, None] + (PEDESTAL + offset - dark)[:, None]
    top = 65535 if bits == 16 else 255
    return np.clip(np.rint(sig * top), 0, top).astype(np.uint16 if bits == 16 else np.uint8)


# ---- baggage objects ----------------------------------------------------------------------
def U(rng, a, b):
    return float(rng.uniform(a, b))


def knife(rng, heldout):
    fams = ["dagger", "cleaver", "karambit"] if heldout else ["chef", "utility", "folding"]
    fam = fams[rng.integers(len(fams))]
    steel_t = U(rng, 1.6, 3.0)
    handle_mat = ["polyethylene", "cellulose", "aluminium"][rng.integers(3)]
    parts = []
    if fam == "chef":
        L, Hb = U(rng, 130, 230), U(rng, 30, 50)
        edge = [(x, Hb * 0.6 - (Hb * 0.95) * (x / L) ** 2.5) for x in np.linspace(0, L, 9)]
        pts = [(0, -Hb * 0.4), (L * 0.8, -Hb * 0.4)] + [edge[-1]] + edge[::-1]
        parts.append(Part("steel", ("poly", pts), steel_t))
        Lh = U(rng, 100, 130)
        parts += [Part(handle_mat, ("rect", -Lh, -12, 0, 12), 18, "cyl_x"), Part("steel", ("rect", -Lh, -8, 0, 8), 2.5)]
        parts += [Part("steel", ("ellipse", -Lh * f, 0, 3, 3), 16) for f in (0.25, 0.75)]
    elif fam == "utility":
        L, Hb = U(rng, 70, 120), U(rng, 15, 25)
        parts.append(Part("steel", ("poly", [(0, -Hb / 2), (L, -Hb / 2), (0, Hb / 2)]), steel_t))
        Lh = U(rng, 90, 120)
        parts.append(Part(handle_mat, ("rect", -Lh, -11, 0, 11), 20, "cyl_x"))
        parts.append(Part("steel", ("rect", -Lh * 0.6, -4, 0, 4), 2.0))
    elif fam == "folding":
        L, Hb = U(rng, 70, 100), U(rng, 18, 28)
        edge = [(x, Hb * 0.5 - Hb * 0.9 * (x / L) ** 2) for x in np.linspace(0, L, 7)]
        parts.append(Part("steel", ("poly", [(0, -Hb * 0.4), (L, -Hb * 0.4)] + edge[::-1]), steel_t))
        Lh = L * U(rng, 1.0, 1.15)
        parts += [Part("steel", ("rect", -Lh, -Hb * 0.5, 5, Hb * 0.5), 2.0),
                  Part(handle_mat, ("rect", -Lh, -Hb * 0.55, 5, Hb * 0.55), 8),
                  Part("steel", ("ellipse", 0, 0, 5, 5), 12)]
    elif fam == "dagger":
        L, Hb = U(rng, 100, 200), U(rng, 22, 36)
        parts.append(Part("steel", ("poly", [(0, -Hb / 2), (L * 0.75, -Hb * 0.3), (L, 0), (L * 0.75, Hb * 0.3), (0, Hb / 2)]),
                          steel_t + 1))
        parts.append(Part("steel", ("rect", -8, -Hb * 1.1, 0, Hb * 1.1), 10))  # cross-guard
        Lh = U(rng, 90, 120)
        parts += [Part(handle_mat, ("rect", -Lh, -12, -8, 12), 24, "cyl_x"), Part("steel", ("rect", -Lh, -4, -8, 4), 5),
                  Part("steel", ("ellipse", -Lh, 0, 10, 14), 18, "dome")]
    elif fam == "cleaver":
        L, Hb = U(rng, 140, 200), U(rng, 70, 100)
        parts.append(Part("steel", ("poly", [(0, -Hb * 0.45), (L, -Hb * 0.45), (L, Hb * 0.5), (0, Hb * 0.4)]), steel_t + 0.5))
        Lh = U(rng, 100, 130)
        parts += [Part(handle_mat, ("rect", -Lh, -13, 0, 13), 20, "cyl_x"), Part("steel", ("rect", -Lh, -6, 0, 6), 3)]
    else:  # karambit: a curved blade
        R, w = U(rng, 70, 110), U(rng, 14, 22)
        a = np.linspace(0, U(rng, 1.4, 2.0), 10)
        outer = [(R * math.sin(x), R - R * math.cos(x)) for x in a]
        inner = [((R - w * (1 - k / 10)) * math.sin(x), R - (R - w * (1 - k / 10)) * math.cos(x)) for k, x in enumerate(a)]
        parts.append(Part("steel", ("poly", outer + inner[::-1]), steel_t))
        Lh = U(rng, 90, 110)
        parts += [Part(handle_mat, ("rect", -Lh, -5, 0, 17), 18), Part("steel", ("ellipse", -Lh - 12, 6, 16, 16), 6),
                  Part("steel", ("ellipse", -Lh - 12, 6, 10, 10), 6, sub=True)]
    return Obj("knife", parts, "knife", fam)


def gun(rng, heldout):
    fams = ["compact", "smg", "snub_revolver"] if heldout else ["polymer_pistol", "steel_pistol", "revolver"]
    fam = fams[rng.integers(len(fams))]
    p = []
    grip_mat = ["polyethylene", "cellulose"][rng.integers(2)]
    if fam in ("polymer_pistol", "steel_pistol", "compact"):
        L = U(rng, 170, 215) if fam != "compact" else U(rng, 140, 165)
        sh = U(rng, 28, 34)
        ang = math.radians(U(rng, 15, 22) if fam != "compact" else U(rng, 5, 12))
        gl = U(rng, 95, 120) if fam != "compact" else U(rng, 75, 90)
        gw = U(rng, 30, 36)
        gx = L * 0.12
        grip = [(gx, sh), (gx + gw, sh), (gx + gw - gl * math.sin(ang), sh + gl), (gx - gl * math.sin(ang), sh + gl)]
        frame_mat = "polyethylene" if fam != "steel_pistol" else "steel"
        p.append(Part("steel", ("rect", 0, 0, L, sh), U(rng, 10, 14)))  # slide walls
        p.append(Part("steel", ("rect", L * 0.05, sh * 0.25, L, sh * 0.7), 12, "cyl_x"))  # barrel
        p.append(Part(frame_mat, ("rect", L * 0.02, sh, L * 0.75, sh + 14), 22 if frame_mat != "steel" else 8))
        p.append(Part(frame_mat if frame_mat == "steel" else grip_mat, ("poly", grip), 30 if frame_mat != "steel" else 8))
        if frame_mat == "steel":
            p.append(Part(grip_mat, ("poly", grip), 10))
        mag = [(x + 4 * (1 if i in (0, 3) else -1), y) for i, (x, y) in enumerate(grip)]
        p.append(Part("steel", ("poly", mag), 4))
        p.append(Part("brass", ("poly", mag), 4.5, fill=0.6))
        p.append(Part(frame_mat, ("ellipse", gx + gw + 22, sh + 16, 20, 14), 8))
        p.append(Part(frame_mat, ("ellipse", gx + gw + 22, sh + 16, 15, 9), 8, sub=True))
        p.append(Part("steel", ("rect", gx + gw + 12, sh + 5, gx + gw + 16, sh + 22), 6))
    elif fam in ("revolver", "snub_revolver"):
        bl = U(rng, 90, 150) if fam == "revolver" else U(rng, 45, 60)
        p.append(Part("steel", ("rect", 0, 0, bl, 18), 18, "cyl_x"))
        p.append(Part("steel", ("rect", -45, -6, 0, 28), 36, "cyl_x"))  # cylinder
        p.append(Part("steel", ("rect", -75, -8, 0, 30), 8))  # frame
        ang = math.radians(U(rng, 20, 35))
        gl = U(rng, 80, 100)
        grip = [(-80, 25), (-55, 25), (-55 - gl * math.sin(ang), 25 + gl), (-85 - gl * math.sin(ang), 25 + gl)]
        p.append(Part(grip_mat, ("poly", grip), 32))
        p.append(Part("steel", ("poly", grip), 6))
        p.append(Part("steel", ("ellipse", -30, 42, 18, 13), 8))
        p.append(Part("steel", ("ellipse", -30, 42, 13, 8), 8, sub=True))
    else:  # smg: long receiver, straight magazine, folded stock
        L = U(rng, 260, 340)
        p.append(Part("steel", ("rect", 0, 0, L, 40), 14))
        p.append(Part("steel", ("rect", L, 12, L + U(rng, 40, 90), 26), 14, "cyl_x"))
        mx = L * U(rng, 0.45, 0.6)
        p.append(Part("steel", ("rect", mx, 40, mx + 30, 40 + U(rng, 120, 200)), 6))
        p.append(Part("brass", ("rect", mx + 3, 40, mx + 27, 160), 8, fill=0.6))
        p.append(Part(grip_mat, ("poly", [(mx - 70, 40), (mx - 40, 40), (mx - 55, 130), (mx - 85, 130)]), 30))
        p.append(Part("steel", ("tube", [(0, 8), (-180, 8), (-180, 40), (0, 40)], 5), 10))
    return Obj("gun", p, "gun", fam)


def cartridge(rng, kind, x, y, angle):
    """Parts of one cartridge lying at (x, y) along `angle` (local mm)."""
    if kind == "9mm":
        cl, d, bl = 19.0, 9.9, 11.0
    elif kind == "45acp":
        cl, d, bl = 23.0, 12.0, 9.0
    elif kind == "rifle":
        cl, d, bl = 39.0, 11.3, 17.0
    else:  # shotgun shell: plastic hull, brass head, lead shot
        cl, d, bl = 65.0, 20.0, 0.0
    ca, sa = math.cos(angle), math.sin(angle)

    def rect(x0, y0, x1, y1):
        pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        return [(x + px * ca - py * sa, y + px * sa + py * ca) for px, py in pts]

    parts = []
    if kind == "shotgun":
        parts.append(Part("polyethylene", ("poly", rect(0, -d / 2, cl, d / 2)), d * 0.15))
        parts.append(Part("brass", ("poly", rect(0, -d / 2, 14, d / 2)), d * 0.2))
        parts.append(Part("lead", ("poly", rect(22, -d * 0.42, 50, d * 0.42)), d * 0.8, fill=0.6))
        return parts
    parts.append(Part("brass", ("poly", rect(0, -d / 2, cl, d / 2)), d * 0.22))
    parts.append(Part("brass", ("poly", rect(0, -d / 2, 2.5, d / 2)), d))
    parts.append(Part("lead", ("poly", rect(cl, -d * 0.45, cl + bl * 0.6, d * 0.45)), d * 0.9))
    parts.append(Part("lead", ("poly", rect(cl + bl * 0.6, -d * 0.3, cl + bl, d * 0.3)), d * 0.55))
    return parts


def ammunition(rng, heldout):
    fams = ["loose_rifle", "shotgun_row", "clip_rifle"] if heldout else ["row_9mm", "box_9mm", "row_45"]
    fam = fams[rng.integers(len(fams))]
    parts = []
    if fam in ("row_9mm", "row_45", "shotgun_row"):
        kind = {"row_9mm": "9mm", "row_45": "45acp", "shotgun_row": "shotgun"}[fam]
        n = int(rng.integers(3, 9))
        d = {"9mm": 10.5, "45acp": 12.6, "shotgun": 21}[kind]
        for i in range(n):
            parts += cartridge(rng, kind, 0, i * d, 0.0)
    elif fam == "box_9mm":
        r, c = int(rng.integers(2, 5)), int(rng.integers(3, 7))
        parts.append(Part("cellulose", ("rect", -4, -8, 36, r * 11 + 4), c * 11, fill=0.4))
        for i in range(r):
            for _ in range(c):
                parts += cartridge(rng, "9mm", 0, i * 11, 0.0)
    elif fam == "clip_rifle":
        n = int(rng.integers(4, 11))
        for i in range(n):
            parts += cartridge(rng, "rifle", 0, i * 11.5, 0.0)
        parts.append(Part("steel", ("rect", -2, -7, 3, n * 11.5), 12))
    else:  # loose rifle cartridges within a hand-sized area
        n = int(rng.integers(3, 8))
        for _ in range(n):
            parts += cartridge(rng, "rifle", U(rng, 0, 40), U(rng, 0, 50), U(rng, -math.pi, math.pi))
    return Obj("ammunition", parts, "ammunition", fam)


def dense_organic(rng, heldout):
    fams = ["sticks", "sheet", "powder_bag"] if heldout else ["brick", "bricks_wired", "wrapped_block"]
    fam = fams[rng.integers(len(fams))]
    mat = ["explosive_simulant", "dense_organic"][rng.integers(2)]
    p = []
    if fam in ("brick", "bricks_wired", "wrapped_block"):
        w, h, t = U(rng, 90, 220), U(rng, 60, 140), U(rng, 30, 60)
        n = 1 if fam != "bricks_wired" else int(rng.integers(2, 4))
        for i in range(n):
            p.append(Part(mat, ("rect", 0, i * (h + 3), w, i * (h + 3) + h), t, fill=U(rng, 0.85, 1.0)))
        p.append(Part("polyethylene", ("rect", -2, -2, w + 2, n * (h + 3) - 1), 1.5))
        if fam == "bricks_wired":
            p.append(Part("copper", ("tube", [(w * 0.5, 0), (w * 0.6, -25), (w + 30, -30)], 0.8), 1.6))
            p.append(Part("steel", ("rect", w + 20, -45, w + 70, -20), 14, "cyl_x"))
            p.append(Part("steel", ("rect", w * 0.45, h * 0.3, w * 0.55, h * 0.5), 6, "cyl_y"))
        if fam == "wrapped_block":
            p.append(Part("polyethylene", ("rect", -5, -5, w + 5, h + 5), 4))
    elif fam == "sticks":
        n = int(rng.integers(3, 7))
        L, d = U(rng, 150, 210), U(rng, 25, 35)
        for i in range(n):
            p.append(Part(mat, ("rect", 0, i * d, L, (i + 1) * d), d, "cyl_x", fill=0.95))
        p.append(Part("polyethylene", ("rect", L * 0.3, -2, L * 0.4, n * d + 2), 3))
    elif fam == "sheet":
        w, h = U(rng, 150, 280), U(rng, 100, 200)
        p.append(Part(mat, ("rect", 0, 0, w, h), U(rng, 12, 20), fill=0.95))
    else:
        rx, ry = U(rng, 60, 120), U(rng, 45, 90)
        p.append(Part(mat, ("ellipse", 0, 0, rx, ry), U(rng, 40, 70), "dome", fill=U(rng, 0.7, 0.9)))
        p.append(Part("polyethylene", ("ellipse", 0, 0, rx + 3, ry + 3), 1.0))
    return Obj("dense_organic", p, "dense_organic", fam)


THREATS = {"knife": knife, "gun": gun, "ammunition": ammunition, "dense_organic": dense_organic}


def blob(rng, r, n=10, rough=0.3):
    a = np.sort(rng.uniform(0, 2 * math.pi, n))
    rr = r * (1 + rough * rng.uniform(-1, 1, n))
    return [(float(x * math.cos(t)), float(x * math.sin(t))) for x, t in zip(rr, a)]


def clutter(rng, heldout):
    kinds = ["clothes", "clothes", "clothes", "shoe", "laptop", "phone", "batteries", "bottle", "cable", "book",
             "toiletries", "keys", "belt", "charger"]
    if heldout:
        kinds += ["umbrella", "tablet", "tin", "hairdryer", "clothes", "glass_jar"]
    k = kinds[rng.integers(len(kinds))]
    p = []
    if k == "clothes":
        p.append(Part("cellulose", ("poly", blob(rng, U(rng, 60, 170), 12)), U(rng, 20, 90), fill=U(rng, 0.1, 0.25)))
        if rng.random() < 0.4:
            L = U(rng, 80, 200)
            p.append(Part("steel", ("tube", [(-L / 2, 0), (L / 2, U(rng, -20, 20))], 2.5), 1.5))
        if rng.random() < 0.4:
            p += [Part("polyethylene", ("ellipse", U(rng, -40, 40), U(rng, -40, 40), 6, 6), 3) for _ in range(4)]
    elif k == "shoe":
        L, w = U(rng, 240, 300), U(rng, 80, 100)
        p.append(Part("polyethylene", ("ellipse", 0, 0, L / 2, w / 2), 28, fill=0.8))
        p.append(Part("cellulose", ("ellipse", 0, -10, L / 2.2, w / 2), 70, "dome", fill=0.15))
        p.append(Part("steel", ("rect", -20, -6, 60, 6), 1.5))
        p += [Part("steel", ("ellipse", -L * 0.1 + i * 15, -w * 0.3, 2.5, 2.5), 2) for i in range(5)]
    elif k in ("laptop", "tablet"):
        w, h = (U(rng, 280, 360), U(rng, 190, 250)) if k == "laptop" else (U(rng, 170, 250), U(rng, 120, 170))
        p.append(Part("aluminium", ("rect", 0, 0, w, h), 2.5 if k == "laptop" else 1.2))
        p.append(Part("glass", ("rect", 5, 5, w - 5, h - 5), 1.5))
        bw = w * U(rng, 0.5, 0.8)
        p.append(Part("aluminium", ("rect", 10, h * 0.6, 10 + bw, h - 10), 3))
        p.append(Part("copper", ("rect", 10, h * 0.6, 10 + bw, h - 10), 0.8))
        p.append(Part("polyethylene", ("rect", 10, h * 0.6, 10 + bw, h - 10), 5))
        p.append(Part("copper", ("rect", w * 0.3, 15, w * 0.8, h * 0.5), 0.15))
        p += [Part("steel", ("ellipse", x, y, 2.5, 2.5), 5) for x in (8, w - 8) for y in (8, h - 8)]
        if k == "laptop":
            p.append(Part("steel", ("rect", w * 0.1, h * 0.1, w * 0.25, h * 0.3), 3, fill=0.5))
    elif k == "phone":
        w, h = U(rng, 65, 80), U(rng, 140, 165)
        p += [Part("glass", ("rect", 0, 0, w, h), 1.6), Part("aluminium", ("rect", 0, 0, w, h), 1.2),
              Part("aluminium", ("rect", 6, h * 0.45, w - 6, h - 10), 2.0), Part("copper", ("rect", 6, h * 0.45, w - 6, h - 10), 0.6),
              Part("copper", ("rect", 8, 10, w - 8, h * 0.4), 0.2), Part("steel", ("ellipse", w * 0.3, 20, 6, 6), 3)]
    elif k == "batteries":
        n = int(rng.integers(1, 5))
        for i in range(n):
            y0 = i * 19
            p += [Part("steel", ("rect", 0, y0, 65, y0 + 18), 18, "cyl_x"), Part("steel", ("rect", 0, y0 + 0.4, 65, y0 + 17.6), 17.2, "cyl_x", sub=True),
                  Part("copper", ("rect", 1, y0 + 1, 64, y0 + 17), 17, "cyl_x", fill=0.1),
                  Part("aluminium", ("rect", 1, y0 + 1, 64, y0 + 17), 17, "cyl_x", fill=0.12),
                  Part("polyethylene", ("rect", 1, y0 + 1, 64, y0 + 17), 17, "cyl_x", fill=0.6)]
        if rng.random() < 0.5:
            p.append(Part("polyethylene", ("rect", -5, -5, 70, n * 19 + 4), 22, fill=0.15))
    elif k in ("bottle", "glass_jar"):
        L, d = (U(rng, 180, 300), U(rng, 60, 90)) if k == "bottle" else (U(rng, 90, 140), U(rng, 80, 100))
        wall_mat, wall = ("polyethylene", 0.4) if (k == "bottle" and rng.random() < 0.6) else ("glass", 3.0)
        p += [Part(wall_mat, ("rect", 0, 0, L, d), d, "cyl_x"), Part(wall_mat, ("rect", wall, wall, L - wall, d - wall), d - 2 * wall, "cyl_x", sub=True)]
        lvl = U(rng, 0.3, 1.0)
        p.append(Part("water", ("rect", wall, wall, wall + (L - 2 * wall) * lvl, d - wall), d - 2 * wall, "cyl_x"))
        if k == "bottle":
            p.append(Part(wall_mat, ("rect", L, d * 0.35, L + 30, d * 0.65), d * 0.3, "cyl_x"))
            p.append(Part("polyethylene", ("rect", L + 30, d * 0.3, L + 45, d * 0.7), d * 0.4, "cyl_x"))
        else:
            p.append(Part("steel", ("rect", L, 0, L + 8, d), d * 0.1))
    elif k == "cable":
        pts = [(0.0, 0.0)]
        for _ in range(int(rng.integers(4, 10))):
            x, y = pts[-1]
            pts.append((x + U(rng, -60, 60), y + U(rng, -60, 60)))
        r = U(rng, 1.8, 3.0)
        p += [Part("polyethylene", ("tube", pts, r), 2 * r), Part("copper", ("tube", pts, r * 0.35), 2 * r * 0.35)]
    elif k == "book":
        w, h = U(rng, 120, 240), U(rng, 170, 300)
        p.append(Part("cellulose", ("rect", 0, 0, w, h), U(rng, 10, 45), fill=U(rng, 0.45, 0.6)))
    elif k == "toiletries":
        for i in range(int(rng.integers(1, 4))):
            x0 = i * 50
            if rng.random() < 0.5:
                p += [Part("aluminium", ("rect", x0, 0, x0 + 45, 150), 45, "cyl_y"), Part("aluminium", ("rect", x0 + 0.4, 0.4, x0 + 44.6, 149.6), 44.2, "cyl_y", sub=True),
                      Part("water", ("rect", x0 + 1, 20, x0 + 44, 149), 43, "cyl_y", fill=0.7)]
            else:
                p += [Part("polyethylene", ("rect", x0, 0, x0 + 40, 120), 30, fill=0.1), Part("water", ("rect", x0 + 1, 20, x0 + 39, 119), 28, fill=0.9)]
    elif k == "keys":
        for _ in range(int(rng.integers(2, 6))):
            x, y, a = U(rng, -20, 20), U(rng, -20, 20), U(rng, 0, math.pi)
            L = U(rng, 40, 60)
            p.append(Part(["steel", "brass"][rng.integers(2)], ("tube", [(x, y), (x + L * math.cos(a), y + L * math.sin(a))], 4), 2.2))
        p.append(Part("steel", ("ellipse", 0, 0, 14, 14), 2))
        p.append(Part("steel", ("ellipse", 0, 0, 12, 12), 2, sub=True))
        if rng.random() < 0.5:
            p += [Part(["copper", "brass", "steel"][rng.integers(3)], ("ellipse", U(rng, 30, 60), U(rng, -30, 30), 11, 11), 2) for _ in range(3)]
    elif k == "belt":
        p.append(Part("polyethylene", ("tube", [(0, 0), (U(rng, 150, 250), U(rng, -40, 40)), (U(rng, 250, 400), U(rng, -80, 80))], 17), 4))
        p.append(Part(["steel", "brass"][rng.integers(2)], ("rect", -45, -25, 0, 25), 5))
        p.append(Part("steel", ("rect", -38, -18, -7, 18), 5, sub=True))
    elif k == "charger":
        p += [Part("polyethylene", ("rect", 0, 0, 60, 50), 30, fill=0.3), Part("steel", ("rect", 15, 12, 40, 35), 20, fill=0.5),
              Part("copper", ("rect", 15, 12, 40, 35), 20, fill=0.15)]
        p += [Part("polyethylene", ("tube", [(60, 25), (120, 40), (160, -20)], 2.2), 4.4), Part("copper", ("tube", [(60, 25), (120, 40), (160, -20)], 0.8), 1.6)]
    elif k == "umbrella":
        L = U(rng, 250, 330)
        p.append(Part("aluminium", ("rect", 0, -5, L, 5), 10, "cyl_x"))
        p += [Part("steel", ("tube", [(30, 0), (L, U(rng, -25, 25))], 1.2), 2.4) for _ in range(6)]
        p.append(Part("polyethylene", ("rect", 0, -25, L, 25), 20, fill=0.05))
    elif k == "tin":
        d = U(rng, 70, 100)
        p += [Part("steel", ("ellipse", 0, 0, d / 2, d / 2), 0.6), Part("water", ("ellipse", 0, 0, d / 2 - 1, d / 2 - 1), U(rng, 40, 100), fill=0.9)]
    elif k == "hairdryer":
        p += [Part("polyethylene", ("rect", 0, 0, 180, 70), 70, "cyl_x", fill=0.15), Part("copper", ("rect", 60, 15, 120, 55), 30, fill=0.2),
              Part("steel", ("rect", 60, 15, 120, 55), 30, fill=0.1), Part("polyethylene", ("rect", 50, 70, 85, 180), 35, fill=0.4)]
    return Obj(k, p, None, k)


def bag_shell(w_mm, h_mm, rng, heldout):
    """A suitcase: fabric/plastic shell, trolley rods (aluminium tubes), zip, wheels, handle."""
    p = [Part("polyethylene", ("rect", 0, 0, w_mm, h_mm), U(rng, 3, 8), fill=U(rng, 0.6, 1.0))]
    p.append(Part("polyethylene", ("rect", 5, 5, w_mm - 5, h_mm - 5), U(rng, 2, 6), sub=True, fill=0.5))
    if rng.random() < 0.8:
        for y in (h_mm * 0.3, h_mm * 0.7):
            p.append(Part("aluminium", ("rect", 5, y - 10, w_mm - 5, y + 10), 20, "cyl_x"))
            p.append(Part("aluminium", ("rect", 5, y - 8.5, w_mm - 5, y + 8.5), 17, "cyl_x", sub=True))
    p.append(Part("steel", ("rect", 0, 2, w_mm, 6), 1.2))
    p.append(Part("steel", ("rect", 0, h_mm - 6, w_mm, h_mm - 2), 1.2))
    for y in (20, h_mm - 60):
        p.append(Part("polyethylene", ("rect", w_mm - 50, y, w_mm - 5, y + 40), 40, fill=0.8))
        p.append(Part("steel", ("ellipse", w_mm - 28, y + 20, 4, 4), 30))
    if heldout and rng.random() < 0.5:  # a wire frame around the rim
        p.append(Part("steel", ("tube", [(10, 10), (w_mm - 10, 10), (w_mm - 10, h_mm - 10), (10, h_mm - 10), (10, 10)], 2.0), 4))
    return Obj("bag", p, None, "suitcase")


def baggage_scene(rng, cfg, w, h):
    heldout = cfg != "train"
    nz = NOISE[cfg]
    scene = Scene(w, h, 1.0)
    bw, bh = w * U(rng, 0.78, 0.95), h * U(rng, 0.75, 0.93)
    bx, by = U(rng, 0, w - bw), U(rng, 0, h - bh)
    scene.add(bag_shell(bw, bh, rng, heldout), bx, by)
    n_clutter = int(rng.integers(*nz["clutter"]) * (w * h) / (640 * 480))
    order = []
    for _ in range(n_clutter):
        order.append(("clutter", None))
    n_threats = int(rng.choice([0, 1, 1, 2, 2, 3], p=[0.12, 0.3, 0.18, 0.2, 0.1, 0.1]))
    for _ in range(n_threats):
        order.append(("threat", THREAT_CLASSES[rng.integers(len(THREAT_CLASSES))]))
    rng.shuffle(order)
    for kind, cls in order:
        obj = clutter(rng, heldout) if kind == "clutter" else THREATS[cls](rng, heldout)
        if not obj.parts:
            continue
        for _ in range(20):
            cx, cy = U(rng, bx + 0.1 * bw, bx + 0.9 * bw), U(rng, by + 0.1 * bh, by + 0.9 * bh)
            # a threat must lie wholly inside the image (its label box is then exact)
            rec = scene.add(obj, cx, cy, U(rng, -math.pi, math.pi), U(rng, 0.85, 1.15), bool(rng.random() < 0.5),
                            inside=kind == "threat")
            if rec is not None:
                break
    scene.clamp_nonnegative()
    return scene


# ---- cargo --------------------------------------------------------------------------------
def cargo_scene(rng, cfg, w, h, scenario):
    """Side view of a truck with a container; x along the vehicle, y up (image y down)."""
    cont_len = 12192.0 if rng.random() < 0.6 else 6058.0
    total_len = cont_len + 3500.0
    px = max(5.0, total_len / (0.94 * w), 4300.0 / (0.94 * h))
    scene = Scene(w, h, px)
    ground = (h - 0.03 * h) * px  # mm from the top
    x0 = 0.03 * w * px
    floor_top = ground - 1300.0  # container floor above the road
    ch, cw_in = 2591.0, 2352.0  # container height, inner width (the beam's path across)
    cx0, cx1 = x0, x0 + cont_len

    def put(obj, ox=0.0, oy=0.0):
        return scene.add(obj, ox / px, oy / px)

    # tractor unit ahead of the container (at the right), chassis, wheels
    cab_x = cx1 + 200
    tr = [Part("steel", ("rect", cab_x, floor_top - 1700, cab_x + 2300, floor_top + 300), 2.0 * 2),
          Part("glass", ("rect", cab_x + 1600, floor_top - 1600, cab_x + 2250, floor_top - 800), 10),
          Part("steel", ("rect", cab_x + 900, floor_top - 200, cab_x + 2000, floor_top + 500), 600, fill=0.25),
          Part("aluminium", ("rect", cab_x + 900, floor_top - 200, cab_x + 2000, floor_top + 500), 600, fill=0.1),
          Part("steel", ("rect", cx0 - 200, floor_top + 150, cab_x + 2300, floor_top + 450), 2 * 12),
          Part("steel", ("rect", cab_x + 100, floor_top + 500, cab_x + 800, floor_top + 1000), 600, "cyl_x", fill=0.02),
          Part("polyethylene", ("rect", cab_x + 100, floor_top + 550, cab_x + 800, floor_top + 1000), 550, "cyl_x", fill=0.8 * 0.88)]
    wheels_x = [cab_x + 600, cab_x + 2000, cx0 + 800, cx0 + 2200, cx0 + 3500] if cont_len > 7000 else [cab_x + 600, cab_x + 2000, cx0 + 900, cx0 + 2200]
    for wx in wheels_x:
        tr += [Part("polyethylene", ("ellipse", wx, ground - 500, 500, 500), 2 * 300, fill=0.35),
               Part("steel", ("ellipse", wx, ground - 500, 280, 280), 2 * 250, fill=0.12),
               Part("steel", ("rect", wx - 40, ground - 540, wx + 40, ground - 460), 2400, "cyl_y", fill=0.3)]
    put(Obj("vehicle", tr, None, "tractor_trailer"))
    # container structure
    ct = [Part("steel", ("rect", cx0, floor_top - ch, cx1, floor_top), 2 * 2.0),  # corrugated side walls
          Part("steel", ("rect", cx0, floor_top - ch, cx1, floor_top - ch + 60), cw_in, fill=0.06),  # roof rails
          Part("cellulose", ("rect", cx0, floor_top - 28, cx1, floor_top), cw_in, fill=0.45),  # plywood floor
          Part("steel", ("rect", cx0, floor_top, cx1, floor_top + 160), cw_in, fill=0.03)]  # bottom rails
    ct += [Part("steel", ("rect", x, floor_top, x + 45, floor_top + 122), cw_in, fill=0.1) for x in np.arange(cx0 + 150, cx1 - 150, 300)]
    for xp in (cx0, cx1 - 160):
        ct.append(Part("steel", ("rect", xp, floor_top - ch, xp + 160, floor_top + 160), 40))
    ct += [Part("steel", ("rect", cx0 + 20, y, cx0 + 50, y + 10), cw_in, fill=0.3) for y in (floor_top - ch + 300, floor_top - 300)]
    put(Obj("container", ct, None, f"{int(round(cont_len / 304.8))}ft"))

    in_x0, in_x1 = cx0 + 170, cx1 - 170
    in_top = floor_top - ch + 80
    load_parts, anomalies, cargo_info = [], [], {}
    declared = {"hs_chapter": None, "description": "empty container", "declared_kg": 0.0}

    def bales(material, fill_rng, unit, top_y, across=2200.0):
        parts = []
        x = in_x0 + 30
        while x + unit[0] <= in_x1:
            y = floor_top - 28
            while y - unit[1] >= top_y:
                fill = U(rng, *fill_rng)
                parts.append(Part(material, ("rect", x, y - unit[1], x + unit[0], y), across * U(rng, 0.92, 1.0), fill=fill))
                y -= unit[1] + U(rng, 10, 50)
            x += unit[0] + U(rng, 20, 70)
        return parts

    if scenario in ("textiles_clean", "textiles_dense_block", "void"):
        unit = (U(rng, 900, 1100), U(rng, 600, 800))
        mat = "cellulose"
        load_parts = bales(mat, (0.22, 0.32), unit, in_top + U(rng, 0, 400))
        declared = {"hs_chapter": 52, "description": "cotton textiles"}
        if scenario == "void" and rng.random() < 0.4:
            mat = "sugar"
            load_parts = bales(mat, (0.25, 0.35), (U(rng, 500, 700), U(rng, 300, 400)), in_top + U(rng, 0, 500))
            declared = {"hs_chapter": 17, "description": "cane sugar in bags"}
    elif scenario == "tiles":
        x = in_x0 + 50
        while x + 1000 <= in_x1:
            top = floor_top - 28 - 150 - U(rng, 550, 800)
            load_parts.append(Part("cellulose", ("rect", x, floor_top - 178, x + 1000, floor_top - 28), 2200, fill=0.25))
            load_parts.append(Part("ceramic", ("rect", x, top, x + 1000, floor_top - 178), 2200 * U(rng, 0.9, 1.0), fill=U(rng, 0.22, 0.32)))
            x += 1000 + U(rng, 100, 500)
        declared = {"hs_chapter": 69, "description": "ceramic floor tiles"}
    elif scenario == "loaded_declared_empty":
        x = in_x0 + 30
        while x < in_x1 - 600:
            bw = U(rng, 500, 1500)
            mat = ["cellulose", "sugar", "salt", "polyethylene", "steel", "water"][rng.integers(6)]
            fill = {"steel": (0.005, 0.02), "salt": (0.1, 0.2), "water": (0.1, 0.3)}.get(mat, (0.15, 0.3))
            load_parts.append(Part(mat, ("rect", x, floor_top - 28 - U(rng, 500, ch - 300), min(x + bw, in_x1), floor_top - 28),
                                   2200, fill=U(rng, *fill)))
            x += bw + U(rng, 50, 400)
        anomalies.append({"type": "undeclared_load", "box": None})
    load = Obj("load", load_parts, None, scenario)
    # anomalies carved into / added to the load
    if scenario == "textiles_dense_block":
        bmat = ["steel", "steel", "lead", "ceramic", "salt"][rng.integers(5)]
        bw_, bh_ = U(rng, 400, 900), U(rng, 350, 800)
        bx_ = U(rng, in_x0 + 500, in_x1 - 500 - bw_)
        by_ = floor_top - 28 - bh_ - U(rng, 0, 600)
        thick = U(rng, 150, 500) if bmat in ("steel", "lead") else U(rng, 400, 1200)
        fill = 1.0 if bmat in ("steel", "lead") else 0.6
        load.parts.append(Part("cellulose", ("rect", bx_, by_, bx_ + bw_, by_ + bh_), thick, fill=0.27, sub=True))
        block_obj = Obj("dense_block", [Part(bmat, ("rect", 0, 0, bw_, bh_), thick, fill=fill)], None, bmat)
        blk = scene.add(block_obj, bx_ / px, by_ / px)
        anomalies.append({"type": "dense_block", "material": bmat, "box": blk["box"], "kg": blk["mass_kg"]})
    if scenario == "void":
        vw = U(rng, 1200, 3000)
        vx = U(rng, in_x0 + 400, in_x1 - 400 - vw)
        false_wall = bool(rng.random() < 0.6)
        keep = []
        removed_g = 0.0
        for p in load.parts:
            _, x0_, y0_, x1_, y1_ = p.shape
            if x1_ <= vx or x0_ >= vx + vw:
                keep.append(p)
                continue
            # cut the part: keep what is outside the void
            if x0_ < vx:
                keep.append(Part(p.material, ("rect", x0_, y0_, vx, y1_), p.t, fill=p.fill))
            if x1_ > vx + vw:
                keep.append(Part(p.material, ("rect", vx + vw, y0_, x1_, y1_), p.t, fill=p.fill))
            removed_g += (min(x1_, vx + vw) - max(x0_, vx)) * (y1_ - y0_) * p.t * 1e-3 * TABLE["materials"][p.material]["density"] * p.fill
        load.parts = keep
        vbox = [int(vx / px), int((in_top) / px), int((vx + vw) / px) + 1, int((floor_top - 28) / px) + 1]
        if false_wall:
            load.parts.append(Part("cellulose", ("rect", vx - 18, in_top, vx, floor_top - 28), cw_in, fill=0.45))
        anomalies.append({"type": "void", "false_wall": false_wall, "box": vbox, "missing_kg": round(removed_g / 1000, 1)})
        cargo_info["void_missing_kg"] = round(removed_g / 1000, 1)
    rec = put(load) if load.parts else None
    scene.clamp_nonnegative()
    cargo_kg = 0.0
    if rec is not None:
        cargo_kg = rec["mass_kg"]
    for a in anomalies:
        if a["type"] == "dense_block":
            cargo_kg += a["kg"]
    if scenario in ("textiles_clean", "tiles"):
        declared["declared_kg"] = round(cargo_kg * (1 + rng.normal(0, 0.03)), 1)
    elif scenario == "textiles_dense_block":
        declared["declared_kg"] = round(rec["mass_kg"] * (1 + rng.normal(0, 0.03)), 1)
    elif scenario == "void":
        declared["declared_kg"] = round((cargo_kg + cargo_info["void_missing_kg"]) * (1 + rng.normal(0, 0.03)), 1)
    elif scenario == "loaded_declared_empty":
        anomalies[0]["box"] = rec["box"] if rec else None
        anomalies[0]["kg"] = round(cargo_kg, 1)
    extra = {"declared": declared, "anomalies": anomalies, "cargo_kg": round(cargo_kg, 1),
             "container": {"length_mm": cont_len, "inner_width_mm": cw_in}}
    return scene, extra


# ---- driver -------------------------------------------------------------------------------
def rng_for(kind, cfg, seed, index, scenario=""):
    words = [ord(c) for c in f"{kind}/{cfg}/{scenario}"]
    return np.random.default_rng(np.random.SeedSequence([seed, index] + words))


def make_wide_scan(seed, index):
    """`--config wide` (wide.py): the scanner, the image's size and bit depth are drawn per scan."""
    import wide
    rng = rng_for("baggage", "wide", seed, index)
    w, h, px = wide.geometry(rng)
    sc = wide.scanner(rng)
    scene = wide.baggage_scene(rng, w, h, px)
    t = {ch: transmission(scene, "kv", ch, sc["spectrum"][ch]) for ch in ("low", "high")}
    classes = material_classes(scene, "kv", t["high"])
    imgs = {}
    for ch in ("low", "high"):
        gain = (1 + rng.normal(0, sc["gain_sd"], h)).astype(np.float32)
        off = rng.uniform(*sc["offset"], h).astype(np.float32)
        imgs[ch] = measure(t[ch], sc["i0"][ch], sc["psf"], gain, off, sc["elec_sd"], rng, sc["bits"], sc["air_level"])
    return scene, imgs, classes, sc


def make_scan(kind, cfg, seed, index, w, h, scenario, bits):
    rng = rng_for(kind, cfg, seed, index, scenario or "")
    nz = NOISE[cfg]
    sid = f"{kind}_{cfg}_{seed}_{index:05d}"
    if kind == "baggage":
        scanner = "kv"
        scene = baggage_scene(rng, cfg, w, h)
        extra = {}
        i0 = U(rng, *nz["i0"])
        i0s = {"low": i0 * U(rng, 0.5, 0.7), "high": i0}
    else:
        scanner = "mev"
        sc = scenario or CARGO_SCENARIOS[rng.integers(len(CARGO_SCENARIOS))]
        scene, extra = cargo_scene(rng, cfg, w, h, sc)
        extra["scenario"] = sc
        i0 = U(rng, *CARGO_I0[cfg])
        i0s = {"low": i0 * U(rng, 0.4, 0.6), "high": i0}
    psf = U(rng, *nz["psf"]) if kind == "baggage" else U(rng, 0.6, 1.2)
    t_low, t_high = transmission(scene, scanner, "low"), transmission(scene, scanner, "high")
    classes = material_classes(scene, scanner, t_high)
    imgs = {}
    for ch, t in (("low", t_low), ("high", t_high)):
        gain = (1 + rng.normal(0, nz["gain_sd"], h)).astype(np.float32)
        off = rng.uniform(*nz["offset"], h).astype(np.float32)
        imgs[ch] = measure(t, i0s[ch], psf, gain, off, nz["elec_sd"], rng, bits, AIR_LEVEL[scanner])
    return sid, scanner, scene, imgs, classes, extra, i0s, psf


def write_threat(out, cfg, seed, index, pixel_mm):
    """`--kind threat`: one threat alone on air, noise-free, cropped to its box and a 2-pixel
    margin, for projecting into a site's own threat-free scans (threat image projection). The
    kV table's spectrum; classes in turn (index mod 4), families of `cfg`."""
    rng = rng_for("threat", cfg, seed, index)
    cls = THREAT_CLASSES[index % len(THREAT_CLASSES)]
    if cfg == "wide":
        import wide
        make = wide.THREATS[cls]
    else:
        def make(r):
            return THREATS[cls](r, cfg != "train")
    side = int(math.ceil(900 / pixel_mm))
    for _ in range(50):
        scene = Scene(side, side, pixel_mm)
        rec = scene.add(make(rng), side / 2, side / 2, U(rng, -math.pi, math.pi), U(rng, 0.85, 1.15), bool(rng.random() < 0.5),
                        inside=True)
        if rec is not None:
            break
    else:
        raise RuntimeError(f"threat {index}: no placement fits {side} px")
    scene.clamp_nonnegative()
    x0, y0, x1, y1 = rec["box"]
    x0, y0, x1, y1 = max(x0 - 2, 0), max(y0 - 2, 0), min(x1 + 2, side), min(y1 + 2, side)
    sid = f"threat_{cfg}_{seed}_{index:05d}"
    for ch in ("low", "high"):
        t = transmission(scene, "kv", ch)[y0:y1, x0:x1]
        write_png(os.path.join(out, f"{sid}_{ch}.png"), np.clip(np.rint(t * 65535), 0, 65535).astype(np.uint16))
    w, h = x1 - x0, y1 - y0
    b = rec["box"]
    with open(os.path.join(out, f"{sid}.txt"), "w") as f:
        f.write(f"{THREAT_CLASSES.index(cls)} {((b[0] + b[2]) / 2 - x0) / w:.6f} {((b[1] + b[3]) / 2 - y0) / h:.6f} "
                f"{(b[2] - b[0]) / w:.6f} {(b[3] - b[1]) / h:.6f}\n")
    with open(os.path.join(out, f"{sid}.json"), "w") as f:
        json.dump({"id": sid, "kind": "threat", "config": cfg, "seed": seed, "index": index, "pixel_mm": pixel_mm,
                   "class": cls, "family": rec["family"], "width": w, "height": h}, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description="Synthetic dual-energy X-ray scans with ground truth.")
    ap.add_argument("--kind", choices=["baggage", "cargo", "threat"], required=True)
    ap.add_argument("--config", choices=CONFIGS, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=int)
    ap.add_argument("--height", type=int)
    ap.add_argument("--scenario", choices=CARGO_SCENARIOS, help="cargo only; default: drawn per scan")
    ap.add_argument("--bits", type=int, choices=[16, 8], default=16)
    ap.add_argument("--start", type=int, default=0, help="index of the first scan (to split work)")
    ap.add_argument("--pixel-mm", type=float, default=1.0, help="threat only: the site scanner's pixel size")
    a = ap.parse_args()
    if a.kind == "threat":
        os.makedirs(a.out, exist_ok=True)
        for i in range(a.start, a.start + a.count):
            write_threat(a.out, a.config, a.seed, i, a.pixel_mm)
        return
    if a.scenario and a.kind != "cargo":
        ap.error("--scenario is for --kind cargo")
    w = a.width or (640 if a.kind == "baggage" else 1600)
    h = a.height or (480 if a.kind == "baggage" else 640)
    if not (64 <= w <= 16384 and 64 <= h <= 16384):
        ap.error("--width and --height must be within 64-16384")
    os.makedirs(a.out, exist_ok=True)
    if a.config == "wide" and (a.kind != "baggage" or a.width or a.height or a.bits != 16):
        ap.error("--config wide is baggage only and draws its own size and bit depth per scan")
    for i in range(a.start, a.start + a.count):
        sid = f"{a.kind}_{a.config}_{a.seed}_{i:05d}"
        if a.config == "wide":
            scene, imgs, classes, drawn = make_wide_scan(a.seed, i)
            scanner, extra, i0s, psf = "kv", {}, drawn["i0"], drawn["psf"]
            h, w = imgs["low"].shape
            spec = drawn["spectrum"]
            device = {"bits": drawn["bits"], "air_level": round(drawn["air_level"], 4), "spectrum": spec,
                      "energies_kev": {ch: round(sum(k * x for k, x in zip(spec[ch]["kev"], spec[ch]["weight"])), 1)
                                       for ch in ("low", "high")}}
        else:
            sid, scanner, scene, imgs, classes, extra, i0s, psf = make_scan(a.kind, a.config, a.seed, i, w, h, a.scenario, a.bits)
            table = TABLE["scanners"][scanner]
            device = {"bits": a.bits, "air_level": AIR_LEVEL[scanner], "spectrum": table["spectrum"],
                      "energies_kev": table["effective_kev"]}
        write_png(os.path.join(a.out, f"{sid}_low.png"), imgs["low"])
        write_png(os.path.join(a.out, f"{sid}_high.png"), imgs["high"])
        write_png(os.path.join(a.out, f"{sid}_materials.png"), classes)
        lines = []
        for r in scene.records:
            if r["class"] in THREAT_CLASSES:
                x0, y0, x1, y1 = r["box"]
                x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
                lines.append(f"{THREAT_CLASSES.index(r['class'])} {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} "
                             f"{(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}")
        with open(os.path.join(a.out, f"{sid}.txt"), "w") as f:
            f.write("".join(line + "\n" for line in lines))
        masses = scene.mass_kg()
        meta = {
            "id": sid, "kind": a.kind, "config": a.config, "seed": a.seed, "index": i,
            "scanner": scanner, "width": w, "height": h, "bits": device["bits"], "pixel_mm": round(scene.px, 4),
            "energies_kev": device["energies_kev"], "spectrum": device["spectrum"],
            "i0": {k: round(v, 1) for k, v in i0s.items()}, "psf_sigma_px": round(psf, 3),
            "dense_floor": TABLE["scanners"][scanner]["dense_floor"], "air_level": device["air_level"], "dark_level": PEDESTAL,
            "classes": THREAT_CLASSES, "material_classes": MATERIAL_CLASSES,
            "objects": [{k: v for k, v in r.items() if not k.startswith("_")} for r in scene.records],
            "mass_kg": masses, "total_kg": round(sum(masses.values()), 3),
        }
        meta.update(extra)
        with open(os.path.join(a.out, f"{sid}.json"), "w") as f:
            json.dump(meta, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
