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

import shutil

import h5py
import healpy as hp
import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky
from astropy.table import Table

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


# ---- whole Multimodal Universe trees: <survey>/<config>/healpix=N/*.hdf5, no astropile.json ----
#
# Each survey is written the way its build script in github:MultimodalUniverse/MultimodalUniverse
# (scripts/<survey>/build_parent_sample.py) writes it: an astropy Table per healpix group, each
# column handed to h5py.create_dataset. MMU v1 writes no _healpix_29 column and does not sort
# rows by position (SDSS rows come out of an astropy join, sorted by object_id). All surveys
# share one small field around a vertex of four nside-16 pixels, so objects straddle pixel
# borders and partners of a cross-match fall in different pixels.

NSIDE = 16


def field_centre():
    """A corner shared by several nside-16 NESTED pixels (away from the poles and ra=0)."""
    corners = hp.boundaries(NSIDE, 1000, step=1, nest=True)  # (3, 4) unit vectors
    ra, dec = hp.vec2ang(corners[:, 0], lonlat=True)
    return float(ra[0]), float(dec[0])


def scatter(rng, n, ra0, dec0, radius_deg):
    ra = ra0 + (rng.random(n) - 0.5) * 2 * radius_deg / np.cos(np.radians(dec0))
    dec = dec0 + (rng.random(n) - 0.5) * 2 * radius_deg
    return ra, dec


def offset(rng, ra, dec, max_arcsec):
    """Partners within max_arcsec (uniform in a square of that half-size, scaled down)."""
    d = max_arcsec / 3600 / 1.5
    return ra + (rng.random(len(ra)) - 0.5) * 2 * d / np.cos(np.radians(dec)), dec + (rng.random(len(ra)) - 0.5) * 2 * d


def healpix16(ra, dec):
    return hp.ang2pix(NSIDE, ra, dec, lonlat=True, nest=True).astype(np.int64)


def key29(ra, dec):
    return hp.ang2pix(2**29, ra, dec, lonlat=True, nest=True).astype(np.int64)


def write_table(path, table, **kw):
    """What every MMU build script does: one create_dataset per Table column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for key in table.colnames:
            f.create_dataset(key, data=table[key], **kw)


def by_pixel(table):
    table["healpix"] = healpix16(np.asarray(table["ra"]), np.asarray(table["dec"]))
    return table.group_by(["healpix"]).groups


def hsc_tree(root, rng, ra, dec):
    """HSC: chunked gzip 4, maxshape None, grown by resize; big-endian ids and positions.
    This tree carries a _healpix_29 column (as AstroPile's MMU layout writes it): sorted in one
    pixel's file, left unsorted in the others."""
    n = len(ra)
    bands, h, w = 5, 4, 4
    t = Table()
    t["object_id"] = (np.arange(n, dtype=np.int64) + 36407037746397184).astype(">i8")
    t["ra"] = ra.astype(">f8")
    t["dec"] = dec.astype(">f8")
    t["image_band"] = np.array([[b"hsc-g", b"hsc-r", b"hsc-i", b"hsc-z", b"hsc-y"]] * n)
    t["image_array"] = rng.normal(size=(n, bands, h, w)).astype(np.float32)
    t["image_ivar"] = rng.random((n, bands, h, w)).astype(np.float32)
    t["image_mask"] = rng.random((n, bands, h, w)) > 0.1
    t["image_psf_fwhm"] = rng.random((n, bands)).astype(np.float32)
    t["image_scale"] = np.full((n, bands), 0.168, dtype=np.float32)
    t["forced.g_cmodel_mag"] = (22 + rng.random(n)).astype(">f4")
    t["_healpix_29"] = key29(ra, dec)
    for k, g in enumerate(by_pixel(t)):
        if k == 0:
            g = g[np.argsort(np.asarray(g["_healpix_29"]), kind="stable")]
        path = root / "hsc" / "pdr3_dud_22.5" / f"healpix={g['healpix'][0]}" / "001-of-001.hdf5"
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            for key in g.colnames:
                data = np.asarray(g[key])
                shape = data.shape[1:]
                f.create_dataset(key, data=data, compression="gzip", chunks=True, maxshape=(None, *shape))


def desi_tree(root, rng, ra, dec):
    """DESI: contiguous, int64 TARGETID as object_id, spectra of one length."""
    n, length = len(ra), 60
    t = Table()
    t["object_id"] = np.arange(n, dtype=np.int64) + 39627835576420141
    t["ra"] = ra.astype(">f8")
    t["dec"] = dec.astype(">f8")
    t["Z"] = rng.random(n).astype(">f8")
    t["ZWARN"] = rng.integers(0, 4, n).astype(">i8")
    t["spectrum_flux"] = rng.normal(size=(n, length)).astype(np.float32)
    t["spectrum_ivar"] = rng.random((n, length)).astype(np.float32)
    t["spectrum_lambda"] = np.repeat(np.linspace(3600, 9824, length, dtype=np.float32)[None], n, axis=0)
    t["spectrum_lsf_sigma"] = (1 + rng.random((n, length))).astype(np.float32)
    t["spectrum_mask"] = rng.random((n, length)) > 0.95
    for g in by_pixel(t):
        write_table(root / "desi" / "dr1_main" / f"healpix={g['healpix'][0]}" / "001-of-001.hdf5", g)


def legacy_tree(root, rng, ra, dec):
    """Legacy Survey: chunked LZF, S16 brick-style ids, one 2-D mask for all bands."""
    n = len(ra)
    t = Table()
    t["object_id"] = np.array([f"1518p024-{4036 + i}".encode() for i in range(n)], dtype="S16")
    t["ra"] = ra.astype(">f8")
    t["dec"] = dec.astype(">f8")
    t["image_band"] = np.array([[b"des-g", b"des-r", b"des-z"]] * n)
    img = rng.normal(size=(n, 3, 8, 8)).astype(np.float32)
    img[::2] = np.float32(1.5)
    t["image_flux"] = img
    t["image_mask"] = rng.random((n, 8, 8)) > 0.5
    t["FLUX_G"] = rng.random(n).astype(">f4")
    for g in by_pixel(t):
        write_table(root / "legacysurvey" / "dr10_south_21" / f"healpix={g['healpix'][0]}" / "001-of-001.hdf5",
                    g, compression="lzf", chunks=True)


def sdss_tree(root, rng, ra, dec):
    """SDSS boss: per healpix file, spectra padded to the longest plate of that file only (so files
    differ: 232 and 240 here, 4640 and 4648 in the real data); rows come out of a join on
    object_id (sorted by it, not by position)."""
    groups = by_pixel(Table({"ra": ra, "dec": dec}))
    for k, g in enumerate(groups):
        n = len(g)
        length = 240 if k % 2 == 0 else 232
        flux = np.zeros((n, length), np.float32)
        ivar = np.zeros((n, length), np.float32)
        lam = np.full((n, length), -1.0, np.float32)
        lsf = np.zeros((n, length), np.float32)
        mask = np.ones((n, length), bool)
        for i in range(n):
            native = length if i % 2 == 0 else length - 8
            flux[i, :native] = rng.normal(size=native)
            lsf[i, :native] = 1 + rng.random(native)
            ivar[i, :native] = rng.random(native)
            lam[i, :native] = 10 ** (3.5523 + 1e-4 * np.arange(native))
            mask[i, :native] = rng.random(native) > 0.9
            flux[i, native:] = flux[i, native - 1]
            lsf[i, native:] = lsf[i, native - 1]
        t = Table()
        ids = [f"{299489677444933632 + 1000 * k + i:019d}" for i in range(n)]
        t["object_id"] = np.array([s.encode() for s in ids], dtype="S19")
        t["ra"] = np.asarray(g["ra"]).astype(">f8")
        t["dec"] = np.asarray(g["dec"]).astype(">f8")
        t["PLUG_RA"] = t["ra"]
        t["PLUG_DEC"] = t["dec"]
        t["Z"] = rng.random(n).astype(">f4")
        t["SURVEY"] = np.array([b"boss    "] * n)
        t["healpix"] = np.asarray(g["healpix"])
        t["spectrum_flux"] = flux
        t["spectrum_ivar"] = ivar
        t["spectrum_lambda"] = lam
        t["spectrum_lsf_sigma"] = lsf
        t["spectrum_mask"] = mask
        order = rng.permutation(n)  # not in sky order
        write_table(root / "sdss" / "boss" / f"healpix={g['healpix'][0]}" / "001-of-001.hdf5", t[order])


# The other four configs of MMU's SDSS parent sample. Its build script splits specObj-dr17 by the
# SURVEY column (values 'sdss  ', 'segue1', 'segue2', 'boss  ', 'eboss ': 6 characters, space
# padded) and writes each survey as config <SURVEY stripped>/healpix=N/001-of-001.hdf5, the same
# way as boss: per file, the spectra of each plate (spPlate HDUs: flux, ivar, and_mask, lsf_sigma;
# lambda = 10**(CRVAL1 + CD1_1 * (i + 1 - CRPIX1)), so each plate starts at its own CRVAL1) are
# padded to the longest plate of that file (flux and lsf_sigma by edge, ivar 0, lambda -1,
# mask True), then joined with the catalog on object_id (rows sorted by it). The SDSS-I/II
# spectrograph (sdss, segue1, segue2) gives ~3800-3900 pixels per spectrum from ~3800 A; the BOSS
# one (boss, eboss) ~4600 from ~3600 A: scaled down here by 20 as for boss.
# (config, SURVEY value, rows, log10 start wavelength, native lengths of its plates, id base)
SDSS_CONFIGS = [
    ("sdss", b"sdss  ", 5, 3.5797, [192, 190], 299489677444933632),
    ("segue1", b"segue1", 4, 3.5798, [191, 187], 1862165574452832256),
    ("segue2", b"segue2", 3, 3.5796, [194], 3295546627548227584),
    ("eboss", b"eboss ", 5, 3.5524, [232, 240], 8459631244718276608),
]


def sdss_other_configs(root, rng, ra0, dec0):
    """sdss, segue1, segue2, eboss: a few rows each in the common field, written as MMU writes
    every SDSS config (see SDSS_CONFIGS). Drawn from their own random stream, so the boss files
    and everything written before them stay as they were."""
    for config, survey, n, loglam0, natives, id_base in SDSS_CONFIGS:
        ra, dec = scatter(rng, n, ra0, dec0, 0.25)
        t = Table()
        t["object_id"] = np.array([f"{id_base + int(x):019d}".encode() for x in rng.choice(10**6, n, replace=False)], dtype="S19")
        t["ra"] = ra.astype(">f8")
        t["dec"] = dec.astype(">f8")
        t["PLUG_RA"] = t["ra"]
        t["PLUG_DEC"] = t["dec"]
        t["PLATE"] = rng.choice(np.arange(266, 266 + len(natives)), n).astype(">i4")
        t["Z"] = rng.random(n).astype(">f4")
        t["SURVEY"] = np.array([survey] * n)
        for g in by_pixel(t):
            m = len(g)
            plates = np.asarray(g["PLATE"]) - 266
            length = max(natives[p] for p in plates)
            flux = np.zeros((m, length), np.float32)
            ivar = np.zeros((m, length), np.float32)
            lam = np.full((m, length), -1.0, np.float32)
            lsf = np.zeros((m, length), np.float32)
            mask = np.ones((m, length), bool)
            for i, p in enumerate(plates):
                native = natives[p]
                flux[i, :native] = rng.normal(size=native)
                lsf[i, :native] = 1 + rng.random(native)
                ivar[i, :native] = rng.random(native)
                lam[i, :native] = 10 ** (loglam0 + 1e-4 * p + 1e-4 * np.arange(native))
                mask[i, :native] = (rng.random(native) > 0.9) | (ivar[i, :native] <= 1e-6)
                flux[i, native:] = flux[i, native - 1]
                lsf[i, native:] = lsf[i, native - 1]
            g["spectrum_flux"] = flux
            g["spectrum_ivar"] = ivar
            g["spectrum_lambda"] = lam
            g["spectrum_lsf_sigma"] = lsf
            g["spectrum_mask"] = mask
            g = g[np.argsort(np.asarray(g["object_id"]), kind="stable")]  # the join on object_id
            write_table(root / "sdss" / config / f"healpix={g['healpix'][0]}" / "001-of-001.hdf5", g)


def manga_tree(root, rng, ra, dec):
    """MaNGA: one group per object keyed by plateifu (track_order), scalars as group attributes
    and as scalar datasets, compound tables spaxels/images/maps with array members; files named
    0001-of-0001.hdf5."""
    utf8_5 = h5py.string_dtype("utf-8", 5)
    nwave, npix = 12, 4
    groups = by_pixel(Table({"ra": ra, "dec": dec}))
    for k, g in enumerate(groups):
        path = root / "manga" / "dr17" / f"healpix={g['healpix'][0]}" / "0001-of-0001.hdf5"
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            f.attrs["project"] = "SDSS"
            f.attrs["survey"] = "MaNGA"
            f.attrs["release"] = "DR17"
            for i in range(len(g)):
                plateifu = f"{8000 + 10 * k + i}-{1901 + i}"
                hg = f.create_group(plateifu, track_order=True)
                scalars = {
                    "object_id": plateifu,
                    "ra": float(g["ra"][i]),
                    "dec": float(g["dec"][i]),
                    "healpix": int(g["healpix"][i]),
                    "z": np.float32(rng.random()),
                    "spaxel_size": np.float32(0.5),
                    "spaxel_size_unit": "arcsec",
                }
                for key, v in scalars.items():
                    hg.attrs[key] = v
                    hg.create_dataset(key, data=v)
                nsp = 3 + i
                spax = Table()
                spax["flux"] = rng.normal(size=(nsp, nwave)).astype(np.float32)
                spax["ivar"] = rng.random((nsp, nwave)).astype(np.float32)
                spax["mask"] = rng.choice([0, 1024], (nsp, nwave)).astype(">i4")  # FITS MASK HDU
                spax["lsf_sigma"] = (1 + rng.random((nsp, nwave))).astype(">f8")
                spax["lambda"] = np.repeat(np.geomspace(3622, 10354, nwave).astype(np.float32)[None], nsp, axis=0)
                spax["x"] = np.arange(nsp, dtype=np.int64) % 2
                spax["y"] = np.arange(nsp, dtype=np.int64) // 2
                spax["spaxel_idx"] = np.arange(nsp, dtype=np.int64)
                spax["flux_units"] = np.array([b"1e-17 erg/s/cm^2/Ang/spaxel"] * nsp)
                spax["lambda_units"] = np.array([b"Angstrom"] * nsp)
                spax["skycoo_x"] = rng.random(nsp)
                spax["skycoo_y"] = rng.random(nsp)
                hg.create_dataset("spaxels", data=spax)
                im = Table()  # one row per filter (Table(res['images'][0]) in the build script)
                im["image_band"] = np.array([b"g", b"r", b"i", b"z"], dtype="S5")
                im["image_array"] = rng.random((4, npix, npix)).astype(">f4")
                im["image_array_units"] = np.array([b"nanomaggies/pixel"] * 4)
                im["image_psf"] = rng.random((4, npix, npix)).astype(">f4")
                im["image_psf_units"] = np.array([b"nanomaggies/pixel"] * 4)
                im["image_scale"] = np.full(4, 0.5)
                im["image_scale_units"] = np.array([b"arcsec"] * 4)
                hg.create_dataset("images", data=im)
                mp = Table()
                mp["group"] = np.array([b"spx_mflux", b"emline_gflux"])
                mp["label"] = np.array([b"spx_mflux", b"emline_gflux_ha_6564"])
                mp["array"] = rng.random((2, npix, npix)).astype(np.float32)
                mp["ivar"] = rng.random((2, npix, npix)).astype(np.float32)
                mp["mask"] = rng.integers(0, 2, (2, npix, npix)).astype(np.float32)
                mp["array_units"] = np.array([b"1e-17 erg/s/cm^2/spaxel", b"1e-17 erg/s/cm^2/spaxel"])
                hg.create_dataset("maps", data=mp)


def tree_expected(root):
    """Per tree file: what h5py reads (flat files), keys and pixels from healpy."""
    out = {}
    for path in sorted(root.rglob("*.hdf5")):
        rel = str(path.relative_to(root))
        with h5py.File(path, "r") as f:
            if "ra" in f and isinstance(f["ra"], h5py.Dataset):
                ra, dec = f["ra"][()], f["dec"][()]
                keys = key29(ra, dec)
                out[rel] = {"rows": len(ra), "keyMin": str(int(keys.min())), "keyMax": str(int(keys.max())),
                            "pixels": sorted(set(int(p) for p in healpix16(ra, dec)))}
    return out


def mmu_trees(root):
    if root.exists():
        shutil.rmtree(root)
    rng = np.random.default_rng(20261206)
    ra0, dec0 = field_centre()
    base_ra, base_dec = scatter(rng, 40, ra0, dec0, 0.25)
    # The first 8 sit within 0.6 arcsec of the corner: their partners often lie across a border.
    corner_ra, corner_dec = scatter(rng, 8, ra0, dec0, 0.6 / 3600)
    base_ra[:8], base_dec[:8] = corner_ra, corner_dec
    hsc_tree(root / "a", rng, base_ra, base_dec)
    # DESI: 24 of the HSC objects moved by < 1 arcsec (some cross a pixel border), and 6 others.
    pra, pdec = offset(rng, base_ra[:24], base_dec[:24], 1.0)
    xra, xdec = scatter(rng, 6, ra0, dec0, 0.25)
    desi_tree(root / "a", rng, np.concatenate([pra, xra]), np.concatenate([pdec, xdec]))
    lra, ldec = offset(rng, base_ra[10:34], base_dec[10:34], 1.0)
    legacy_tree(root / "a", rng, lra, ldec)
    sra, sdec = offset(rng, base_ra[::3], base_dec[::3], 1.0)
    sdss_tree(root / "a", rng, sra, sdec)
    mra, mdec = scatter(rng, 5, ra0, dec0, 0.25)
    manga_tree(root / "a", rng, mra, mdec)
    sdss_other_configs(root / "a", np.random.default_rng(20261215), ra0, dec0)
    # A survey directory without _healpix_29 in any file, rows in no particular order: desi.
    # Bad trees (each one problem; the tests copy good files next to them for the rest).
    bad = root / "bad"
    t = Table({"object_id": np.arange(3, dtype=np.int64), "flux": np.ones(3, np.float32)})
    write_table(bad / "no_radec" / "dr1" / "healpix=1000" / "001-of-001.hdf5", t)
    mg = bad / "manga_missing" / "dr17" / "healpix=1000" / "0001-of-0001.hdf5"
    mg.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(mg, "w") as f:
        hg = f.create_group("8001-1901", track_order=True)
        hg.create_dataset("object_id", data="8001-1901")
        hg.create_dataset("ra", data=float(ra0))
        hg.create_dataset("dec", data=float(dec0))
        # no spaxels member
    expected = {"centre": [ra0, dec0], "files": tree_expected(root / "a")}
    # Cross-match references: astropy search_around_sky on the positions h5py reads.
    # SDSS: the boss config (the other configs are checked against h5py by the tests directly).
    def positions(survey):
        ra, dec, ids = [], [], []
        top = root / "a" / survey / ("boss" if survey == "sdss" else "")
        for path in sorted(top.rglob("*.hdf5")):
            with h5py.File(path, "r") as f:
                ra.extend(f["ra"][()].tolist()); dec.extend(f["dec"][()].tolist())
                ids.extend([x.decode() if isinstance(x, bytes) else str(x) for x in f["object_id"][()]])
        return np.array(ra), np.array(dec), ids
    pairs = {}
    for a, b in [("hsc", "desi"), ("desi", "legacysurvey"), ("hsc", "sdss")]:
        ara, adec, aid = positions(a)
        bra, bdec, bid = positions(b)
        i, j, d, _ = search_around_sky(SkyCoord(ara * u.deg, adec * u.deg), SkyCoord(bra * u.deg, bdec * u.deg), 1.0 * u.arcsec)
        straddle = sum(1 for x, y in zip(i, j) if healpix16(ara[x:x+1], adec[x:x+1])[0] != healpix16(bra[y:y+1], bdec[y:y+1])[0])
        pairs[f"{a}-{b}"] = {"radiusArcsec": 1.0, "straddling": straddle,
                             "pairs": sorted([[aid[x], bid[y], float(s.to(u.arcsec).value)] for x, y, s in zip(i, j, d)])}
    expected["xmatch"] = pairs
    with open(root / "expected.json", "w") as fh:
        json.dump(expected, fh, indent=1)
    print("wrote MMU trees to", root, {k: (len(v["pairs"]), v["straddling"]) for k, v in pairs.items()})


hsc_like()
legacy_like()
ragged()
sdss_like()
print("wrote fixtures to", OUT)
mmu_trees(OUT.parent / "mmu")
