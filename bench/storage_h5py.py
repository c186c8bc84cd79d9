#!/usr/bin/python3
"""h5py side of bench/storage.ts (run with Debian's /usr/bin/python3, which has python3-h5py).

Usage: storage_h5py.py <command> <json-args>; prints one JSON object on the last stdout line.
Timing happens here, with time.perf_counter, so interpreter start-up and imports are never timed.

Commands:
  info        -> h5py / HDF5 / numpy versions
  write       -> write `rows` image rows in batches from a pool of pre-generated rows (the same
                 bytes bench/storage.ts wrote to `pool`), same chunks and filter as AstroPile;
                 timed from h5py.File(..., "w") to fsync of the file and its directory.
  read_rows   -> `rows` (a JSON list) read one at a time with ds[i], then ds[sorted] (fancy);
                 one untimed warm-up pass, then best of `repeats` (wall and CPU seconds).
  read_cols   -> f["ra"][:], f["dec"][:]; one untimed warm-up pass, then best of `repeats`.
  codec       -> zlib level 4 alone on the pool rows, and h5py gzip vs none on them (CPU seconds).
"""

import hashlib
import json
import os
import resource
import sys
import time

import h5py
import numpy as np


def fsync_file_and_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def best_of(fn, repeats):
    """One untimed warm-up call, then the best of `repeats`: (wall seconds, CPU seconds, result).
    The CPU minimum (time.process_time) is less sensitive to other load on the machine."""
    result = fn()
    wall = cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu, result


def cmd_info(_args):
    return {"h5py": h5py.version.version, "hdf5": h5py.version.hdf5_version, "numpy": np.__version__}


def cmd_write(a):
    shape = tuple(a["shape"])
    pool = np.fromfile(a["pool"], dtype="<f4").reshape((-1,) + shape)
    rows, batch = a["rows"], a["batch"]
    pool_batches = pool.shape[0] // batch
    # The batches are views of the pool: no copy and no generation inside the timed region.
    batches = [pool[k * batch : (k + 1) * batch] for k in range(pool_batches)]
    kwargs = {}
    if a["compression"] == "gzip":
        kwargs = {"compression": "gzip", "compression_opts": a["level"]}
    c0 = time.process_time()
    t0 = time.perf_counter()
    f = h5py.File(a["path"], "w")
    ds = f.create_dataset(
        "image",
        shape=(0,) + shape,
        maxshape=(None,) + shape,
        chunks=tuple(a["chunks"]),
        dtype="<f4",
        **kwargs,
    )
    start = 0
    k = 0
    while start < rows:
        n = min(batch, rows - start)
        data = batches[k % pool_batches][:n]
        ds.resize((start + n,) + shape)
        ds[start : start + n] = data
        start += n
        k += 1
    t1 = time.perf_counter()
    f.close()
    t2 = time.perf_counter()
    fsync_file_and_dir(a["path"])
    t3 = time.perf_counter()
    return {
        "seconds": t3 - t0,
        "cpu_seconds": time.process_time() - c0,
        "close_seconds": t2 - t1,
        "fsync_seconds": t3 - t2,
        "bytes": os.path.getsize(a["path"]),
        "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def cmd_read_rows(a):
    rows = a["rows"]
    ordered = sorted(rows)
    repeats = a["repeats"]
    with h5py.File(a["path"], "r") as f:
        ds = f[a["column"]]

        single, single_cpu, out = best_of(lambda: [ds[i] for i in rows], repeats)
        digest = hashlib.sha256(b"".join(np.ascontiguousarray(x).tobytes() for x in out))
        fancy, fancy_cpu, got = best_of(lambda: ds[ordered], repeats)
        # Back to the requested order, to check it holds the same bytes as the one-at-a-time read.
        position = {r: i for i, r in enumerate(ordered)}
        fancy_digest = hashlib.sha256(
            np.ascontiguousarray(got[[position[r] for r in rows]]).tobytes()
        )
    return {
        "single_seconds": single,
        "single_cpu": single_cpu,
        "fancy_seconds": fancy,
        "fancy_cpu": fancy_cpu,
        "sha256": digest.hexdigest(),
        "fancy_sha256": fancy_digest.hexdigest(),
    }


def cmd_read_cols(a):
    repeats = a["repeats"]
    with h5py.File(a["path"], "r") as f:

        wall, cpu, (ra, dec) = best_of(lambda: (f["ra"][:], f["dec"][:]), repeats)
    digest = hashlib.sha256(ra.tobytes())
    digest.update(dec.tobytes())
    return {"seconds": wall, "cpu": cpu, "sha256": digest.hexdigest()}


def cmd_codec(a):
    """zlib alone on the pool rows (one row = one chunk per call), then the same rows through
    h5py with and without gzip (no fsync): the difference is what HDF5's gzip filter costs.
    All in CPU seconds (time.process_time), so other load on the machine does not blur it."""
    import zlib

    shape = tuple(a["shape"])
    level = a["level"]
    pool = np.fromfile(a["pool"], dtype="<f4").reshape((-1,) + shape)
    rows = pool.shape[0]
    raw = [pool[i].tobytes() for i in range(rows)]
    for r in raw[:8]:
        zlib.decompress(zlib.compress(r, level))
    t0 = time.process_time()
    compressed = [zlib.compress(r, level) for r in raw]
    deflate = time.process_time() - t0
    t0 = time.process_time()
    for c in compressed:
        zlib.decompress(c)
    inflate = time.process_time() - t0
    out = {
        "zlib_version": zlib.ZLIB_RUNTIME_VERSION,
        "deflate_seconds": deflate,
        "inflate_seconds": inflate,
    }
    batch = a["batch"]
    for compression in ("none", "gzip"):
        path = os.path.join(a["dir"], f"codec-{compression}-h5py.hdf5")
        kwargs = {"compression": "gzip", "compression_opts": level} if compression == "gzip" else {}
        t0 = time.process_time()
        with h5py.File(path, "w") as f:
            ds = f.create_dataset(
                "image",
                shape=(0,) + shape,
                maxshape=(None,) + shape,
                chunks=tuple(a["chunks"]),
                dtype="<f4",
                **kwargs,
            )
            for start in range(0, rows, batch):
                n = min(batch, rows - start)
                ds.resize((start + n,) + shape)
                ds[start : start + n] = pool[start : start + n]
        out[f"write_{compression}_seconds"] = time.process_time() - t0
        with h5py.File(path, "r") as f:
            ds = f["image"]
            _, cpu, _ = best_of(lambda: ds[:], a["repeats"])
        out[f"read_{compression}_seconds"] = cpu
        os.remove(path)
    return out


COMMANDS = {
    "codec": cmd_codec,
    "info": cmd_info,
    "write": cmd_write,
    "read_rows": cmd_read_rows,
    "read_cols": cmd_read_cols,
}

if __name__ == "__main__":
    command = sys.argv[1]
    args = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    if "rows_file" in args:
        with open(args.pop("rows_file")) as fh:
            args["rows"] = json.load(fh)
    print(json.dumps(COMMANDS[command](args)))
