"""In-memory reference of `npm run bench catalog`: astropy's search_around_sky (all pairs) and
match_coordinates_sky (nearest, then cut at the radius) on the positions of two CSV catalogs.

usage: catalog_astropy.py LEFT.csv RIGHT.csv RADIUS_ARCSEC ROUNDS

Reading the CSVs and making the SkyCoord objects is not timed; each call is, best of ROUNDS.
Every call builds its k-d trees (storekdtree=False), as the one call of a user's script does:
astropy otherwise caches the tree of the second argument and later calls skip building it.
Prints one JSON line.
"""

import json
import sys
import time

import astropy
import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord, match_coordinates_sky, search_around_sky
from astropy.table import Table

left_path, right_path = sys.argv[1], sys.argv[2]
radius = float(sys.argv[3]) * u.arcsec
rounds = int(sys.argv[4])

t = time.perf_counter()
left = Table.read(left_path, format="ascii.csv")
right = Table.read(right_path, format="ascii.csv")
c1 = SkyCoord(np.asarray(left["ra"]) * u.deg, np.asarray(left["dec"]) * u.deg)
c2 = SkyCoord(np.asarray(right["ra"]) * u.deg, np.asarray(right["dec"]) * u.deg)
load_s = time.perf_counter() - t

search_s = match_s = float("inf")
for _ in range(rounds):
    t = time.perf_counter()
    i1, i2, sep, _ = search_around_sky(c1, c2, radius, storekdtree=False)
    search_s = min(search_s, time.perf_counter() - t)
    t = time.perf_counter()
    idx, sep1, _ = match_coordinates_sky(c1, c2, storekdtree=False)
    nearest = int((sep1 <= radius).sum())
    match_s = min(match_s, time.perf_counter() - t)

print(
    json.dumps(
        {
            "astropy": astropy.__version__,
            "numpy": np.__version__,
            "load_s": load_s,
            "search_s": search_s,
            "pairs": int(i1.size),
            "match_s": match_s,
            "nearest": nearest,
        }
    )
)
