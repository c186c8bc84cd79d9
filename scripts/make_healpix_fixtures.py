"""Generate test/fixtures/sky/healpix.json, the healpy reference for test/sky/healpix.test.ts.

Run from the repository root with Debian's interpreter (it has healpy, numpy and mpmath):

    /usr/bin/python3 scripts/make_healpix_fixtures.py

The output is deterministic (fixed seed) and records the healpy and numpy versions used.
Positions are in degrees (ICRS), pixels are NESTED; 64-bit pixel numbers are written as
decimal strings because JSON numbers lose precision above 2**53.

Contents:
- points: random positions plus hard cases (exact poles, dec near +-90, ra exactly 0 / 360 /
  just below 360 / outside [0, 360), the z = +-2/3 boundary, pixel corners and points a hair
  away from them); ang2pix of every point at every order in ORDERS. "ties" lists, per order,
  the points whose healpy pixel changes when ra or dec moves by +-1e-11 deg, with the other
  pixels seen there: these sit on a pixel border, where the answer depends on the last bit of
  libm's cos.
- pix2ang of a set of pixels (pixel centres, lonlat=True).
- get_all_neighbours of every pixel at orders 0 and 1, of the 4 corner pixels of every base
  pixel at higher orders, and of random pixels.
- boundaries of a few pixels.
- query_disc (inclusive=False and inclusive=True) for a few discs, as runs [first, end).
- angular separations computed with mpmath at 60 digits (tiny and near-180-degree angles).
"""

import json
import os
import sys

import healpy as hp
import mpmath
import numpy as np

SEED = 20261122
ORDERS = [0, 1, 4, 10, 16, 20, 24, 29]
TIE_DELTA_DEG = 1e-11
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "sky", "healpix.json")

rng = np.random.default_rng(SEED)


def ang2pix(order, ra, dec):
    return hp.ang2pix(2**order, ra, dec, nest=True, lonlat=True)


def nest_index(order, face, x, y):
    """NESTED index from face and in-face coordinates (bit interleaving, x on even bits)."""
    idx = 0
    for b in range(order):
        idx |= ((x >> b) & 1) << (2 * b)
        idx |= ((y >> b) & 1) << (2 * b + 1)
    return (face << (2 * order)) + idx


def corners_lonlat(order, pix):
    vec = hp.boundaries(2**order, pix, step=1, nest=True)  # shape (3, 4)
    lon, lat = hp.vec2ang(vec.T, lonlat=True)
    return lon, lat


# ---------------------------------------------------------------- points
ra_list = []
dec_list = []
kind_list = []


def add(ra, dec, kind):
    ra_list.append(float(ra))
    dec_list.append(float(np.clip(dec, -90.0, 90.0)))
    kind_list.append(kind)


n_random = 1500
u = rng.uniform(-1.0, 1.0, n_random)
for ra, z in zip(rng.uniform(0.0, 360.0, n_random), u):
    add(ra, np.degrees(np.arcsin(z)), "random")

for dec in (90.0, -90.0):
    for ra in (0.0, 45.0, 90.0, 123.4, 180.0, 270.0, 359.9, 360.0):
        add(ra, dec, "pole")
for k in range(1, 15):
    for sign in (1.0, -1.0):
        for ra in (0.0, 17.25, 300.5):
            add(ra, sign * (90.0 - 10.0**-k), "near-pole")
for sign in (1.0, -1.0):
    for dec in (89.99999999999999, 89.9999999999999):
        add(rng.uniform(0, 360), sign * dec, "near-pole")

below_360 = np.nextafter(360.0, 0.0)
for ra in (0.0, -0.0, 360.0, below_360, 359.9999999999, 1e-300, 90.0, 180.0, 270.0):
    for dec in (0.0, -0.0, 10.0, -10.0, 41.8103148957786, -41.8103148957786, 60.0, -60.0, 89.0, -89.0):
        add(ra, dec, "ra-edge")
for ra in (-10.0, -360.0, -0.5, 370.0, 720.5, 1e5, -1e5):
    add(ra, rng.uniform(-90, 90), "ra-wrap")

z_boundary_dec = float(np.degrees(np.arcsin(2.0 / 3.0)))
for sign in (1.0, -1.0):
    d = sign * z_boundary_dec
    for dec in (d, np.nextafter(d, 90.0), np.nextafter(d, -90.0), d + 1e-12, d - 1e-12, d + 1e-9, d - 1e-9):
        for ra in (0.0, 45.0, 22.5, rng.uniform(0, 360), rng.uniform(0, 360)):
            add(ra, dec, "z-boundary")

# Corners of the 12 base pixels, and of random pixels at every order; each corner exactly
# (as healpy computes it) and nudged by 1e-9 of a pixel size in the 4 diagonal directions.
for face in range(12):
    lon, lat = corners_lonlat(0, face)
    for a, b in zip(lon, lat):
        add(a, b, "corner")
for order in ORDERS:
    size_deg = np.degrees(hp.nside2resol(2**order))
    for pix in rng.integers(0, 12 * 4**order, 6, dtype=np.int64):
        lon, lat = corners_lonlat(order, int(pix))
        for a, b in zip(lon, lat):
            add(a, b, "corner")
            eps = 1e-9 * size_deg
            for da, db in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                add(a + da * eps, b + db * eps, "near-corner")

ra_arr = np.array(ra_list)
dec_arr = np.array(dec_list)

ang2pix_out = {}
ties_out = {}
for order in ORDERS:
    pix = ang2pix(order, ra_arr, dec_arr)
    ang2pix_out[str(order)] = [str(int(p)) for p in pix]
    around = np.stack([
        ang2pix(order, ra_arr + da * TIE_DELTA_DEG, np.clip(dec_arr + dd * TIE_DELTA_DEG, -90, 90))
        for da in (-1, 0, 1) for dd in (-1, 0, 1)
    ], axis=1)
    ties = {}
    for i in np.nonzero((around != pix[:, None]).any(axis=1))[0]:
        alt = sorted({int(v) for v in around[i]} - {int(pix[i])})
        ties[str(int(i))] = [str(a) for a in alt]
    ties_out[str(order)] = ties

# ---------------------------------------------------------------- pix2ang
pix2ang_out = []
for order in ORDERS:
    npix = 12 * 4**order
    ns = 2**order
    chosen = {0, npix - 1, npix // 2}
    for face in range(12):
        chosen.add(nest_index(order, face, 0, 0))
        chosen.add(nest_index(order, face, ns - 1, ns - 1))
        chosen.add(nest_index(order, face, ns - 1, 0))
    chosen.update(int(p) for p in rng.integers(0, npix, 25, dtype=np.int64))
    pixels = np.array(sorted(chosen), dtype=np.int64)
    lon, lat = hp.pix2ang(ns, pixels, nest=True, lonlat=True)
    for p, a, b in zip(pixels, lon, lat):
        pix2ang_out.append({"order": order, "pix": str(int(p)), "ra": float(a), "dec": float(b)})

# ---------------------------------------------------------------- neighbours
neighbours_out = []
for order in (0, 1, 2, 4, 10, 16, 24, 29):
    ns = 2**order
    if order <= 1:
        pixels = list(range(12 * 4**order))
    else:
        chosen = set()
        for face in range(12):
            for x, y in ((0, 0), (ns - 1, 0), (0, ns - 1), (ns - 1, ns - 1), (ns // 2, 0), (0, ns // 2), (ns - 1, ns // 2), (ns // 2, ns - 1), (1, 1)):
                chosen.add(nest_index(order, face, x, y))
        chosen.update(int(p) for p in rng.integers(0, 12 * 4**order, 10, dtype=np.int64))
        pixels = sorted(chosen)
    nb = hp.get_all_neighbours(ns, np.array(pixels, dtype=np.int64), nest=True)  # shape (8, n)
    for j, p in enumerate(pixels):
        neighbours_out.append({"order": order, "pix": str(p), "neighbours": [str(int(v)) for v in nb[:, j]]})

# ---------------------------------------------------------------- boundaries
boundaries_out = []
for order, pix, step in ((0, 0, 1), (0, 5, 2), (0, 11, 3), (3, 100, 2), (10, 4_000_000, 3), (29, 3_000_000_000_000_000_000, 2)):
    vec = hp.boundaries(2**order, pix, step=step, nest=True)
    lon, lat = hp.vec2ang(vec.T, lonlat=True)
    boundaries_out.append({"order": order, "pix": str(pix), "step": step, "ra": [float(v) for v in lon], "dec": [float(v) for v in lat]})

# ---------------------------------------------------------------- query_disc
def runs(pixels):
    out = []
    for p in np.sort(pixels):
        p = int(p)
        if out and out[-1][1] == p:
            out[-1][1] = p + 1
        else:
            out.append([p, p + 1])
    return [[str(a), str(b)] for a, b in out]


discs = [
    ("tiny", 10.0, 20.0, 1e-4, 20),
    ("tiny-order29", 10.0, 20.0, 1e-6, 29),
    ("tiny-order29-below-healpy", 10.0, 20.0, 1e-7, 29),
    ("1 arcmin", 150.1, 2.2, 1.0 / 60.0, 12),
    ("1 arcmin", 271.3, -64.9, 1.0 / 60.0, 14),
    ("1 deg", 33.3, 44.4, 1.0, 8),
    ("30 deg", 200.0, -20.0, 30.0, 5),
    ("north pole 1 deg", 0.0, 90.0, 1.0, 8),
    ("near south pole 2 deg", 123.0, -89.5, 2.0, 7),
    ("across ra 0", 359.9, 10.0, 0.5, 9),
    ("across ra 0", 0.05, -30.0, 1.0, 8),
    ("on the z=2/3 corner", 45.0, z_boundary_dec, 0.2, 10),
    ("100 deg", 80.0, 60.0, 100.0, 3),
    ("almost everything", 10.0, -5.0, 179.9, 2),
]
query_disc_out = []
for label, ra, dec, radius, order in discs:
    ns = 2**order
    vec = hp.ang2vec(ra, dec, lonlat=True)
    exclusive = hp.query_disc(ns, vec, np.radians(radius), inclusive=False, nest=True)
    fact = min(4, 2 ** (29 - order))
    inclusive = hp.query_disc(ns, vec, np.radians(radius), inclusive=True, fact=fact, nest=True)
    query_disc_out.append({
        "label": label, "ra": ra, "dec": dec, "radius": radius, "order": order,
        "exclusive_count": int(len(exclusive)), "inclusive_count": int(len(inclusive)),
        "exclusive": runs(exclusive), "inclusive": runs(inclusive),
    })

# ---------------------------------------------------------------- separations (mpmath)
mpmath.mp.dps = 60


def mp_separation_deg(ra1, dec1, ra2, dec2):
    d2r = mpmath.pi / 180
    a1, d1, a2, d2 = (mpmath.mpf(v) * d2r for v in (ra1, dec1, ra2, dec2))
    v1 = [mpmath.cos(d1) * mpmath.cos(a1), mpmath.cos(d1) * mpmath.sin(a1), mpmath.sin(d1)]
    v2 = [mpmath.cos(d2) * mpmath.cos(a2), mpmath.cos(d2) * mpmath.sin(a2), mpmath.sin(d2)]
    cross = [v1[1] * v2[2] - v1[2] * v2[1], v1[2] * v2[0] - v1[0] * v2[2], v1[0] * v2[1] - v1[1] * v2[0]]
    dot = sum(x * y for x, y in zip(v1, v2))
    return mpmath.atan2(mpmath.sqrt(sum(c * c for c in cross)), dot) / d2r


pairs = []
for dec in (0.0, 30.0, -60.0, 89.9, -89.999):
    for d in (1e-9 / 3600, 1e-6 / 3600, 1e-3 / 3600, 1.0 / 3600, 1.0, 45.0):
        pairs.append((12.5, dec, 12.5 + d, dec))
        pairs.append((12.5, dec, 12.5, dec - d if dec > 0 else dec + d))
        pairs.append((200.0, dec, 200.0 + d * 0.7, dec + (d * 0.3 if dec < 89 else -d * 0.3)))
for _ in range(40):
    ra1, dec1 = rng.uniform(0, 360), np.degrees(np.arcsin(rng.uniform(-1, 1)))
    pairs.append((ra1, dec1, rng.uniform(0, 360), np.degrees(np.arcsin(rng.uniform(-1, 1)))))
for dec in (0.0, 20.0, -45.0, 89.0):
    for eps in (0.0, 1e-12, 1e-9, 1e-6 / 3600, 1e-3):
        pairs.append((10.0, dec, 190.0, -dec + eps))
        pairs.append((10.0, dec, 190.0 - eps, -dec))
pairs.append((0.0, 90.0, 0.0, -90.0))
pairs.append((0.0, 90.0, 123.0, 90.0))
pairs.append((359.9999999999, 0.0, 0.0000000001, 0.0))
separation_out = [
    {"ra1": float(a), "dec1": float(b), "ra2": float(c), "dec2": float(d), "sep": float(mp_separation_deg(float(a), float(b), float(c), float(d)))}
    for a, b, c, d in pairs
]

fixture = {
    "generator": "scripts/make_healpix_fixtures.py",
    "healpy_version": hp.__version__,
    "numpy_version": np.__version__,
    "mpmath_version": mpmath.__version__,
    "python": sys.version.split()[0],
    "seed": SEED,
    "tie_delta_deg": TIE_DELTA_DEG,
    "orders": ORDERS,
    "points": {"ra": ra_list, "dec": dec_list, "kind": kind_list},
    "ang2pix": ang2pix_out,
    "ties": ties_out,
    "pix2ang": pix2ang_out,
    "neighbours": neighbours_out,
    "boundaries": boundaries_out,
    "query_disc": query_disc_out,
    "separation": separation_out,
}
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump(fixture, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {os.path.relpath(OUT)}: {os.path.getsize(OUT)} bytes, {len(ra_list)} points, healpy {hp.__version__}")
