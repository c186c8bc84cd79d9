#!/usr/bin/python3
"""Reference side of `npm run bench export`: astropy writes the same catalog to CSV and FITS.

argv: dataset root, config, AstroPile's CSV, AstroPile's FITS, scratch directory.
Reads the dataset's partition files with h5py (the files the manifest lists) into an astropy
Table (timed apart), then times Table.write to CSV and to FITS, and checks that AstroPile's
exports hold the same rows and values (FITS exactly; CSV to the float32/float64 of each column).
Prints one JSON line.
"""
import json
import sys
import time
from pathlib import Path

import h5py
import numpy as np
from astropy.table import Table, vstack

root, config, our_csv, our_fits, scratch = sys.argv[1:6]
manifest = json.loads((Path(root) / "astropile.json").read_text())
names = [c["name"] for c in manifest["configs"][config]["columns"] if c["name"] != "_healpix_29"]
t0 = time.perf_counter()
parts = []
for f in manifest["files"]:
    if f["config"] != config:
        continue
    with h5py.File(Path(root) / f["path"], "r") as h:
        parts.append(Table({n: h[n][:] for n in names}))
table = vstack(parts)
read_s = time.perf_counter() - t0
for n in names:
    if table[n].dtype.kind == "S":
        table[n] = np.char.decode(table[n], "utf-8")

t0 = time.perf_counter()
table.write(Path(scratch) / "astropy.csv", format="ascii.csv", overwrite=True)
csv_s = time.perf_counter() - t0
t0 = time.perf_counter()
table.write(Path(scratch) / "astropy.fits", overwrite=True)
fits_s = time.perf_counter() - t0

ref = table[np.argsort(table["object_id"])]
ours = Table.read(our_fits)
ours = ours[np.argsort(ours["object_id"])]
fits_same = len(ours) == len(ref) and all(
    np.array_equal(np.asarray(ours[n]).astype(ref[n].dtype), np.asarray(ref[n])) for n in names
)
ours = Table.read(our_csv, format="ascii.csv")
ours = ours[np.argsort(ours["object_id"])]
csv_same = len(ours) == len(ref) and all(
    np.array_equal(np.asarray(ours[n]).astype(ref[n].dtype), np.asarray(ref[n])) for n in names
)
print(json.dumps({"rows": len(table), "read_s": read_s, "csv_s": csv_s, "fits_s": fits_s,
                  "fits_same": bool(fits_same), "csv_same": bool(csv_same)}))
