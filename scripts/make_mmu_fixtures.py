#!/usr/bin/python3
"""Writes small HDF5 files the way Multimodal Universe v1 build scripts do, with h5py.

Run with Debian's interpreter (python3-h5py, python3-numpy):
    /usr/bin/python3 scripts/make_mmu_fixtures.py test/fixtures/storage

Their scripts read FITS with astropy and hand each column to h5py, so the files carry FITS
habits: big-endian catalog columns, NULL-padded fixed-length strings, bool as an HDF5 enum.
Each file comes with <name>.expected.json: per column the dtype h5py sees, the shape and the
values (flattened; strings decoded), which test/storage/mmu-compat.test.ts compares against.
"""
import json
import sys
from pathlib import Path

import h5py
import numpy as np

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/storage")
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(20261122)


def expected(path):
    """What h5py reads back: the reference the TypeScript reader must match."""
    cols = {}
    with h5py.File(path, "r") as f:
        for name, ds in f.items():
            if not isinstance(ds, h5py.Dataset):
                continue
            v = ds[()]
            if v.dtype.kind == "S":
                values = [s.decode("utf-8") for s in v.ravel()]
            elif v.dtype.kind == "O":
                values = [s.decode("utf-8") if isinstance(s, bytes) else s for s in v.ravel()]
            elif v.dtype.kind == "b":
                values = [int(x) for x in v.ravel()]
            elif v.dtype.kind in "iu":
                values = [str(int(x)) for x in v.ravel()]  # int64 exactly, as strings
            else:
                values = [float(x) for x in v.ravel()]
            cols[name] = {
                "dtype": str(ds.dtype),
                "shape": list(ds.shape),
                "compression": ds.compression,
                "chunks": list(ds.chunks) if ds.chunks else None,
                "values": values,
            }
        attrs = {k: (v.decode() if isinstance(v, bytes) else v if isinstance(v, str) else v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    with open(str(path) + ".expected.json", "w") as fh:
        json.dump({"h5py": h5py.version.version, "hdf5": h5py.version.hdf5_version, "attrs": attrs, "columns": cols}, fh)


def hsc_like():
    """HSC: chunked gzip level 4, maxshape None, grown by resize batch by batch."""
    n, bands, h, w = 12, 5, 8, 8
    path = OUT / "hsc_like.hdf5"
    with h5py.File(path, "w") as f:
        f.attrs["project"] = "MMU"
        f.attrs["survey"] = "HSC"
        f.attrs["release"] = "pdr3"
        def col(name, shape, dtype):
            return f.create_dataset(name, shape=(0,) + shape, maxshape=(None,) + shape, dtype=dtype,
                                    chunks=(1,) + shape if shape else (64,), compression="gzip", compression_opts=4)
        cols = {
            "object_id": col("object_id", (), ">i8"),
            "ra": col("ra", (), ">f8"),
            "dec": col("dec", (), ">f8"),
            "healpix": col("healpix", (), "<i8"),
            "image_band": col("image_band", (bands,), "S5"),
            "image_array": col("image_array", (bands, h, w), "<f4"),
            "image_ivar": col("image_ivar", (bands, h, w), "<f4"),
            "image_mask": col("image_mask", (bands, h, w), "bool"),
            "image_psf_fwhm": col("image_psf_fwhm", (bands,), "<f4"),
            "image_scale": col("image_scale", (bands,), "<f4"),
            "forced.g_cmodel_mag": col("forced.g_cmodel_mag", (), ">f4"),
        }
        for start in range(0, n, 5):
            m = min(5, n - start)
            batch = {
                "object_id": np.arange(start, start + m, dtype=np.int64) + 36407037746397184,
                "ra": 150.0 + rng.random(m),
                "dec": 2.0 + rng.random(m),
                "healpix": np.full(m, 1234, dtype=np.int64),
                "image_band": np.array([[b"hsc-g", b"hsc-r", b"hsc-i", b"hsc-z", b"hsc-y"]] * m),
                "image_array": rng.normal(size=(m, bands, h, w)).astype(np.float32),
                "image_ivar": rng.random((m, bands, h, w)).astype(np.float32),
                "image_mask": rng.random((m, bands, h, w)) > 0.1,
                "image_psf_fwhm": rng.random((m, bands)).astype(np.float32),
                "image_scale": np.full((m, bands), 0.168, dtype=np.float32),
                "forced.g_cmodel_mag": (22 + rng.random(m)).astype(">f4"),
            }
            for name, ds in cols.items():
                ds.resize(start + m, axis=0)
                ds[start:start + m] = batch[name]
    expected(path)


def legacy_like():
    """Legacy Survey: chunked LZF (optional filter: incompressible chunks stored raw), S16 ids."""
    n = 40
    path = OUT / "legacy_like.hdf5"
    with h5py.File(path, "w") as f:
        ids = np.array([f"{1518 + i // 10:04d}p024-{4036 + i}".encode() for i in range(n)], dtype="S16")
        f.create_dataset("object_id", data=ids, chunks=(16,), compression="lzf")
        f.create_dataset("ra", data=(229.0 + rng.random(n)).astype(">f8"), chunks=(16,), compression="lzf")
        f.create_dataset("dec", data=(2.4 + rng.random(n)).astype(">f8"), chunks=(16,), compression="lzf")
        f.create_dataset("image_band", data=np.array([[b"des-g", b"des-r", b"des-z"]] * n), chunks=(16, 3), compression="lzf")
        # Random floats do not compress: LZF gives up and h5py's optional filter stores the chunk
        # raw with the filter mask bit set. A smooth image compresses. Both kinds in one column.
        img = rng.normal(size=(n, 3, 16, 16)).astype(np.float32)
        img[::2] = np.float32(1.5)
        f.create_dataset("image_flux", data=img, chunks=(1, 3, 16, 16), compression="lzf")
        f.create_dataset("image_mask", data=rng.random((n, 16, 16)) > 0.5, chunks=(1, 16, 16), compression="lzf")
    expected(path)


def sdss_like():
    """SDSS: contiguous, 19-char string ids, padded spectra of two native lengths."""
    n, length = 6, 40
    path = OUT / "sdss_like.hdf5"
    flux = np.zeros((n, length), np.float32)
    ivar = np.zeros((n, length), np.float32)
    lam = np.full((n, length), -1.0, np.float32)
    lsf = np.zeros((n, length), np.float32)
    mask = np.ones((n, length), bool)
    for i in range(n):
        native = 40 if i % 2 == 0 else 31
        flux[i, :native] = rng.normal(size=native)
        flux[i, native:] = flux[i, native - 1]
        lsf[i, :native] = 1.0 + rng.random(native)
        lsf[i, native:] = lsf[i, native - 1]
        ivar[i, :native] = rng.random(native)
        lam[i, :native] = np.linspace(3800, 9200, native)
        mask[i, :native] = rng.random(native) > 0.9
    with h5py.File(path, "w") as f:
        f.create_dataset("object_id", data=np.array([f"{299489677444933632 + i:019d}".encode() for i in range(n)], dtype="S19"))
        f.create_dataset("ra", data=(180 + rng.random(n)).astype(">f8"))
        f.create_dataset("dec", data=(-1 + rng.random(n)).astype(">f8"))
        f.create_dataset("spectrum_flux", data=flux)
        f.create_dataset("spectrum_ivar", data=ivar)
        f.create_dataset("spectrum_lambda", data=lam)
        f.create_dataset("spectrum_lsf_sigma", data=lsf)
        f.create_dataset("spectrum_mask", data=mask)
        f.create_dataset("Z", data=rng.random(n).astype(">f4"))
        f.create_dataset("note", data=[f"vlen é {i}" for i in range(n)], dtype=h5py.string_dtype("utf-8"))
    expected(path)


def ragged():
    """A broken file: one column shorter than the others (the reader must refuse it)."""
    with h5py.File(OUT / "ragged.hdf5", "w") as f:
        f.create_dataset("ra", data=np.arange(10, dtype="f8"))
        f.create_dataset("dec", data=np.arange(9, dtype="f8"))


hsc_like()
legacy_like()
ragged()
sdss_like()
print("wrote fixtures to", OUT)
