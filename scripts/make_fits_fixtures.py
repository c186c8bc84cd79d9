#!/usr/bin/python3
"""Writes the FITS, WCS, ECSV and CSV fixtures of test/formats, with astropy's answers.

Run with Debian's interpreter (python3-astropy, python3-numpy):
    /usr/bin/python3 scripts/make_fits_fixtures.py test/fixtures/formats

FITS files are assembled byte by byte (headers from card images, big-endian data, heap) so
they hold what no writer produces by choice: BLANK values, logicals stored as 0 (null),
TNULL, every TFORM, scaled and unsigned conventions, CONTINUE and HIERARCH cards. astropy
then reads each file, and <file>.expected.json records what it sees, which the TypeScript
readers must match: ints as decimal strings, floats as repr strings (exact), NaN as null.
WCS answers come from astropy.wcs (wcslib), cutouts from astropy.nddata.Cutout2D, ECSV files
are written by astropy.table. The astropy and numpy versions are recorded in versions.json.
"""
import gzip
import json
import shutil
import sys
from pathlib import Path

import astropy
import numpy as np
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.table import MaskedColumn, Table
from astropy.wcs import WCS

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/formats")
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(20261122)


def num(x):
    """A JSON-safe exact number: ints as strings, floats as repr strings, NaN as None."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return None if np.isnan(x) else repr(x.item() if isinstance(x, np.floating) else x)
    if isinstance(x, (bytes, np.bytes_)):
        return x.decode("ascii")
    if isinstance(x, str):
        return x
    raise TypeError(type(x))


def flat(a):
    a = np.asarray(a)
    if a.dtype.kind == "c":
        a = np.stack([a.real, a.imag], axis=-1)
    return [num(v) for v in a.ravel()]


def card(key, value=None, comment=None):
    return fits.Card(key, value, comment).image


def header_bytes(cards):
    text = "".join(c if len(c) == 80 else c.ljust(80) for c in cards) + "END".ljust(80)
    text += " " * (-len(text) % 2880)
    return text.encode("ascii")


def pad(data):
    return data + b"\0" * (-len(data) % 2880)


def gzip_copy(path):
    """path + '.gz', reproducible (mtime 0)."""
    with open(path, "rb") as src, open(f"{path}.gz", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as dst:
            shutil.copyfileobj(src, dst)


def write_json(name, obj):
    (OUT / name).write_text(json.dumps(obj, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------
# Images: one HDU per BITPIX and convention


def image_hdu(primary, raw, extra, name=None):
    """Header + data bytes of an image HDU with raw stored values `raw` (numpy, numpy order)."""
    bitpix = {"u1": 8, "i2": 16, "i4": 32, "i8": 64, "f4": -32, "f8": -64}[raw.dtype.str[1:]]
    cards = [card("SIMPLE", True)] if primary else [card("XTENSION", "IMAGE")]
    cards += [card("BITPIX", bitpix), card("NAXIS", raw.ndim)]
    cards += [card(f"NAXIS{k + 1}", n) for k, n in enumerate(reversed(raw.shape))]
    cards += [card("EXTEND", True)] if primary else [card("PCOUNT", 0), card("GCOUNT", 1)]
    if name:
        cards.append(card("EXTNAME", name))
    cards += extra
    return header_bytes(cards) + pad(raw.astype(raw.dtype.newbyteorder(">")).tobytes())


def make_images():
    shape = (5, 7)
    n = shape[0] * shape[1]
    big = np.array([2**62 + 1, -(2**63), 2**63 - 1, 9007199254740993], dtype=np.int64)
    hdus = [
        ("u8", np.arange(n, dtype=np.uint8).reshape(shape) * 7, []),
        ("i16", (np.arange(n, dtype=np.int16) - 17).reshape(shape) * 1000, []),
        ("i32", (np.arange(n, dtype=np.int32) - 17).reshape(shape) * 100000007, []),
        ("i64", np.concatenate([big, np.arange(n - 4, dtype=np.int64) * -3]).reshape(shape), []),
        ("f32", rng.normal(size=shape).astype(np.float32), []),
        ("f64", rng.normal(size=shape) * 1e10, []),
        (
            "i16_scaled_blank",
            np.where(np.arange(n) % 6 == 0, -32768, np.arange(n) * 300 - 5000).astype(np.int16).reshape(shape),
            [card("BSCALE", 0.1), card("BZERO", 3.3), card("BLANK", -32768)],
        ),
        (
            "u8_scaled",
            np.arange(n, dtype=np.uint8).reshape(shape),
            [card("BSCALE", 1.5), card("BZERO", -7.25)],
        ),
        (
            "i32_scaled_blank",
            np.where(np.arange(n) % 5 == 1, 7, np.arange(n) * 123456 - 10**9).astype(np.int32).reshape(shape),
            [card("BSCALE", 2.5e-6), card("BZERO", 1000.0), card("BLANK", 7)],
        ),
        (
            "i64_scaled",
            (np.arange(n, dtype=np.int64) * 3**30).reshape(shape),
            [card("BSCALE", 0.001), card("BZERO", -12.5)],
        ),
        (
            "f32_scaled",
            rng.normal(size=shape).astype(np.float32),
            [card("BSCALE", 2.0), card("BZERO", 1.0)],
        ),
        ("uint16", (np.arange(n) * 1900 - 32768).astype(np.int16).reshape(shape), [card("BZERO", 32768)]),
        (
            "uint16_blank",
            (np.arange(n) * 1900 - 32768).astype(np.int16).reshape(shape),
            [card("BSCALE", 1), card("BZERO", 32768), card("BLANK", -32768)],
        ),
        (
            "uint32",
            (np.arange(n, dtype=np.int64) * 122000000 - 2**31).astype(np.int32).reshape(shape),
            [card("BZERO", 2147483648)],
        ),
        (
            "uint64",
            np.concatenate([[-(2**63), 2**63 - 1], np.arange(n - 2) * 2**58]).astype(np.int64).reshape(shape),
            [card("BZERO", 9223372036854775808)],
        ),
        ("int8", np.arange(n, dtype=np.uint8).reshape(shape) * 7, [card("BZERO", -128)]),
        ("i16_blank", np.where(np.arange(n) % 4 == 0, 999, np.arange(n)).astype(np.int16).reshape(shape), [card("BLANK", 999)]),
        ("cube", rng.normal(size=(3, 4, 6)).astype(np.float32), []),
        ("f32_nan", np.array([[np.nan, np.inf], [-np.inf, -0.0]], dtype=np.float32), []),
    ]
    blob = image_hdu(True, hdus[0][1], hdus[0][2], hdus[0][0])
    for name, raw, extra in hdus[1:]:
        blob += image_hdu(False, raw, extra, name)
    path = OUT / "images.fits"
    path.write_bytes(blob)
    expected = []
    with fits.open(path) as f:
        for k, hdu in enumerate(f):
            data = hdu.data
            raw = hdus[k][1]
            blank = hdu.header.get("BLANK")
            entry = {
                "name": hdu.name if k else hdus[0][0],
                "dtype": data.dtype.name,
                "shape": list(data.shape),
                "values": flat(data),
            }
            if blank is not None:
                entry["blank"] = [int(v) for v in (raw == blank).ravel()]
            expected.append(entry)
    write_json("images.fits.expected.json", expected)
    gzip_copy(path)


# ---------------------------------------------------------------------------------------------
# Binary table with every TFORM, plus an ASCII table


def make_tables():
    nrows = 5
    # (name, tform, extra cards, raw numpy dtype (big-endian), raw values per row)
    cols = []
    be = lambda code: np.dtype(">" + code)  # noqa: E731
    logical = np.array([b"T", b"F", b"\0", b"T", b"F"], dtype="S1")
    cols.append(("flag", "L", [], "S1", logical))
    bits = rng.integers(0, 256, size=(nrows, 2), dtype=np.uint8)
    bits[:, 1] &= 0xE0  # 11 bits used of 16
    cols.append(("bits", "11X", [], (np.uint8, (2,)), bits))
    cols.append(("ub", "B", [], np.uint8, np.array([0, 1, 127, 128, 255], dtype=np.uint8)))
    cols.append(("sb", "B", [("TZERO", -128)], np.uint8, np.array([0, 1, 127, 128, 255], dtype=np.uint8)))
    cols.append(("i16", "I", [("TNULL", -32768)], be("i2"), np.array([-32768, -1, 0, 32767, 12], dtype=np.int16)))
    cols.append(("i32", "J", [("TNULL", -2147483648)], be("i4"), np.array([5, -2147483648, 2147483647, 0, -7], dtype=np.int32)))
    cols.append(
        (
            "i64",
            "K",
            [("TNULL", -(2**63)), ("TUNIT", "count")],
            be("i8"),
            np.array([2**62 + 1, -(2**63), 2**63 - 1, 9007199254740993, -9007199254740993], dtype=np.int64),
        )
    )
    cols.append(("u16", "I", [("TZERO", 32768)], be("i2"), np.array([-32768, -1, 0, 32767, 12], dtype=np.int16)))
    cols.append(("u32", "J", [("TZERO", 2147483648)], be("i4"), np.array([-(2**31), -1, 0, 2**31 - 1, 5], dtype=np.int32)))
    cols.append(
        ("u64", "K", [("TZERO", 9223372036854775808)], be("i8"), np.array([-(2**63), -1, 0, 2**63 - 1, 2**53 + 1], dtype=np.int64))
    )
    cols.append(("scaled", "I", [("TSCAL", 0.25), ("TZERO", 10.5)], be("i2"), np.array([-3, 0, 1, 1000, -32768], dtype=np.int16)))
    cols.append(("scaled_e", "E", [("TSCAL", 2.0), ("TZERO", 1.0)], be("f4"), np.array([0.1, -2.5, 3e30, 0, np.nan], dtype=np.float32)))
    names = np.array([b"alpha", b"b  ", b"", b"nul\0\0\0", b"ten chars!"], dtype="S10")
    cols.append(("name", "10A", [], "S10", names))
    cols.append(("e", "E", [("TUNIT", "mag")], be("f4"), np.array([1.5, np.nan, np.inf, -np.inf, 1e-40], dtype=np.float32)))
    cols.append(("d", "D", [("TUNIT", "deg")], be("f8"), np.array([0.1, -0.0, 1e308, 5e-324, np.pi])))
    cols.append(("c", "C", [], (be("f4"), (2,)), rng.normal(size=(nrows, 2)).astype(np.float32)))
    cols.append(("m", "M", [], (be("f8"), (2,)), rng.normal(size=(nrows, 2))))
    cols.append(("vec", "3J", [], (be("i4"), (3,)), np.arange(nrows * 3, dtype=np.int32).reshape(nrows, 3) - 4))
    cols.append(("mat", "6E", [("TDIM", "(3,2)")], (be("f4"), (6,)), rng.normal(size=(nrows, 6)).astype(np.float32)))
    strs = np.array([[b"ab", b"cde", b""], [b"x", b"y", b"z"], [b"12345", b"", b" lead"], [b"", b"", b""], [b"q", b"r", b"s"]], dtype="S5")
    cols.append(("strs", "15A", [("TDIM", "(5,3)")], "S15", np.array([b"".join(s.ljust(5, b" ") for s in row) for row in strs], dtype="S15")))
    cols.append(("one", "1D", [("TDIM", "(1)")], be("f8"), np.array([1.0, 2.0, 3.0, 4.0, 5.0])))
    # Variable-length arrays: the heap is written after the rows, elements big-endian.
    vla_j = [np.array([1, 2, 3], dtype=">i4"), np.array([], dtype=">i4"), np.array([-5], dtype=">i4"), np.arange(10, dtype=">i4"), np.array([7, 7], dtype=">i4")]
    vla_e = [np.array([1.5], dtype=">f4"), np.array([np.nan, 2.0], dtype=">f4"), np.array([], dtype=">f4"), np.array([3.0] * 4, dtype=">f4"), np.array([-1.0], dtype=">f4")]
    vla_a = [b"hello", b"", b"a longer string here", b"x", b"trailing  "]
    vla_d = [np.array([0.5, 0.25], dtype=">f8"), np.array([], dtype=">f8"), np.array([1e300], dtype=">f8"), np.array([2.0], dtype=">f8"), np.arange(3, dtype=">f8")]
    heap = b""
    descriptors = {}
    for name, arrays, kind in (("vla_j", vla_j, "P"), ("vla_e", vla_e, "P"), ("vla_a", vla_a, "P"), ("vla_d", vla_d, "Q")):
        rows = []
        for a in arrays:
            data = a if isinstance(a, bytes) else a.tobytes()
            count = len(a)
            rows.append((count, len(heap)))
            heap += data
        descriptors[name] = (kind, rows)
    cols.append(("vla_j", "PJ(10)", [], (be("i4"), (2,)), np.array(descriptors["vla_j"][1], dtype=np.int32)))
    cols.append(("vla_e", "PE(4)", [], (be("i4"), (2,)), np.array(descriptors["vla_e"][1], dtype=np.int32)))
    cols.append(("vla_a", "PA(20)", [], (be("i4"), (2,)), np.array(descriptors["vla_a"][1], dtype=np.int32)))
    cols.append(("vla_d", "QD(3)", [], (be("i8"), (2,)), np.array(descriptors["vla_d"][1], dtype=np.int64)))

    dtype = np.dtype([(name, dt) for name, _, _, dt, _ in cols])
    rows = np.zeros(nrows, dtype=dtype)
    for name, _, _, _, values in cols:
        rows[name] = values
    gap = 16  # THEAP after a gap, as the standard allows
    cards = [
        card("XTENSION", "BINTABLE"),
        card("BITPIX", 8),
        card("NAXIS", 2),
        card("NAXIS1", dtype.itemsize),
        card("NAXIS2", nrows),
        card("PCOUNT", gap + len(heap)),
        card("GCOUNT", 1),
        card("TFIELDS", len(cols)),
    ]
    for k, (name, tform, extra, _, _) in enumerate(cols, start=1):
        cards.append(card(f"TTYPE{k}", name, f"column {name}"))
        cards.append(card(f"TFORM{k}", tform))
        for key, value in extra:
            cards.append(card(f"{key}{k}", value))
    cards.append(card("THEAP", dtype.itemsize * nrows + gap))
    cards.append(card("EXTNAME", "EVERY_TFORM"))
    table = header_bytes(cards) + pad(rows.tobytes() + b"\0" * gap + heap)

    # ASCII table: fixed-width text fields.
    lines = [
        (b"NGC 1     ", b"   12", b"   1.50", b"  1.2500E+03", b"  -2.5000000000D-02"),
        (b"M 31      ", b"  -45", b"  -0.25", b" -3.0000E-01", b"   1.0000000000D+10"),
        (b"          ", b"     ", b"    NaN", b"  0.0000E+00", b"   0.0000000000D+00"),
        (b"last row  ", b"99999", b"     17", b"  5.0000E-05", b"  -1.0000000000D+00"),
    ]
    widths = [10, 5, 7, 12, 19]
    row_bytes = sum(widths) + len(widths) - 1
    data = b"".join(b" ".join(fields) for fields in lines)
    assert len(data) == row_bytes * len(lines)
    acards = [
        card("XTENSION", "TABLE"),
        card("BITPIX", 8),
        card("NAXIS", 2),
        card("NAXIS1", row_bytes),
        card("NAXIS2", len(lines)),
        card("PCOUNT", 0),
        card("GCOUNT", 1),
        card("TFIELDS", 5),
    ]
    start = 1
    for k, (name, form, width) in enumerate(
        zip(["obj", "n", "f", "e", "d"], ["A10", "I5", "F7.2", "E12.4", "D19.10"], widths), start=1
    ):
        acards += [card(f"TTYPE{k}", name), card(f"TFORM{k}", form), card(f"TBCOL{k}", start)]
        start += width + 1
    acards.append(card("EXTNAME", "ASCII"))
    ascii_table = header_bytes(acards) + pad(data + b" " * (-len(data) % 2880))[: len(pad(data))]

    path = OUT / "tables.fits"
    path.write_bytes(header_bytes([card("SIMPLE", True), card("BITPIX", 8), card("NAXIS", 0), card("EXTEND", True)]) + table + ascii_table)

    expected = {}
    with fits.open(path) as f:
        data = f[1].data
        raw = data.base  # stored values before TSCAL/TZERO/logical conversion
        cols_out = {}
        for k, (name, tform, extra, _, _) in enumerate(cols, start=1):
            col = f[1].columns[name]
            v = data[name]
            entry = {"tform": tform}
            if tform.startswith(("P", "Q")):
                if tform.startswith("PA"):
                    # astropy gives PA rows as arrays of characters, spaces as ''.
                    entry["values"] = ["".join(ch if ch else " " for ch in x).rstrip() for x in v]
                else:
                    entry["values"] = [flat(x) for x in v]
                entry["dtype"] = np.asarray(v[0]).dtype.name
            else:
                arr = np.asarray(v)
                entry["dtype"] = arr.dtype.name
                entry["shape"] = list(arr.shape[1:])
                # Strings through the chararray astropy returns (trailing spaces stripped).
                entry["values"] = flat(arr) if arr.dtype.kind not in "SU" else [str(s) for s in v.ravel()]
            if col.null is not None:
                entry["nulls"] = [int(x) for x in (np.asarray(raw[name]) == col.null).ravel()]
            if tform == "L":
                entry["nulls"] = [int(x == 0) for x in np.asarray(raw[name]).view(np.uint8).ravel()]
            if col.unit:
                entry["unit"] = col.unit
            cols_out[name] = entry
        expected["EVERY_TFORM"] = {"rows": len(data), "columns": cols_out}
        adata = f[2].data
        expected["ASCII"] = {
            "rows": len(adata),
            "columns": {
                name: {"dtype": adata[name].dtype.name, "values": flat(adata[name]) if adata[name].dtype.kind not in "US" else [str(s) for s in adata[name]]}
                for name in adata.names
            },
        }
    write_json("tables.fits.expected.json", expected)
    gzip_copy(path)


# ---------------------------------------------------------------------------------------------
# Header conventions


def make_header():
    cards = [
        card("SIMPLE", True),
        card("BITPIX", 8),
        card("NAXIS", 0),
        card("EXTEND", True),
        "INTVAL  =                   42 / an integer",
        "BIGINT  =  4611686018427387905 / 2^62 + 1",
        "NEGBIG  = -9223372036854775808",
        "DEXP    =             1.25D-03 / Fortran exponent",
        "FLOAT   =                 -0.5",
        "EXPFLT  =              6.02E23",
        "LOGT    =                    T",
        "LOGF    =                    F",
        "UNDEF   =                      / no value",
        "QUOTE   = 'it''s here'         / escaped quote",
        "EMPTY   = ''",
        "SPACES  = '  lead and trail   '",
        "CPLX    = (1.5, -2.0)          / complex",
        "COMMENT first comment line",
        "HISTORY a history record",
        "        blank keyword text",
        "DUP     =                    1",
        "DUP     =                    2 / last wins",
        "HIERARCH ESO DET CHIP NAME = 'CCD-42' / hierarch string",
        "HIERARCH ESO TEL AIRM START = 1.234 / hierarch float",
        "LONGSTR = 'This is a long string value that is continued over several cards &'",
        "CONTINUE  'using the CONTINUE convention &'",
        "CONTINUE  'and an end.' / long comment",
        "SLASH   = 'a/b'                / slash inside a string",
        "NOSPACE ='no space after equals'",
    ]
    path = OUT / "header.fits"
    path.write_bytes(header_bytes(cards))
    with fits.open(path) as f:
        h = f[0].header
        out = []
        for c in h.cards:
            v = c.value
            if isinstance(v, complex):
                value = {"re": repr(v.real), "im": repr(v.imag)}
            elif isinstance(v, bool):
                value = v
            elif isinstance(v, int):
                value = str(v)
            elif isinstance(v, float):
                value = repr(v)
            elif isinstance(v, fits.card.Undefined):
                value = None
            else:
                value = str(v)
            out.append({"keyword": c.keyword, "value": value, "comment": c.comment})
    write_json("header.fits.expected.json", out)


# ---------------------------------------------------------------------------------------------
# WCS


def make_wcs():
    base = {"NAXIS": 2, "NAXIS1": 100, "NAXIS2": 80, "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN"}
    cases = {
        "cd": dict(CRPIX1=50.5, CRPIX2=40.2, CRVAL1=150.1, CRVAL2=2.2, CD1_1=-7.3e-5, CD1_2=1.2e-6, CD2_1=1.1e-6, CD2_2=7.3e-5),
        "pc": dict(CRPIX1=12.0, CRPIX2=70.0, CRVAL1=34.5, CRVAL2=-45.25, CDELT1=-0.01, CDELT2=0.012, PC1_1=0.8660254037844387, PC1_2=-0.5, PC2_1=0.5, PC2_2=0.8660254037844387),
        "crota": dict(CRPIX1=1.0, CRPIX2=1.0, CRVAL1=270.0, CRVAL2=66.5, CDELT1=-0.002, CDELT2=0.002, CROTA2=30.0),
        "pole": dict(CRPIX1=50.0, CRPIX2=40.0, CRVAL1=10.0, CRVAL2=89.95, CD1_1=-0.002, CD1_2=0.0, CD2_1=0.0, CD2_2=0.002),
        "south_pole": dict(CRPIX1=50.0, CRPIX2=40.0, CRVAL1=200.0, CRVAL2=-90.0, CD1_1=-0.001, CD1_2=0.0, CD2_1=0.0, CD2_2=0.001),
        "ra0": dict(CRPIX1=50.0, CRPIX2=40.0, CRVAL1=0.05, CRVAL2=-10.0, CD1_1=-0.001, CD1_2=0.0, CD2_1=0.0, CD2_2=0.001, RADESYS="ICRS"),
        "lonpole": dict(CRPIX1=30.0, CRPIX2=30.0, CRVAL1=120.0, CRVAL2=30.0, CD1_1=-0.01, CD1_2=0.0, CD2_1=0.0, CD2_2=0.01, LONPOLE=170.0),
        "latfirst": dict(CTYPE1="DEC--TAN", CTYPE2="RA---TAN", CRPIX1=40.0, CRPIX2=50.0, CRVAL1=-30.0, CRVAL2=45.0, CD1_1=0.001, CD1_2=0.0001, CD2_1=-0.0002, CD2_2=-0.001),
    }
    xs, ys = np.meshgrid(np.linspace(-20, 119, 7), np.linspace(-10, 99, 6))
    pixels = np.stack([xs.ravel(), ys.ravel()], axis=1)
    out = {}
    for name, kw in cases.items():
        h = fits.Header()
        for k, v in {**base, **kw}.items():
            h[k] = v
        w = WCS(h)
        sky = w.wcs_pix2world(pixels, 0)
        # Sky points: the grid's sky positions nudged, to test sky → pixel independently.
        probe = sky + np.array([1e-4, -1e-4])
        probe[:, 1] = np.clip(probe[:, 1], -90, 90)
        pix = w.wcs_world2pix(probe, 0)
        out[name] = {
            "cards": [c.image for c in h.cards],
            "pixels0": [[repr(float(a)), repr(float(b))] for a, b in pixels],
            "sky": [[repr(float(a)), repr(float(b))] for a, b in sky],
            "probe": [[repr(float(a)), repr(float(b))] for a, b in probe],
            "probe_pixels0": [[repr(float(a)), repr(float(b))] for a, b in pix],
        }
    # Cutouts with astropy's Cutout2D (partial mode, NaN fill) on the "cd" WCS.
    h = fits.Header()
    for k, v in {**base, **cases["cd"]}.items():
        h[k] = v
    w = WCS(h)
    image = np.arange(80 * 100, dtype=np.float32).reshape(80, 100)
    cutouts = []
    for x, y, size in ((50.2, 40.7, 5), (3.6, 2.2, 7), (99.4, 79.5, 6), (10.01, 70.49, 4), (-1.2, 40.0, 5)):
        ra, dec = w.wcs_pix2world([[x, y]], 0)[0]
        c = Cutout2D(image, (x, y), size, wcs=w, mode="partial", fill_value=np.nan)
        cutouts.append(
            {
                "ra": repr(float(ra)),
                "dec": repr(float(dec)),
                "size": size,
                "data": flat(c.data),
                "crpix": [repr(float(v)) for v in c.wcs.wcs.crpix],
                "origin_original": [int(v) for v in c.origin_original],
            }
        )
    out["cutouts"] = {"image_shape": [80, 100], "wcs": "cd", "cases": cutouts}
    write_json("wcs.expected.json", out)


# ---------------------------------------------------------------------------------------------
# ECSV and CSV written by astropy.table


def column_expected(col):
    arr = np.asarray(col)
    entry = {"dtype": arr.dtype.name if arr.dtype.kind not in "US" else "string", "shape": list(arr.shape[1:])}
    if arr.dtype.kind in "US":
        entry["values"] = [str(s) for s in arr.ravel()]
    else:
        entry["values"] = flat(arr)
    mask = getattr(col, "mask", None)
    if mask is not None and np.any(mask):
        entry["nulls"] = [int(m) for m in np.asarray(mask).ravel()]
    if col.unit is not None:
        entry["unit"] = str(col.unit)
    if col.description:
        entry["description"] = col.description
    return entry


def make_ecsv():
    t = Table()
    t["b"] = np.array([True, False, True, True])
    t["i8"] = np.array([-128, 0, 5, 127], dtype=np.int8)
    t["i16"] = np.array([-32768, 1, 2, 32767], dtype=np.int16)
    t["i32"] = np.array([-(2**31), 1, 2, 2**31 - 1], dtype=np.int32)
    t["i64"] = np.array([-(2**63), 2**62 + 1, 9007199254740993, 2**63 - 1], dtype=np.int64)
    t["u8"] = np.array([0, 1, 2, 255], dtype=np.uint8)
    t["u16"] = np.array([0, 1, 2, 65535], dtype=np.uint16)
    t["u32"] = np.array([0, 1, 2, 2**32 - 1], dtype=np.uint32)
    t["u64"] = np.array([0, 1, 2**53 + 1, 2**64 - 1], dtype=np.uint64)
    t["f32"] = np.array([0.1, np.nan, np.inf, -3.4e38], dtype=np.float32)
    t["f64"] = np.array([0.1, -0.0, 5e-324, np.pi])
    t["f64"].unit = "deg"
    t["f64"].description = "an angle: with a colon, 'quotes' and a long text that PyYAML folds over more than one header line"
    t["f64"].format = "%.6f"
    t["s"] = ["plain", "with space", 'quote " here', "comma, here"]
    t["s"].description = "strings"
    t["flux"] = np.arange(24, dtype=np.float32).reshape(4, 2, 3) / 7
    t["flux"].unit = "erg / (Angstrom s cm2)"
    t["ids"] = np.array([[1, 2**62], [3, 4], [5, 6], [7, -8]], dtype=np.int64)
    t["masked"] = MaskedColumn([1.5, 2.5, 3.5, 4.5], mask=[False, True, False, True])
    t["masked_int"] = MaskedColumn(np.array([1, 2, 3, 4], dtype=np.int32), mask=[True, False, False, False])
    t["masked_str"] = MaskedColumn(["a", "b", "c", "d"], mask=[False, False, True, False])
    t["masked_vec"] = MaskedColumn(np.arange(8.0).reshape(4, 2), mask=[[0, 1], [0, 0], [1, 1], [0, 0]])
    t.meta["survey"] = "synthetic"
    t.meta["version"] = 3
    t.meta["bands"] = ["g", "r", "i"]
    t.meta["nested"] = {"a": 1.5, "b": [1, 2], "yes": "no"}
    t.write(OUT / "all_types.ecsv", overwrite=True)
    t.write(OUT / "all_types_comma.ecsv", overwrite=True, delimiter=",")
    back = Table.read(OUT / "all_types.ecsv")
    write_json(
        "all_types.ecsv.expected.json",
        {"meta": {k: v for k, v in back.meta.items()}, "columns": {n: column_expected(back[n]) for n in back.colnames}},
    )

    c = Table()
    c["id"] = np.array([2**62 + 1, -5, 9007199254740993], dtype=np.int64)
    c["ra"] = np.array([150.123456789012, 0.1, 359.9999999999])
    c["ok"] = np.array([True, False, True])
    c["name"] = ["a, b", 'say "hi"', "multi\nline"]
    c["mag"] = MaskedColumn([21.5, 0.0, np.nan], mask=[False, True, False])
    c.write(OUT / "catalog.csv", format="ascii.csv", overwrite=True)
    write_json(
        "catalog.csv.expected.json",
        {
            "columns": {
                "id": {"dtype": "int64", "values": flat(c["id"])},
                "ra": {"dtype": "float64", "values": flat(c["ra"])},
                "ok": {"dtype": "bool", "values": flat(c["ok"])},
                "name": {"dtype": "string", "values": list(c["name"])},
                "mag": {"dtype": "float64", "values": [None if m else num(v) for v, m in zip(c["mag"].data, c["mag"].mask)], "nulls": [1 if m else 0 for m in c["mag"].mask]},
            }
        },
    )


make_images()
make_tables()
make_header()
make_wcs()
make_ecsv()
write_json("versions.json", {"astropy": astropy.__version__, "numpy": np.__version__})
print("wrote", sorted(p.name for p in OUT.iterdir()))
