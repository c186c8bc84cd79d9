#!/usr/bin/python3
"""Writes one small HDF5 file per storage layout with h5py, for the fast read path's tests.

Run with Debian's interpreter (python3-h5py, python3-numpy):
    /usr/bin/python3 scripts/make_direct_fixtures.py test/fixtures/storage/direct

test/storage/direct-read.test.ts reads every column of every file through the fast path
(plain file reads, native zlib) and through h5wasm, and compares both with what h5py read back
here: values.json (every file holds the same values, checked here; in unwritten.hdf5 the rows
never written read as zeros) and <name>.hdf5.expected.json (per column dtype, shape, chunks,
filters and the file address, filter mask and stored size of each chunk as libhdf5 reports them,
which the corruption tests use).
Rows per file are not a multiple of the row chunk, so every chunked file has a partial edge chunk.
"""
import json
import sys
from pathlib import Path

import h5py
import numpy as np

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/storage/direct")
OUT.mkdir(parents=True, exist_ok=True)
N = 37  # rows in every file


def columns(endian="<"):
    """The same columns and values in every file: scalars, an image cube, strings, a bool enum."""
    rng = np.random.default_rng(20261206)
    ids = np.arange(N, dtype=endian + "i8") * 1_000_003 - 5
    ra = (150 + rng.random(N) * 2).astype(endian + "f8")
    mag = (18 + rng.random(N) * 6).astype(endian + "f4")
    flux = rng.integers(-30000, 30000, N).astype(endian + "i2")
    # Smooth images (compress well) with a noisy band (compresses badly: raw LZF chunks).
    yy, xx = np.mgrid[0:8, 0:8]
    img = np.empty((N, 3, 8, 8), dtype=endian + "f4")
    for i in range(N):
        img[i, 0] = np.exp(-((yy - 4) ** 2 + (xx - 4) ** 2) / (2 + i % 5))
        img[i, 1] = i
        img[i, 2] = rng.standard_normal((8, 8))
    band = np.array([[b"g", b"r", b"i-long"][j] for _ in range(N) for j in range(3)], dtype="S6").reshape(N, 3)
    name = np.array([f"obj-{i}".encode() for i in range(N)], dtype="S8")
    good = (np.arange(N) % 3 != 0)
    return {"object_id": ids, "ra": ra, "mag": mag, "flux": flux, "image_array": img,
            "image_band": band, "name": name, "good": good}


def write(path, storage, endian="<", inner=False, libver=None, rows=5, resize=False, skip_rows=None,
          image_chunk=None, single=False, early=False, unlimited_all=False):
    """inner: image chunks across every axis; image_chunk: the image column's chunk shape; single:
    one chunk holds each whole column; early: chunks allocated at creation (libhdf5's "implicit"
    index under libver >= v18); unlimited_all: every axis resizable (version-2 B-tree index)."""
    cols = columns(endian)
    kwargs = {} if libver is None else {"libver": libver}
    with h5py.File(path, "w", **kwargs) as f:
        for name, v in cols.items():
            shape = v.shape[1:]
            opts = {}
            if storage != "contiguous":
                chunk = (rows,) + shape
                if inner and len(shape) == 3:
                    chunk = (rows, 2, 5, 3)  # chunks across every axis, partial on each
                if image_chunk is not None and len(shape) == 3:
                    chunk = image_chunk
                if single:
                    chunk = v.shape
                opts["chunks"] = chunk
                if early:
                    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
                    opts["dcpl"] = dcpl
                if storage == "gzip":
                    opts.update(compression="gzip", compression_opts=4)
                elif storage == "shuffle":
                    opts.update(compression="gzip", compression_opts=4, shuffle=True)
                elif storage == "shuffle_only":
                    opts.update(shuffle=True)
                elif storage == "lzf":
                    opts.update(compression="lzf")
                elif storage == "fletcher32":
                    opts.update(fletcher32=True)
            if resize:
                maxshape = (None,) * v.ndim if unlimited_all else (None,) + shape
                ds = f.create_dataset(name, shape=(0,) + shape, maxshape=maxshape, dtype=v.dtype, **opts)
                for s in range(0, N, 8):
                    e = min(N, s + 8)
                    ds.resize((e,) + shape)
                    ds[s:e] = v[s:e]
            else:
                ds = f.create_dataset(name, shape=v.shape, dtype=v.dtype, **opts)
                if skip_rows is None:
                    ds[...] = v
                else:
                    for i in range(N):
                        if i not in skip_rows:
                            ds[i] = v[i]
    expected(path, skip_rows or set())


def plain(v):
    if v.dtype.kind == "S":
        return [s.decode("utf-8") for s in v.ravel()]
    if v.dtype.kind == "b":
        return [int(x) for x in v.ravel()]
    if v.dtype.kind in "iu":
        return [str(int(x)) for x in v.ravel()]  # int64 exactly, as strings
    return [float(x) for x in v.ravel()]


def expected(path, skip_rows):
    want = columns()
    for i in skip_rows:
        for v in want.values():
            v[i] = 0 if v.dtype.kind != "S" else b""
    cols = {}
    with h5py.File(path, "r") as f:
        for name, ds in f.items():
            if plain(ds[()]) != plain(want[name]):
                raise SystemExit(f"{path}: {name} does not read back as written")
            chunks = []
            if ds.chunks:
                # The first 128 chunks (the tests damage a few of the first ones).
                for i in range(min(128, ds.id.get_num_chunks())):
                    info = ds.id.get_chunk_info(i)
                    chunks.append({"offset": list(info.chunk_offset), "mask": info.filter_mask,
                                   "address": info.byte_offset, "size": info.size})
            cols[name] = {"dtype": str(ds.dtype), "shape": list(ds.shape), "chunks": list(ds.chunks) if ds.chunks else None,
                          "filters": list(ds._filters.keys()), "storedChunks": chunks,
                          "chunkCount": ds.id.get_num_chunks() if ds.chunks else 0}
    with open(str(path) + ".expected.json", "w") as fh:
        json.dump({"h5py": h5py.version.version, "hdf5": h5py.version.hdf5_version,
                   "unwrittenRows": sorted(skip_rows), "columns": cols}, fh)


with open(OUT / "values.json", "w") as fh:
    json.dump({name: {"shape": list(v.shape), "values": plain(v)} for name, v in columns().items()}, fh)


write(OUT / "contiguous.hdf5", "contiguous")
write(OUT / "contiguous_be.hdf5", "contiguous", endian=">")
write(OUT / "raw.hdf5", "raw")
write(OUT / "gzip.hdf5", "gzip")
write(OUT / "gzip_be.hdf5", "gzip", endian=">")
write(OUT / "gzip_inner.hdf5", "gzip", inner=True)
write(OUT / "gzip_resized.hdf5", "gzip", rows=4, resize=True)
write(OUT / "shuffle.hdf5", "shuffle")
# The shuffle alone (no compression): for 1-byte elements (the bool enum) it changes nothing.
write(OUT / "shuffle_only.hdf5", "shuffle_only")
write(OUT / "lzf.hdf5", "lzf", rows=1)
write(OUT / "fletcher32.hdf5", "fletcher32")
write(OUT / "fletcher32_be.hdf5", "fletcher32", endian=">")
write(OUT / "latest.hdf5", "gzip", libver="latest", resize=True)
# Chunks never written: the fast path reads the column, h5wasm the rows never written.
write(OUT / "unwritten.hdf5", "gzip", rows=4, skip_rows=set(range(8, 16)))
# libver v110 (what PartitionWriter writes): data layout message version 4, one file per chunk
# index. Fixed array: fixed dims; paged once it holds more than 1024 chunks (image chunks of
# 1x1x1x4 values: 37 * 3 * 8 * 2 = 1776 chunks).
V110 = ("v110", "v110")
write(OUT / "v4_fixed_gzip.hdf5", "gzip", libver=V110)
write(OUT / "v4_fixed_gzip_be.hdf5", "gzip", endian=">", libver=V110, inner=True)
write(OUT / "v4_fixed_raw.hdf5", "raw", libver=V110)
write(OUT / "v4_fixed_shuffle.hdf5", "shuffle", libver=V110)
write(OUT / "v4_fixed_fletcher32_be.hdf5", "fletcher32", endian=">", libver=V110)
write(OUT / "v4_fixed_paged.hdf5", "fletcher32", libver=V110, image_chunk=(1, 1, 1, 4))
# Extensible array: axis 0 resizable; past 244 chunks (444 image chunks of 1x1x2x8 values) the
# array needs super blocks beyond its index block. Its paged data blocks need over 131060 chunks:
# test/storage/direct-read.test.ts writes such a file with PartitionWriter instead.
write(OUT / "v4_earray_gzip.hdf5", "gzip", libver=V110, rows=4, resize=True)
write(OUT / "v4_earray_raw.hdf5", "raw", libver=V110, rows=1, resize=True)
write(OUT / "v4_earray_gzip_sblk.hdf5", "gzip", libver=V110, rows=3, resize=True, image_chunk=(1, 1, 2, 8))
# Single chunk (filtered and not) and implicit (chunks allocated early, no filters, fixed dims).
write(OUT / "v4_single_gzip.hdf5", "gzip", libver=V110, single=True)
write(OUT / "v4_single_raw.hdf5", "raw", libver=V110, single=True)
write(OUT / "v4_implicit.hdf5", "raw", libver=V110, early=True, inner=True)
# Version-2 B-tree: every axis resizable (records of type 11 with filters, 10 without).
write(OUT / "v4_btree2_gzip.hdf5", "gzip", libver=V110, rows=4, resize=True, unlimited_all=True, inner=True)
write(OUT / "v4_btree2_raw.hdf5", "raw", libver=V110, rows=1, resize=True, unlimited_all=True)

for p in sorted(OUT.glob("*.hdf5")):
    with h5py.File(p, "r") as f:
        masks = sum(1 for ds in f.values() if ds.chunks for i in range(ds.id.get_num_chunks()) if ds.id.get_chunk_info(i).filter_mask)
    print(p.name, p.stat().st_size, "bytes,", masks, "chunks stored with a filter skipped")
