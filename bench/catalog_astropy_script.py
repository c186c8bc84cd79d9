"""The astropy script that `npm run bench catalog` times end to end against `astropile xmatch`:
what a user writes to cross-match two CSV catalogs (columns id, ra, dec, ...) and save the pairs.

usage: catalog_astropy_script.py LEFT.csv RIGHT.csv OUT.csv RADIUS_ARCSEC [all|nearest]

all: every pair within the radius (search_around_sky); nearest: the nearest right object of each
left object, kept when within the radius (match_coordinates_sky). Writes left_id, right_id,
sep_arcsec as CSV.
"""

import sys

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord, match_coordinates_sky, search_around_sky
from astropy.table import Table

left_path, right_path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
radius = float(sys.argv[4]) * u.arcsec
mode = sys.argv[5] if len(sys.argv) > 5 else "all"

left = Table.read(left_path, format="ascii.csv")
right = Table.read(right_path, format="ascii.csv")
c1 = SkyCoord(left["ra"], left["dec"], unit="deg")
c2 = SkyCoord(right["ra"], right["dec"], unit="deg")

if mode == "all":
    i1, i2, sep, _ = search_around_sky(c1, c2, radius)
else:
    nearest, sep, _ = match_coordinates_sky(c1, c2)
    i1 = np.nonzero(sep <= radius)[0]
    i2, sep = nearest[i1], sep[i1]

pairs = Table(
    {"left_id": left["id"][i1], "right_id": right["id"][i2], "sep_arcsec": sep.to_value(u.arcsec)}
)
pairs.write(out_path, format="ascii.csv", overwrite=True)
