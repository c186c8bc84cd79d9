#!/usr/bin/python3
"""Writes small HDF5 files with h5py (libhdf5) for the metadata reader that opens files without
libhdf5 (src/storage/hdf5-metadata.ts).

Run with Debian's interpreter (python3-h5py, python3-numpy):
    /usr/bin/python3 scripts/make_metadata_fixtures.py test/fixtures/storage/metadata

test/storage/hdf5-metadata.test.ts opens each file both ways (without libhdf5 where covered,
through h5wasm always) and compares what a reader sees; expected.json says which files the
metadata reader must cover and holds the root attributes and values h5py reads back here.
- v110.hdf5: libver v110 (superblock 3, version-2 headers, compact links), fixed-length string
  attributes, numbers, gzip and Fletcher32 chunks: covered.
- track_order.hdf5: the same with creation order tracked (link info and attribute info carry a
  maximum creation index, 8 and 2 bytes): covered.
- dense_attrs.hdf5: 20 root attributes (stored in a fractal heap): not covered.
- earliest.hdf5: h5py's default format (superblock 0, symbol-table groups): not covered.
- vlen_attr.hdf5: a Python str attribute (variable-length string): not covered.
"""
import json
import sys
from pathlib import Path

import h5py
import numpy as np

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/storage/metadata")
OUT.mkdir(parents=True, exist_ok=True)
N = 50
rng = np.random.default_rng(20261206)
RA = 150 + rng.random(N) * 2
IDS = np.arange(N, dtype="<i8") * 1_000_003 - 5
MAG = (18 + rng.random(N) * 6).astype("<f4")
NAMES = np.array([f"obj{i}".encode() for i in range(N)], dtype="S8")
FLUX = rng.integers(-30000, 30000, N).astype("<i2")


def write(name, libver=("v110", "v110"), track_order=False, extra_attrs=0, vlen_attr=False):
    path = OUT / name
    kwargs = {} if libver is None else {"libver": libver}
    with h5py.File(path, "w", track_order=track_order, **kwargs) as f:
        f.attrs["survey"] = np.bytes_("HSC")
        f.attrs["count"] = np.int32(42)
        f.attrs["ratio"] = np.float64(0.125)
        f.attrs["small"] = np.uint8(7)
        for i in range(extra_attrs):
            f.attrs[f"extra_{i:02d}"] = np.int32(i)
        if vlen_attr:
            f.attrs["note"] = "a Python str"
        ra = f.create_dataset("ra", data=RA, chunks=(16,), compression="gzip")
        ra.attrs["unit"] = np.bytes_("deg")
        f.create_dataset("object_id", data=IDS, chunks=(16,), fletcher32=True)
        f.create_dataset("mag", data=MAG, chunks=(N,), compression="gzip", shuffle=True)
        f.create_dataset("name", data=NAMES, chunks=(32,), compression="gzip")
        f.create_dataset("flux", data=FLUX, chunks=(8,))
    with h5py.File(path, "r") as f:
        attrs = {}
        for k, v in f.attrs.items():
            attrs[k] = v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v
        values = {
            "ra": f["ra"][:].tolist(),
            "object_id": f["object_id"][:].tolist(),
            "mag": f["mag"][:].astype(float).tolist(),
            "name": [s.decode() for s in f["name"][:]],
            "flux": f["flux"][:].tolist(),
        }
    return {"attrs": attrs, "values": values}


expected = {
    "v110.hdf5": {"covered": True, **write("v110.hdf5")},
    "track_order.hdf5": {"covered": True, **write("track_order.hdf5", track_order=True)},
    "dense_attrs.hdf5": {"covered": False, **write("dense_attrs.hdf5", extra_attrs=16)},
    "earliest.hdf5": {"covered": False, **write("earliest.hdf5", libver=None)},
    "vlen_attr.hdf5": {"covered": False, **write("vlen_attr.hdf5", vlen_attr=True)},
}
(OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
print(f"wrote {len(expected)} files to {OUT}")
