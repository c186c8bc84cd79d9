#!/usr/bin/python3
"""Writes test/fixtures/xmatch/*.json: small catalogs and astropy's cross-match answers.

Run with the Debian interpreter (python3-astropy, python3-healpy):
    /usr/bin/python3 scripts/make_xmatch_fixtures.py
The catalogs stress what a cross-match gets wrong: points just either side of HEALPix
order-4 pixel borders, around both poles, across RA 0/360, dense clumps, exact duplicates.
Separations are written in arcsec with repr() (round-trips float64).
"""
import json
import os
import sys

import numpy as np
import healpy as hp
import astropy
import astropy.units as u
from astropy.coordinates import SkyCoord, search_around_sky, match_coordinates_sky

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "xmatch")
RADII_ARCSEC = [0.001, 1.0, 30.0, 600.0, 3600.0]


def catalog(rng, n):
    parts = []
    # Points on order-4 pixel borders, jittered by up to ~2 arcsec either side.
    pix = rng.integers(0, 12 * 16 * 16, 12)
    for p in pix:
        v = hp.boundaries(16, int(p), step=4, nest=True).T
        ra, dec = hp.vec2ang(v, lonlat=True)
        parts.append((ra, dec))
    # Poles, RA 0/360 and a clump (clump 0.02 deg wide so many pairs fall within 1 deg).
    for cra, cdec, w in [(0.0, 89.995, 0.01), (123.0, -89.995, 0.01), (0.0, 5.0, 0.02), (359.9999, -30, 0.01), (210.0, 40.0, 0.02)]:
        k = n // 10
        dec = np.clip(cdec + rng.uniform(-w, w, k), -90, 90)
        ra = (cra + rng.uniform(-w, w, k) / np.maximum(np.cos(np.radians(dec)), 1e-3)) % 360
        parts.append((ra, dec))
    ra = np.concatenate([p[0] for p in parts])
    dec = np.concatenate([p[1] for p in parts])
    jitter = 2.0 / 3600
    dec = np.clip(dec + rng.uniform(-jitter, jitter, ra.size), -90, 90)
    ra = (ra + rng.uniform(-jitter, jitter, ra.size)) % 360
    # Exact duplicates.
    d = rng.integers(0, ra.size, 10)
    ra = np.concatenate([ra, ra[d]])
    dec = np.concatenate([dec, dec[d]])
    return ra, dec


def answers(ra1, dec1, ra2, dec2):
    c1 = SkyCoord(ra1 * u.deg, dec1 * u.deg)
    c2 = SkyCoord(ra2 * u.deg, dec2 * u.deg)
    out = {"search_around_sky": {}, "match_coordinates_sky": {}}
    for r in RADII_ARCSEC:
        i1, i2, d2, _ = search_around_sky(c1, c2, r * u.arcsec)
        order = np.lexsort((i2, i1))
        out["search_around_sky"][repr(r)] = {
            "left": i1[order].tolist(),
            "right": i2[order].tolist(),
            "sep_arcsec": [float(x) for x in d2.to_value(u.arcsec)[order]],
        }
    for nth in (1, 2):
        idx, d2, _ = match_coordinates_sky(c1, c2, nthneighbor=nth)
        out["match_coordinates_sky"][str(nth)] = {
            "right": idx.tolist(),
            "sep_arcsec": [float(x) for x in d2.to_value(u.arcsec)],
        }
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, seed in [("borders_poles", 20261122), ("clumps", 7)]:
        rng = np.random.default_rng(seed)
        ra1, dec1 = catalog(rng, 150)
        # The right side: some points near left ones (within a few arcsec), plus its own.
        ra2, dec2 = catalog(rng, 150)
        pick = rng.integers(0, ra1.size, ra1.size // 2)
        off = rng.uniform(-3, 3, (2, pick.size)) / 3600
        dec_near = np.clip(dec1[pick] + off[1], -90, 90)
        ra_near = (ra1[pick] + off[0] / np.maximum(np.cos(np.radians(dec_near)), 1e-3)) % 360
        ra2 = np.concatenate([ra2, ra_near, ra1[pick[:5]]])
        dec2 = np.concatenate([dec2, dec_near, dec1[pick[:5]]])
        doc = {
            "generator": "scripts/make_xmatch_fixtures.py",
            "astropy": astropy.__version__,
            "radii_arcsec": RADII_ARCSEC,
            "left": {"ra": ra1.tolist(), "dec": dec1.tolist()},
            "right": {"ra": ra2.tolist(), "dec": dec2.tolist()},
            "answers": answers(ra1, dec1, ra2, dec2),
        }
        path = os.path.join(OUT, name + ".json")
        with open(path, "w") as f:
            json.dump(doc, f)
        print(path, ra1.size, ra2.size, file=sys.stderr)


if __name__ == "__main__":
    main()
