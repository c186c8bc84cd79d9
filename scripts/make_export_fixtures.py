#!/usr/bin/python3
"""Writes the export fixtures of test/interop: one table as astropy writes it to FITS and ECSV.

Run with Debian's interpreter (python3-astropy, python3-numpy):
    /usr/bin/python3 scripts/make_export_fixtures.py test/fixtures/export

table.json holds the table (column names, dtypes, shapes, units, and the values: ints as
decimal strings, floats as repr strings, exact); astropy.fits and astropy.ecsv are what
astropy.table.Table.write makes of it. test/interop/export-fixtures.test.ts builds an AstroPile
dataset from table.json, exports it, and compares its FITS and ECSV with astropy's without
Python: the same column definitions (TFORM, TDIM, TUNIT, TZERO; ECSV datatype, subtype,
unit) and the same bytes of each FITS row. int8 is left out: astropy 5.2 writes it as a FITS
logical (L), losing the sign and values above 1.
"""
import json
import sys
from pathlib import Path

import astropy
import numpy as np
from astropy.table import Table

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/export")
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(20261206)
n = 23

cols = {
    "object_id": (np.arange(n, dtype=np.int64) * 7919 + 43158176442354688, None),
    "ra": (rng.uniform(149.0, 151.0, n), "deg"),
    "dec": (rng.uniform(1.0, 3.0, n), "deg"),
    "image_array": (rng.normal(0, 10, (n, 2, 3, 4)).astype(np.float32), "nJy"),
    "image_mask": (rng.uniform(size=(n, 2, 3, 4)) < 0.3, None),
    "image_band": (np.array([["hsc-g", "hsc-r"]] * n), None),
    "flux_aper": (rng.normal(100, 30, (n, 3)), "nJy"),
    "mag": (rng.uniform(18, 26, n).astype(np.float32), "mag"),
    "wavelength": (rng.uniform(3600, 9800, n).astype(np.float32), "Angstrom"),
    "flags": (rng.integers(0, 65536, n).astype(np.uint16), None),
    "quality": (rng.integers(0, 256, n).astype(np.uint8), None),
    "tract": (rng.integers(-(2**31), 2**31, n).astype(np.int32), None),
    "patch": (rng.integers(-(2**15), 2**15, n).astype(np.int16), None),
    "visit": (rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32), None),
    "big": (rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True), None),
    "is_star": (rng.uniform(size=n) < 0.5, None),
    "name": (np.array([f"obj-{i}" + "x" * (i % 7) for i in range(n)]), None),
}

DTYPES = {
    "f4": "float32", "f8": "float64", "i2": "int16", "i4": "int32", "i8": "int64",
    "u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64", "b1": "bool",
}


def dtype_name(a):
    return "string" if a.dtype.kind == "U" else DTYPES[a.dtype.str[1:]]


def values(a):
    flat = a.ravel()
    if a.dtype.kind in "iu":
        return [str(int(x)) for x in flat]
    if a.dtype.kind == "f":
        return [repr(float(x)) for x in flat]
    if a.dtype.kind == "b":
        return [bool(x) for x in flat]
    return [str(x) for x in flat]


t = Table()
spec = []
for name, (a, unit) in cols.items():
    t[name] = a
    if unit:
        t[name].unit = unit
    entry = {"name": name, "dtype": dtype_name(a), "shape": list(a.shape[1:]), "values": values(a)}
    if unit:
        entry["unit"] = unit
    if a.dtype.kind == "U" and a.ndim > 1:
        entry["stringLength"] = int(a.dtype.itemsize // 4)
    spec.append(entry)

t.write(OUT / "astropy.fits", overwrite=True)
t.write(OUT / "astropy.ecsv", overwrite=True)
(OUT / "table.json").write_text(
    json.dumps(
        {"rows": n, "columns": spec, "astropy": astropy.__version__, "numpy": np.__version__},
        indent=1,
    )
    + "\n"
)
print(f"wrote {OUT}/astropy.fits, astropy.ecsv, table.json ({n} rows)")
