#!/usr/bin/env python3
"""Builds models/xray/attenuation.json: mass attenuation coefficients mu/rho (cm^2/g, total
with coherent scattering) of the materials synth.py uses, at the energies of the two scanner
types, and the few-bin spectra those scanners are modelled with.

Sources (both offline, from PyPI; no internet needed besides the package registry):
  * kV energies (20-150 keV): xraydb 4.5.8 (database 9.2), Elam, Ravel & Sieber (2002)
    photoabsorption + coherent + incoherent tables (`xraydb.mu_elam(el, E, 'total')`).
    Elam's tables are reliable up to 800 keV; at 50-100 keV they reproduce NIST XCOM to
    about 0.1 % (checked below).
  * MeV energies (0.5-6 MeV): Elam stops at 800 keV and xraylib/xraydb's Chantler tables at
    1 MeV/433 keV, so above that we use the PENELOPE-2018 total mu/rho table (photoelectric,
    Rayleigh, Compton, pair and triplet production; elements 1-92, 50 eV-1 GeV) that SpekPy
    2.5.4 (PyPI, MIT) ships as `spekpy/data/tables/pene_mu.dat`. It matches XCOM to about
    0.5 % at 2-3 MeV (checked below).
Compounds are mixed by mass fraction (Bragg additivity), as XCOM does.

Run through attenuation.sh, which makes the virtualenv and extracts pene_mu.dat:
  bash models/xray/attenuation.sh
"""

import argparse
import hashlib
import json
import sys

import numpy as np
import xraydb

# ---- scanner types ------------------------------------------------------------------------
# kv (baggage and parcels): a 140-160 kVp tube and a dual-layer (sandwich) detector. The thin
# front layer sees the soft part of the spectrum (mean ~50 keV), the back layer behind a
# copper filter the hard part (mean ~90 keV): the usual 40-50 / 80-100 keV effective pair.
# mev (cargo, vehicles): an interlaced 4 / 6 MV linac. Thick-target bremsstrahlung behind
# cargo is hardened to an effective ~1.5 MeV (4 MV) and ~2.5 MeV (6 MV); the 6 MV beam has
# more pair production, which is what separates high Z at these energies.
# Each channel is modelled by a few energy bins whose weights are the fraction of the
# detector signal (energy-integrating: photons x energy) each bin carries; synth.py sums
# the bins, so beam hardening comes out of the model by itself.
SCANNERS = {
    "kv": {
        "pixel_mm": 1.0,
        "effective_kev": {"low": 50.0, "high": 90.0},
        "spectrum": {
            "low": {"kev": [30, 40, 50, 60, 70], "weight": [0.10, 0.25, 0.30, 0.22, 0.13]},
            "high": {"kev": [60, 80, 90, 100, 120, 140], "weight": [0.12, 0.22, 0.22, 0.20, 0.15, 0.09]},
        },
        # Below this high-energy transmission a pixel is "too dense to see through" (class 4).
        "dense_floor": 0.004,
    },
    "mev": {
        "pixel_mm": 5.0,
        "effective_kev": {"low": 1500.0, "high": 2500.0},
        "spectrum": {
            "low": {"kev": [500, 1000, 1500, 2000, 3000], "weight": [0.18, 0.27, 0.25, 0.18, 0.12]},
            "high": {"kev": [1000, 1500, 2500, 3000, 4000, 5000], "weight": [0.14, 0.18, 0.22, 0.20, 0.15, 0.11]},
        },
        "dense_floor": 0.0005,
    },
}
KV_GRID = [20, 30, 40, 50, 60, 70, 80, 90, 100, 120, 140, 150]
MEV_GRID = [500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000]

# ---- materials -----------------------------------------------------------------------------
# group: 1 organic, 2 mixed/inorganic, 3 metal, 4 heavy (a metal group for the class map;
# "heavy" marks what a scanner shows as nearly opaque). density g/cm^3 of the solid material;
# synth.py applies packing fractions (bales, powders) itself.
MATERIALS = {
    "water": {"group": 1, "density": 1.0, "formula": {"H": 2, "O": 1}},
    "polyethylene": {"group": 1, "density": 0.94, "formula": {"C": 2, "H": 4}},
    "cellulose": {"group": 1, "density": 1.5, "formula": {"C": 6, "H": 10, "O": 5},
                  "note": "cotton textile, paper, wood"},
    "sugar": {"group": 1, "density": 1.59, "formula": {"C": 12, "H": 22, "O": 11}},
    "explosive_simulant": {"group": 1, "density": 1.70, "formula": {"C": 3, "H": 6, "N": 6, "O": 6},
                           "note": "RDX stoichiometry, C-H-N-O"},
    "dense_organic": {"group": 1, "density": 1.30, "formula": {"C": 17, "H": 22, "Cl": 1, "N": 1, "O": 4},
                      "note": "pressed block, cocaine hydrochloride stoichiometry"},
    "aluminium": {"group": 2, "density": 2.699, "formula": {"Al": 1}},
    "glass": {"group": 2, "density": 2.2, "formula": {"Si": 1, "O": 2}},
    "ceramic": {"group": 2, "density": 2.3, "mass_fractions": {
        # fired stoneware tile body as oxides: SiO2 65, Al2O3 20, CaO 6, K2O 4, Fe2O3 3, MgO 2 (%)
        "O": 0.4848, "Si": 0.3038, "Al": 0.1059, "Ca": 0.0429, "K": 0.0332, "Fe": 0.0210, "Mg": 0.0121}},
    "salt": {"group": 2, "density": 2.165, "formula": {"Na": 1, "Cl": 1}},
    "steel": {"group": 3, "density": 7.85, "mass_fractions": {"Fe": 0.98, "Mn": 0.015, "C": 0.005}},
    "copper": {"group": 3, "density": 8.96, "formula": {"Cu": 1}},
    "brass": {"group": 3, "density": 8.5, "mass_fractions": {"Cu": 0.65, "Zn": 0.35}},
    "lead": {"group": 4, "density": 11.34, "formula": {"Pb": 1}},
    "tungsten": {"group": 4, "density": 19.3, "formula": {"W": 1}},
}

# Reference values from NIST XCOM (total attenuation with coherent scattering, cm^2/g), for
# the check below: (material or element, keV, value).
XCOM_REFERENCE = [
    ("water", 50, 0.2269),
    ("water", 100, 0.1707),
    ("water", 2000, 0.04942),
    ("Fe", 50, 1.958),
    ("Fe", 2000, 0.04254),
    ("Pb", 100, 5.549),
    ("Pb", 2000, 0.04606),
    ("Pb", 3000, 0.04234),
    ("Al", 60, 0.2778),
    ("Cu", 80, 0.7625),
]

# Effective atomic number (the material classes' convention): per electron, attenuation is
# a + b*Z^n, n = 2.94 where photoabsorption carries the Z dependence (kV, Mayneord) and 1
# where pair production does (MeV: per atom Z^2). A ray through several materials then
# attenuates like one material of Z_eff = (sum e_j Z_j^n / sum e_j)^(1/n) over its electrons.
Z_EFF_EXPONENT = {"kv": 2.94, "mev": 1.0}
# The screening classes by Z_eff: organic < 10 <= mixed/inorganic < 18 <= metal.
Z_EFF_BOUNDS = [10.0, 18.0]


def electrons_per_gram(fractions):
    """Moles of electrons per gram: sum of w Z / A."""
    return sum(w * xraydb.atomic_number(el) / xraydb.atomic_mass(el) for el, w in fractions.items())


def effective_z(fractions, n):
    e = electrons_per_gram(fractions)
    m = sum(w * xraydb.atomic_number(el) / xraydb.atomic_mass(el) * xraydb.atomic_number(el) ** n
            for el, w in fractions.items())
    return (m / e) ** (1.0 / n)


def mass_fractions(m):
    if "mass_fractions" in m:
        f = dict(m["mass_fractions"])
    else:
        f = {el: n * xraydb.atomic_mass(el) for el, n in m["formula"].items()}
    total = sum(f.values())
    return {el: w / total for el, w in sorted(f.items())}


class Penelope:
    """PENELOPE-2018 elemental mu/rho as shipped in SpekPy's pene_mu.dat; log-log interpolation."""

    def __init__(self, path):
        raw = open(path, "rb").read()
        self.sha256 = hashlib.sha256(raw).hexdigest()
        d = json.loads(raw)
        self.e = [np.log(np.asarray(e) * 1000.0) for e in d["photon energy"]]  # MeV -> keV
        self.mu = [np.log(np.asarray(m)) for m in d["mu_over_rho"]]

    def element(self, el, kev):
        z = xraydb.atomic_number(el)
        return float(np.exp(np.interp(np.log(kev), self.e[z - 1], self.mu[z - 1])))


def element_mu(el, kev, pene):
    if kev <= 800:
        return float(xraydb.mu_elam(el, kev * 1000.0, kind="total"))
    return pene.element(el, kev)


def material_mu(fractions, kev, pene):
    return sum(w * element_mu(el, kev, pene) for el, w in fractions.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pene", required=True, help="SpekPy's spekpy/data/tables/pene_mu.dat")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    pene = Penelope(args.pene)

    # Check against XCOM; the largest disagreement is written into the table.
    water = mass_fractions(MATERIALS["water"])
    worst = 0.0
    checks = []
    for what, kev, ref in XCOM_REFERENCE:
        fr = water if what == "water" else {what: 1.0}
        got = material_mu(fr, kev, pene)
        rel = (got - ref) / ref
        worst = max(worst, abs(rel))
        src = "elam" if kev <= 800 else "penelope"
        checks.append({"material": what, "kev": kev, "xcom": ref, "ours": round(got, 5),
                       "rel_diff": round(rel, 4), "source": src})
        print(f"{what:6s} {kev:6.0f} keV  XCOM {ref:8.5f}  ours {got:8.5f}  ({rel * 100:+.2f} %, {src})")
    if worst > 0.02:
        sys.exit(f"attenuation data disagree with XCOM by {worst * 100:.2f} % (> 2 %)")
    # At 500 and 600 keV both sources exist: their agreement is the seam's quality.
    seam = []
    for el in ["H", "O", "Fe", "Pb"]:
        for kev in [500, 600]:
            a, b = float(xraydb.mu_elam(el, kev * 1000.0, kind="total")), pene.element(el, kev)
            seam.append({"element": el, "kev": kev, "elam": round(a, 5), "penelope": round(b, 5)})

    energies = sorted(set(KV_GRID + MEV_GRID + [
        e for s in SCANNERS.values() for ch in s["spectrum"].values() for e in ch["kev"]]))
    materials = {}
    for name, m in MATERIALS.items():
        fr = mass_fractions(m)
        entry = {"group": m["group"], "density": m["density"],
                 "mass_fractions": {el: round(w, 6) for el, w in fr.items()}}
        if "formula" in m:
            entry["formula"] = m["formula"]
        if "note" in m:
            entry["note"] = m["note"]
        entry["electrons_per_gram"] = round(electrons_per_gram(fr), 7)
        entry["z_eff"] = {ty: round(effective_z(fr, n), 4) for ty, n in Z_EFF_EXPONENT.items()}
        entry["mu_rho"] = {str(e): round(material_mu(fr, e, pene), 6) for e in energies}
        materials[name] = entry

    table = {
        "about": "Mass attenuation coefficients mu/rho in cm^2/g (total, with coherent scattering) "
                 "by material and photon energy in keV; made by models/xray/attenuation.py",
        "sources": {
            "kev_le_800": "xraydb 4.5.8 (XrayDB database 9.2): Elam, Ravel & Sieber, Radiat. Phys. Chem. 63 (2002) 121, "
                          "photoabsorption + coherent + incoherent",
            "kev_gt_800": "PENELOPE-2018 total mu/rho as shipped by SpekPy 2.5.4 (PyPI) in "
                          f"spekpy/data/tables/pene_mu.dat, sha256 {pene.sha256}",
            "mixing": "Bragg additivity by mass fraction",
        },
        "xcom_check": {"max_abs_rel_diff": round(worst, 4), "values": checks},
        "source_seam": seam,
        "group_names": {"1": "organic", "2": "mixed/inorganic", "3": "metal", "4": "heavy metal"},
        "z_eff": {"about": "material classes by effective atomic number: organic below bounds[0], metal from "
                           "bounds[1]; a mixture's Z_eff^n is the electron-weighted mean of Z^n (see attenuation.py)",
                  "exponent": Z_EFF_EXPONENT, "bounds": Z_EFF_BOUNDS},
        "scanners": SCANNERS,
        "energies_kev": energies,
        "materials": materials,
    }
    with open(args.out, "w") as f:
        json.dump(table, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"wrote {args.out}: {len(materials)} materials x {len(energies)} energies; "
          f"largest difference to XCOM {worst * 100:.2f} %")


if __name__ == "__main__":
    main()
