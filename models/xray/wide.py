"""Domain-randomised baggage scans for training a threat detector that transfers to other
scanners (`synth.py --kind baggage --config wide`).

The `train` configuration draws each threat from three fixed silhouettes on one scanner; a
model trained on it learns those silhouettes and that scanner. Here every scan draws:

- threats from parametric families (blade outline, belly, tip, curvature, guard, handle;
  pistol, revolver and carbine assembled from parts of drawn sizes and materials; cartridges of
  any calibre in rows, boxes, magazines and loose; dense organic blocks, bricks, sticks,
  sheets and bags, wrapped or wired), each tilted out of the belt's plane up to edge-on;
- benign clutter, including metal and dense look-alikes: tools, cutlery, coins, cans, flasks,
  electronics, power banks, umbrellas, food and soap blocks, paper reams (and the `train`
  clutter of synth.py);
- the scanner: both spectra (centre and width), photons per pixel, low/high photon ratio,
  detector blur, electronic noise, per-row gain and offset, air level, bit depth, pixel size,
  tunnel size and how much of it the bag fills.

Nothing here copies the independent evaluation generator (`independent/`), which this
project never reads for training.

This file is long because it holds every parametric family of the training scenes in one
place, so that a reviewer of the model's training data reads them together.
"""

import math

import numpy as np

import synth
from synth import Obj, Part, U

STEEL_LIKE = ["steel", "steel", "steel", "aluminium", "brass", "copper"]
HANDLE = ["polyethylene", "polyethylene", "cellulose", "aluminium", "steel", "brass"]
BINS_KV = [20, 30, 40, 50, 60, 70, 80, 90, 100, 120, 140, 150]


def choice(rng, items):
    return items[int(rng.integers(len(items)))]


def tilt(obj, rng, p=0.35, edge=0.08):
    """Turns an object out of the belt's plane by an angle a about its local x axis. Each part,
    a slab of width W (its extent along y) and thickness t, then projects to a width
    W cos(a) + t sin(a) about its centre (moved to y cos(a)), and the mean path through it is
    W t / (that width): mass is kept, and a part seen edge-on is as thick as it was wide. With
    probability `edge`, the object stands nearly on edge."""
    r = rng.random()
    if r < edge:
        a = U(rng, 1.37, 1.51)
    elif r < edge + p:
        a = U(rng, 0.3, 1.27)
    else:
        return obj
    c, s = math.cos(a), math.sin(a)
    parts = []
    for q in obj.parts:
        shape, t = q.shape, q.t
        if shape[0] == "tube":  # a rod stays round: only its path moves
            parts.append(Part(q.material, ("tube", [(x, y * c) for x, y in shape[1]], shape[2]), t, q.profile, q.fill, q.sub))
            continue
        y0, y1 = q.bbox()[1], q.bbox()[3]
        w, yc = max(y1 - y0, 0.1), (y0 + y1) / 2
        k = (w * c + t * s) / w  # how much the part's width changes
        t2 = w * t / (w * c + t * s)
        if shape[0] == "rect":
            new = ("rect", shape[1], yc * c + (shape[2] - yc) * k, shape[3], yc * c + (shape[4] - yc) * k)
        elif shape[0] == "ellipse":
            new = ("ellipse", shape[1], shape[2] * c, shape[3], shape[4] * k)
        else:
            new = ("poly", [(x, yc * c + (y - yc) * k) for x, y in shape[1]])
        parts.append(Part(q.material, new, t2, q.profile, q.fill, q.sub))
    obj.parts = parts
    return obj


def rot(pts, a, dx=0.0, dy=0.0):
    ca, sa = math.cos(a), math.sin(a)
    return [(dx + x * ca - y * sa, dy + x * sa + y * ca) for x, y in pts]


def rect_pts(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


# ---- threats ------------------------------------------------------------------------------
def knife(rng):
    L = U(rng, 55, 290)
    Hb = float(np.clip(L * U(rng, 0.1, 0.4), 10, 75))
    t = U(rng, 0.9, 4.0)
    mat = "ceramic" if rng.random() < 0.07 else choice(rng, ["steel", "steel", "steel", "steel", "aluminium"])
    n = 14
    xs = np.linspace(0, L, n)
    tip = Hb * U(rng, -0.5, 0.35)  # the tip's height; -Hb/2 is on the spine line
    belly = U(rng, 1.0, 4.5)
    edge = [(x, Hb / 2 - (Hb / 2 - tip) * (x / L) ** belly) for x in xs]
    if rng.random() < 0.25:  # double-edged: the spine mirrors the edge about the tip's line
        spine = [(x, 2 * tip - y) for x, y in edge]
    else:
        start = U(rng, 0.3, 0.95)
        spine = [(x, -Hb / 2 + (tip + Hb / 2) * max(0.0, (x / L - start) / (1 - start)) ** U(rng, 1.0, 2.0))
                 for x in xs]
    bend = U(rng, -0.5, 0.5) * L if rng.random() < 0.2 else U(rng, -0.05, 0.05) * L
    blade = [(x, y + bend * (x / L) ** 2) for x, y in spine] + [(x, y + bend * (x / L) ** 2) for x, y in edge[::-1]]
    parts = [Part(mat, ("poly", blade), t)]
    if rng.random() < 0.15:  # a fuller or a hole in the blade
        parts.append(Part(mat, ("ellipse", L * U(rng, 0.2, 0.5), 0, L * 0.08, Hb * 0.12), t * 0.6, sub=True))
    Lh = U(rng, 0.45, 1.1) * max(L, 80)
    hw = U(rng, 0.35, 0.8) * max(Hb, 18)
    if rng.random() < 0.35:  # guard
        g = U(rng, 3, 18)
        parts.append(Part(choice(rng, STEEL_LIKE), ("rect", -U(rng, 3, 10), -Hb / 2 - g, 0, Hb / 2 + g), U(rng, 3, 12)))
    taper = U(rng, 0.7, 1.2)
    handle = [(0, -hw / 2), (-Lh, -hw / 2 * taper), (-Lh, hw / 2 * taper), (0, hw / 2)]
    hm = choice(rng, HANDLE)
    ht = U(rng, 8, 26) if hm in ("polyethylene", "cellulose") else U(rng, 2, 8)
    parts.append(Part(hm, ("poly", handle), ht))
    if rng.random() < 0.6:  # tang
        parts.append(Part("steel", ("rect", -Lh * U(rng, 0.4, 0.95), -hw * 0.2, 0, hw * 0.2), t))
    if rng.random() < 0.4:
        parts += [Part("steel", ("ellipse", -Lh * f, 0, 2.5, 2.5), ht) for f in (0.25, 0.6, 0.85)[:int(rng.integers(1, 4))]]
    obj = Obj("knife", parts, "knife", "parametric")
    if rng.random() < 0.12:  # folded: the blade lies back along the handle
        parts[0] = Part(mat, ("poly", [(-x * min(1.0, Lh / L * 0.95), y * 0.8) for x, y in blade]), t)
        parts.append(Part("steel", ("rect", -Lh, -hw / 2, 0, hw / 2), 1.5))
        obj.family = "parametric_folded"
    return tilt(obj, rng, p=0.3, edge=0.1)


def pistol(rng, p):
    L, sh = U(rng, 115, 240), U(rng, 20, 38)
    p.append(Part("steel", ("rect", 0, 0, L, sh), U(rng, 7, 16)))
    p.append(Part("steel", ("rect", U(rng, 0, 0.1) * L, sh * 0.25, L, sh * 0.7), U(rng, 8, 14), "cyl_x"))
    frame = choice(rng, ["polyethylene", "polyethylene", "steel", "aluminium"])
    ft = 22 if frame == "polyethylene" else U(rng, 5, 10)
    p.append(Part(frame, ("rect", L * 0.02, sh, L * U(rng, 0.6, 0.85), sh + U(rng, 9, 16)), ft))
    ang = math.radians(U(rng, 0, 30))
    gl, gw, gx = U(rng, 60, 130), U(rng, 24, 38), L * U(rng, 0.02, 0.18)
    grip = [(gx, sh), (gx + gw, sh), (gx + gw - gl * math.sin(ang), sh + gl), (gx - gl * math.sin(ang), sh + gl)]
    gm = choice(rng, ["polyethylene", "cellulose", frame])
    p.append(Part(gm, ("poly", grip), U(rng, 20, 34) if gm != "steel" and gm != "aluminium" else U(rng, 6, 10)))
    if rng.random() < 0.75:  # magazine in the grip
        mag = [(x + 4 * (1 if i in (0, 3) else -1), y) for i, (x, y) in enumerate(grip)]
        p.append(Part("steel", ("poly", mag), U(rng, 2.5, 5)))
        if rng.random() < 0.8:
            p.append(Part("brass", ("poly", mag), U(rng, 3, 6), fill=0.6))
    gx2 = gx + gw
    r1, r2 = U(rng, 13, 24), U(rng, 9, 16)
    p.append(Part(frame, ("ellipse", gx2 + r1, sh + r2, r1, r2), U(rng, 5, 10)))
    p.append(Part(frame, ("ellipse", gx2 + r1, sh + r2, r1 * 0.75, r2 * 0.6), 10, sub=True))
    p.append(Part("steel", ("rect", gx2 + r1 * 0.5, sh + 3, gx2 + r1 * 0.5 + 4, sh + r2 * 1.3), 6))
    if rng.random() < 0.4:
        p.append(Part("steel", ("rect", -U(rng, 5, 14), sh * 0.1, 2, sh * 0.6), 8))  # hammer
    if rng.random() < 0.06:  # suppressor
        p.append(Part("aluminium", ("rect", L, sh * 0.05, L + U(rng, 100, 180), sh * 0.95), sh * 0.9, "cyl_x"))


def revolver(rng, p):
    bl, bd = U(rng, 40, 170), U(rng, 13, 22)
    cl, cd = U(rng, 34, 52), U(rng, 30, 44)
    p.append(Part("steel", ("rect", 0, 0, bl, bd), bd, "cyl_x"))
    p.append(Part("steel", ("rect", -cl, bd / 2 - cd / 2, 0, bd / 2 + cd / 2), cd, "cyl_x"))
    if rng.random() < 0.6:
        cal = U(rng, 8, 11)
        for k in (-1, 0, 1):
            y = bd / 2 + k * cd * 0.3
            p.append(Part("brass", ("rect", -cl + 2, y - cal / 2, -2, y + cal / 2), cal, "cyl_x", fill=0.7))
    fl = U(rng, 60, 90)
    p.append(Part("steel", ("rect", -fl, -U(rng, 4, 10), 0, bd + U(rng, 6, 14)), U(rng, 6, 10)))
    ang = math.radians(U(rng, 15, 40))
    gl = U(rng, 60, 110)
    y0 = bd + 6
    grip = [(-fl - 5, y0), (-fl + 22, y0), (-fl + 22 - gl * math.sin(ang), y0 + gl), (-fl - 8 - gl * math.sin(ang), y0 + gl)]
    p.append(Part(choice(rng, ["polyethylene", "cellulose"]), ("poly", grip), U(rng, 24, 34)))
    p.append(Part("steel", ("poly", grip), U(rng, 4, 8)))
    p.append(Part("steel", ("ellipse", -cl * 0.6, y0 + 14, 17, 12), 8))
    p.append(Part("steel", ("ellipse", -cl * 0.6, y0 + 14, 12, 7), 8, sub=True))


def carbine(rng, p):
    L, h = U(rng, 180, 360), U(rng, 28, 50)
    p.append(Part("steel", ("rect", 0, 0, L, h), U(rng, 8, 16)))
    p.append(Part("steel", ("rect", L, h * 0.3, L + U(rng, 30, 160), h * 0.65), U(rng, 10, 16), "cyl_x"))
    mx, ml = L * U(rng, 0.4, 0.65), U(rng, 90, 220)
    curve = U(rng, 0, 0.5)
    mag = [(mx, h), (mx + 30, h), (mx + 30 + ml * curve, h + ml), (mx + ml * curve, h + ml)]
    p.append(Part("steel", ("poly", mag), U(rng, 3, 6)))
    p.append(Part("brass", ("poly", mag), U(rng, 5, 9), fill=0.55))
    gx = mx - U(rng, 40, 90)
    p.append(Part(choice(rng, ["polyethylene", "cellulose"]), ("poly", [(gx, h), (gx + 30, h), (gx + 15, h + 95), (gx - 15, h + 95)]), 30))
    s = rng.random()
    if s < 0.4:  # folded wire stock
        p.append(Part("steel", ("tube", [(0, 8), (-U(rng, 120, 220), 8), (-U(rng, 120, 220), h), (0, h)], 5), 10))
    elif s < 0.7:  # solid stock
        sl = U(rng, 150, 260)
        p.append(Part(choice(rng, ["polyethylene", "cellulose"]), ("poly", [(0, 0), (-sl, U(rng, 10, 40)), (-sl, h + 80), (0, h)]), 40))


def gun(rng):
    p = []
    kind = choice(rng, ["pistol", "pistol", "pistol", "revolver", "revolver", "carbine"])
    {"pistol": pistol, "revolver": revolver, "carbine": carbine}[kind](rng, p)
    return tilt(Obj("gun", p, "gun", "parametric_" + kind), rng, p=0.3, edge=0.05)


def cartridge(x, y, ang, d, cl, bl, shell):
    """Parts of one cartridge at (x, y) along `ang`: case (brass; a shotgun shell's hull is
    plastic with a brass head and lead shot), bullet (lead)."""
    def poly(x0, y0, x1, y1):
        return ("poly", rot(rect_pts(x0, y0, x1, y1), ang, x, y))
    if shell:
        return [Part("polyethylene", poly(0, -d / 2, cl, d / 2), d * 0.15), Part("brass", poly(0, -d / 2, cl * 0.2, d / 2), d * 0.2),
                Part("lead", poly(cl * 0.35, -d * 0.42, cl * 0.8, d * 0.42), d * 0.8, fill=0.6)]
    return [Part("brass", poly(0, -d / 2, cl, d / 2), d * 0.22), Part("brass", poly(0, -d / 2, 2.5, d / 2), d),
            Part("lead", poly(cl, -d * 0.45, cl + bl * 0.6, d * 0.45), d * 0.9),
            Part("lead", poly(cl + bl * 0.6, -d * 0.3, cl + bl, d * 0.3), d * 0.55)]


def ammunition(rng):
    shell = rng.random() < 0.12
    d = U(rng, 17, 21) if shell else U(rng, 5.5, 13)
    cl = U(rng, 55, 75) if shell else d * U(rng, 1.5, 4.5)
    bl = 0 if shell else d * U(rng, 0.8, 2.0)
    arr = choice(rng, ["row", "row", "grid", "loose", "magazine"])
    p = []
    if arr == "row":
        for i in range(int(rng.integers(2, 12))):
            p += cartridge(0, i * d * U(rng, 1.02, 1.15), 0.0, d, cl, bl, shell)
    elif arr == "grid":
        r, c, depth = int(rng.integers(2, 6)), int(rng.integers(1, 3)), int(rng.integers(1, 5))
        for i in range(r):
            for j in range(c):
                for _ in range(depth):  # cartridges stacked along the beam
                    p += cartridge(j * (cl + bl + 3), i * d * 1.05, 0.0, d, cl, bl, shell)
        if rng.random() < 0.6:
            p.append(Part("cellulose", ("rect", -4, -d, c * (cl + bl + 3) + 4, r * d * 1.05 + 4), depth * d, fill=U(rng, 0.2, 0.5)))
    elif arr == "loose":
        area = U(rng, 25, 90)
        for _ in range(int(rng.integers(2, 12))):
            p += cartridge(U(rng, 0, area), U(rng, 0, area), U(rng, -math.pi, math.pi), d, cl, bl, shell)
    else:
        n = int(rng.integers(4, 16))
        for i in range(n):
            p += cartridge(0, i * d * 0.6, 0.0, d, cl, bl, shell)
        p.append(Part("steel", ("rect", -3, -d, cl + bl + 3, n * d * 0.6 + d), U(rng, 1.5, 3)))
    return tilt(Obj("ammunition", p, "ammunition", "parametric_" + arr), rng, p=0.25, edge=0.0)


def dense_organic(rng):
    mat = choice(rng, ["explosive_simulant", "dense_organic"])
    fill = U(rng, 0.75, 1.0)
    shape = choice(rng, ["block", "block", "bricks", "sticks", "sheet", "bag", "slab_poly"])
    p = []
    if shape == "block":
        w, h = U(rng, 50, 260), U(rng, 40, 200)
        p.append(Part(mat, ("rect", 0, 0, w, h), U(rng, 20, 80), fill=fill))
        box = (0, 0, w, h)
    elif shape == "bricks":
        w, h, t, n = U(rng, 60, 200), U(rng, 40, 120), U(rng, 20, 60), int(rng.integers(2, 5))
        for i in range(n):
            p.append(Part(mat, ("rect", 0, i * (h + 2), w, i * (h + 2) + h), t, fill=fill))
        box = (0, 0, w, n * (h + 2))
    elif shape == "sticks":
        n, L, dd = int(rng.integers(2, 9)), U(rng, 100, 250), U(rng, 18, 45)
        for i in range(n):
            p.append(Part(mat, ("rect", 0, i * dd, L, (i + 1) * dd), dd, "cyl_x", fill=fill))
        box = (0, 0, L, n * dd)
    elif shape == "sheet":
        w, h = U(rng, 100, 300), U(rng, 80, 220)
        p.append(Part(mat, ("rect", 0, 0, w, h), U(rng, 6, 20), fill=fill))
        box = (0, 0, w, h)
    elif shape == "bag":
        rx, ry = U(rng, 40, 130), U(rng, 30, 100)
        outline = [(x * rx, y * ry) for x, y in synth.blob(rng, 1.0, 14, 0.15)]
        p.append(Part(mat, ("poly", outline), U(rng, 25, 80), "flat", fill * U(rng, 0.8, 1.0)))
        box = (-rx, -ry, rx, ry)
    else:
        w, h = U(rng, 80, 240), U(rng, 60, 180)
        cut = U(rng, 0.1, 0.4)
        p.append(Part(mat, ("poly", [(w * cut, 0), (w, 0), (w, h * (1 - cut)), (w * (1 - cut), h), (0, h), (0, h * cut)]),
                      U(rng, 20, 70), fill=fill))
        box = (0, 0, w, h)
    if rng.random() < 0.6:  # wrapping
        p.append(Part("polyethylene", ("rect", box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3), U(rng, 0.5, 4)))
    if rng.random() < 0.25:  # wires and a detonator or a cell
        x1, y1 = box[2] + U(rng, 10, 60), box[1] - U(rng, 10, 50)
        p.append(Part("copper", ("tube", [((box[0] + box[2]) / 2, box[1]), (x1, y1)], 0.8), 1.6))
        p.append(Part(choice(rng, ["steel", "aluminium"]), ("rect", x1, y1 - 4, x1 + U(rng, 30, 70), y1 + 4), 8, "cyl_x"))
    return tilt(Obj("dense_organic", p, "dense_organic", "parametric_" + shape), rng, p=0.2, edge=0.0)


THREATS = {"knife": knife, "gun": gun, "ammunition": ammunition, "dense_organic": dense_organic}


# ---- benign clutter, look-alikes included -------------------------------------------------
def lookalike(rng):
    k = choice(rng, ["screwdriver", "pliers", "wrench", "scissors", "cutlery", "coins", "can", "flask", "pcb",
                     "power_bank", "umbrella", "food_block", "paper_ream", "hammer", "headphones", "watch",
                     "spray", "zip_bag", "torch", "glasses"])
    p = []
    m = choice(rng, STEEL_LIKE)
    if k == "screwdriver":
        L = U(rng, 60, 200)
        p += [Part("steel", ("rect", 0, -U(rng, 2, 4), L, U(rng, 2, 4)), 6, "cyl_x"),
              Part(choice(rng, HANDLE[:3]), ("rect", -U(rng, 70, 110), -14, 0, 14), 28, "cyl_x")]
    elif k == "pliers":
        L = U(rng, 120, 220)
        for s in (-1, 1):
            p.append(Part("steel", ("poly", [(0, 0), (L * 0.3, s * 6), (L, s * U(rng, 10, 25)), (L, s * U(rng, 25, 35)), (L * 0.3, s * 14), (0, s * 8)]), 9))
        p.append(Part("polyethylene", ("rect", L * 0.4, -35, L, 35), 6, fill=0.4))
    elif k == "wrench":
        L = U(rng, 100, 300)
        p += [Part("steel", ("rect", 0, -6, L, 6), U(rng, 4, 8)), Part("steel", ("ellipse", L, 0, 16, 16), 9),
              Part("steel", ("ellipse", L + 8, 0, 9, 9), 9, sub=True), Part("steel", ("ellipse", 0, 0, 13, 13), 9)]
    elif k == "scissors":
        L = U(rng, 80, 200)
        for s in (-1, 1):
            p.append(Part("steel", ("poly", [(0, 0), (L, s * 2), (L * 0.9, s * 9), (0, s * 8)]), 2.5))
            p.append(Part(choice(rng, ["polyethylene", "steel"]), ("ellipse", -25, s * 18, 20, 13), 6))
            p.append(Part("polyethylene", ("ellipse", -25, s * 18, 14, 8), 6, sub=True))
    elif k == "cutlery":
        for i in range(int(rng.integers(1, 5))):
            L = U(rng, 140, 220)
            y = i * 25
            p.append(Part("steel", ("rect", 0, y - 4, L * 0.65, y + 4), U(rng, 2, 5)))
            if rng.random() < 0.5:
                p.append(Part("steel", ("ellipse", L * 0.8, y, L * 0.15, 18), 1.5))
            else:
                p += [Part("steel", ("rect", L * 0.65, y - 12 + 7 * j, L, y - 10 + 7 * j), 2) for j in range(4)]
    elif k == "coins":
        for _ in range(int(rng.integers(3, 20))):
            r = U(rng, 8, 15)
            p.append(Part(choice(rng, ["steel", "brass", "copper", "aluminium"]), ("ellipse", U(rng, 0, 60), U(rng, 0, 40), r, r), U(rng, 1.5, 2.5)))
    elif k == "can":
        L, d = U(rng, 90, 180), U(rng, 50, 90)
        mm = choice(rng, ["aluminium", "steel"])
        p += [Part(mm, ("rect", 0, 0, L, d), d, "cyl_x"), Part(mm, ("rect", 0.3, 0.3, L - 0.3, d - 0.3), d - 0.6, "cyl_x", sub=True),
              Part(choice(rng, ["water", "sugar"]), ("rect", 1, 1, L - 1, d - 1), d - 2, "cyl_x", fill=U(rng, 0.5, 1.0))]
    elif k == "flask":
        L, d = U(rng, 180, 300), U(rng, 60, 90)
        p += [Part("steel", ("rect", 0, 0, L, d), d, "cyl_x"), Part("steel", ("rect", 1.2, 1.2, L - 1.2, d - 1.2), d - 2.4, "cyl_x", sub=True)]
    elif k == "pcb":
        w, h = U(rng, 60, 220), U(rng, 40, 160)
        p += [Part("glass", ("rect", 0, 0, w, h), 1.6), Part("copper", ("rect", 0, 0, w, h), 0.1)]
        for _ in range(int(rng.integers(3, 15))):
            x, y = U(rng, 0, w - 10), U(rng, 0, h - 10)
            p.append(Part(choice(rng, ["steel", "aluminium", "copper", "ceramic"]), ("rect", x, y, x + U(rng, 4, 30), y + U(rng, 4, 30)), U(rng, 1, 12)))
        p.append(Part("polyethylene", ("rect", -5, -5, w + 5, h + 5), U(rng, 15, 40), fill=0.1))
    elif k == "power_bank":
        n = int(rng.integers(1, 5))
        for i in range(n):
            p += [Part("steel", ("rect", 0, i * 19, 65, i * 19 + 18), 18, "cyl_x", fill=0.35),
                  Part("polyethylene", ("rect", 0, i * 19, 65, i * 19 + 18), 18, "cyl_x", fill=0.6)]
        p.append(Part(choice(rng, ["aluminium", "polyethylene"]), ("rect", -3, -3, 70, n * 19 + 3), 24, fill=0.1))
    elif k == "umbrella":
        L = U(rng, 200, 600)
        p.append(Part(choice(rng, ["aluminium", "steel"]), ("rect", 0, -4, L, 4), 8, "cyl_x"))
        p += [Part("steel", ("tube", [(U(rng, 10, 60), 0), (L, U(rng, -30, 30))], 1.0), 2) for _ in range(int(rng.integers(4, 9)))]
        p.append(Part("polyethylene", ("rect", 0, -30, L, 30), 25, fill=0.04))
    elif k == "food_block":  # cheese, chocolate, soap, dates: dense organic that is no threat
        w, h = U(rng, 60, 220), U(rng, 40, 160)
        mat = choice(rng, ["water", "sugar", "cellulose", "polyethylene", "dense_organic"])
        dens = {"water": (0.9, 1.0), "sugar": (0.5, 0.8), "cellulose": (0.6, 0.8), "polyethylene": (0.9, 1.0), "dense_organic": (0.6, 0.75)}[mat]
        p.append(Part(mat, ("rect", 0, 0, w, h) if rng.random() < 0.7 else ("ellipse", 0, 0, w / 2, h / 2), U(rng, 15, 70), fill=U(rng, *dens)))
    elif k == "paper_ream":
        w, h = U(rng, 140, 300), U(rng, 100, 220)
        p.append(Part("cellulose", ("rect", 0, 0, w, h), U(rng, 20, 60), fill=U(rng, 0.55, 0.8)))
    elif k == "hammer":
        L = U(rng, 200, 330)
        p += [Part(choice(rng, ["cellulose", "polyethylene", "steel"]), ("rect", 0, -12, L, 12), 24, "cyl_x", fill=0.8),
              Part("steel", ("rect", L - 20, -55, L + 12, 35), 26)]
    elif k == "headphones":
        R = U(rng, 70, 100)
        a = np.linspace(math.pi * 1.1, math.pi * 1.9, 9)
        p.append(Part(choice(rng, ["steel", "polyethylene"]), ("tube", [(R * math.cos(x), R * math.sin(x)) for x in a], 3), 4))
        for x in (R * math.cos(a[0]), R * math.cos(a[-1])):
            p += [Part("polyethylene", ("ellipse", x, 10, 35, 35), 30, fill=0.3), Part("steel", ("ellipse", x, 10, 12, 12), 5)]
    elif k == "watch":
        p += [Part(m, ("ellipse", 0, 0, 20, 20), 8), Part(m, ("rect", -9, 18, 9, 90), 3, fill=0.7), Part(m, ("rect", -9, -90, 9, -18), 3, fill=0.7)]
    elif k == "spray":
        L, d = U(rng, 120, 220), U(rng, 35, 65)
        p += [Part("aluminium", ("rect", 0, 0, L, d), d, "cyl_x"), Part("aluminium", ("rect", 0.4, 0.4, L - 0.4, d - 0.4), d - 0.8, "cyl_x", sub=True),
              Part("water", ("rect", 1, 1, L * 0.8, d - 1), d - 2, "cyl_x", fill=0.7), Part("polyethylene", ("rect", L, d * 0.2, L + 30, d * 0.8), d * 0.6, "cyl_x")]
    elif k == "zip_bag":
        w, h = U(rng, 150, 300), U(rng, 100, 250)
        p += [Part("cellulose", ("rect", 0, 0, w, h), U(rng, 10, 40), fill=0.2), Part(m, ("rect", 0, -3, w, 3), 1.5)]
    elif k == "torch":
        L, d = U(rng, 100, 250), U(rng, 20, 40)
        p += [Part("aluminium", ("rect", 0, 0, L, d), d, "cyl_x"), Part("aluminium", ("rect", 1.5, 1.5, L - 1.5, d - 1.5), d - 3, "cyl_x", sub=True),
              Part("steel", ("rect", L * 0.2, d * 0.15, L * 0.7, d * 0.85), d * 0.7, "cyl_x", fill=0.3)]
    else:  # glasses
        for s in (-1, 1):
            p += [Part(m, ("ellipse", s * 32, 0, 25, 20), 2), Part(m, ("ellipse", s * 32, 0, 23, 18), 2, sub=True),
                  Part("glass", ("ellipse", s * 32, 0, 23, 18), 2)]
        p.append(Part(m, ("tube", [(-55, -5), (-160, 0)], 1.5), 3))
        p.append(Part(m, ("tube", [(55, -5), (160, 0)], 1.5), 3))
    return tilt(Obj(k, p, None, k), rng, p=0.3, edge=0.05)


def clutter(rng):
    if rng.random() < 0.45:
        return tilt(synth.clutter(rng, False), rng, p=0.2, edge=0.03)
    return lookalike(rng)


# ---- scanner ------------------------------------------------------------------------------
def spectrum(rng, lo, hi):
    """A detector-weighted spectrum over the table's kV bins: a bump of drawn centre and width."""
    c, w = U(rng, lo, hi), U(rng, 8, 28)
    weight = [math.exp(-0.5 * ((b - c) / w) ** 2) for b in BINS_KV]
    keep = [(b, x) for b, x in zip(BINS_KV, weight) if x > 0.02]
    s = sum(x for _, x in keep)
    return {"kev": [b for b, _ in keep], "weight": [round(x / s, 4) for _, x in keep]}


def scanner(rng):
    """One scanner's settings for one scan."""
    i0 = float(math.exp(U(rng, math.log(3000), math.log(90000))))
    return {
        "spectrum": {"low": spectrum(rng, 35, 62), "high": spectrum(rng, 72, 115)},
        "i0": {"low": i0 * U(rng, 0.3, 0.8), "high": i0},
        "psf": U(rng, 0.3, 1.8),
        "gain_sd": U(rng, 0.0, 0.03),
        "offset": (0.0, U(rng, 0.0, 0.005)),
        "elec_sd": U(rng, 0.0, 6.0),
        "air_level": U(rng, 0.85, 1.0),
        "bits": 8 if rng.random() < 0.25 else 16,
    }


def geometry(rng):
    """Image size in pixels and pixel size in mm: tunnels of 450-850 mm, belts of 600-1200 mm
    of scan, pixels of 1-2.2 mm (the model sees 1.7-3.8 mm per input pixel)."""
    px = U(rng, 1.0, 2.2)
    tunnel, length = U(rng, 450, 850), U(rng, 600, 1200)
    w, h = int(length / px), int(tunnel / px)
    return max(w, 160), max(h, 120), px


def baggage_scene(rng, w, h, px):
    """A bag (or a tray, or two bags) of clutter, threats in 65 % of scans."""
    scene = synth.Scene(w, h, px)
    W, H = w * px, h * px  # mm
    holders = []
    r = rng.random()
    n_bags = 0 if r < 0.12 else (2 if r < 0.25 else 1)
    if n_bags == 0:  # a tray
        bw, bh = W * U(rng, 0.4, 0.8), H * U(rng, 0.5, 0.9)
        bx, by = U(rng, 0, W - bw), U(rng, 0, H - bh)
        scene.add(Obj("tray", [Part("polyethylene", ("rect", 0, 0, bw, bh), U(rng, 3, 8))]), bx / px, by / px)
        holders.append((bx, by, bw, bh))
    for i in range(n_bags):
        bw, bh = W * (U(rng, 0.6, 0.97) / n_bags), H * U(rng, 0.6, 0.95)
        bx = U(rng, i * W / n_bags, (i + 1) * W / n_bags - bw)
        by = U(rng, 0, H - bh)
        scene.add(synth.bag_shell(bw, bh, rng, rng.random() < 0.3), bx / px, by / px)
        holders.append((bx, by, bw, bh))
    area = sum(b[2] * b[3] for b in holders) / (560 * 400)
    n_clutter = max(1, int(rng.integers(5, 28) * area))
    n_threats = int(rng.choice([0, 1, 2, 3], p=[0.35, 0.35, 0.2, 0.1]))
    order = [("clutter", None)] * n_clutter + [("threat", synth.THREAT_CLASSES[rng.integers(4)]) for _ in range(n_threats)]
    rng.shuffle(order)
    for kind, cls in order:
        obj = clutter(rng) if kind == "clutter" else THREATS[cls](rng)
        if not obj.parts:
            continue
        bx, by, bw, bh = holders[int(rng.integers(len(holders)))]
        for _ in range(20):
            cx, cy = U(rng, bx + 0.08 * bw, bx + 0.92 * bw), U(rng, by + 0.08 * bh, by + 0.92 * bh)
            rec = scene.add(obj, cx / px, cy / px, U(rng, -math.pi, math.pi), U(rng, 0.85, 1.15), bool(rng.random() < 0.5),
                            inside=kind == "threat")
            if rec is not None:
                break
    scene.clamp_nonnegative()
    return scene
