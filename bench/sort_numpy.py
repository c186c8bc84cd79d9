"""Reference of `npm run bench sort`: numpy's stable argsort of int64 keys, then every column
taken in that order (what an external sort's output holds), on the rows AstroPile sorts.

usage: sort_numpy.py ROWS.bin ROWS ROUNDS
ROWS.bin: int64 keys, then uint32 file ordinals, then uint32 rows (little-endian).
Reading the file is not timed; best of ROUNDS. Prints one JSON line.
"""

import json
import sys
import time

import numpy as np

path, rows, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
raw = np.fromfile(path, dtype=np.uint8)
keys = raw[: 8 * rows].view("<i8")
files = raw[8 * rows : 12 * rows].view("<u4")
rows_ = raw[12 * rows : 16 * rows].view("<u4")
best = float("inf")
checksum = 0
for _ in range(rounds):
    t = time.perf_counter()
    order = np.argsort(keys, kind="stable")
    out = (keys[order], files[order], rows_[order])
    best = min(best, time.perf_counter() - t)
    checksum = int(out[1][:1000].sum()) + int(out[2][-1000:].sum())
print(json.dumps({"seconds": best, "numpy": np.__version__, "checksum": checksum}))
