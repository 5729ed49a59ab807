#!/usr/bin/env python3
"""What Keel's data file would weigh under other layouts: a model, not engine code.

Issue 20 aims at a file no more than 1.1x SQLite's after the bench's 1M-record load
(100-byte records, 8-byte key). Keel keeps, as Btrieve does, records in fixed-length
data-page slots (each with an 8-byte insertion serial) and key 0 in its own B-tree
(22-byte leaf entries: key, serial, record address); SQLite's table is clustered on
its rowid. This script rebuilds both loads' page counts (ascending keys: leaves filled
to the brim by the append path; random order: leaves split in half) for today's layout
and for candidate ones, so the trade can be judged before any format changes:

- a narrow serial in each slot (3 or 4 bytes: an offset from an 8-byte base serial the
  page keeps after its used count);
- key-0 leaves stored column by column with each column's common prefix once per leaf
  (key, serial, page and slot of the address), the rest of each entry after it;
- no serial in the entries of a key that admits no duplicates.

Today's rows reproduce the bench's measured sizes (127.3 / 136.5 MiB) to 0.2 MiB;
SQLite's are the bench's (97.9 / 109.7). The column-prefix row is now the engine's
`compact_leaves` layout (the bench's file since 2026-12-03): measured 111.8 / 117.0 MiB,
the model's 1.14x / 1.07x. Narrow slot serials are the engine's `slot_serial_bytes`
(`serialbytes=N`); the bench's file takes 3 bytes since: measured 106.4 / 111.6 MiB
(1.09x / 1.02x), and 109.0 / 114.3 with 4. Takes about a minute and a half.

    python3 scripts/file_size_model.py
"""
import bisect
import random

N = 1_000_000
PAGE = 4096
HEADER = 32  # page header; node and data pages add 8 bytes of their own
RECORD = 100
SQLITE_MIB = {"ascending": 97.9, "random": 109.7}
COLUMNS = [("key", 8), ("serial", 8), ("page", 4), ("slot", 2)]


def data_layout(serial_bytes):
    """Slots a data page holds and the pages 1M records take (engine/src/page/data.rs)."""
    room = PAGE - (HEADER + 8) - (8 if 0 < serial_bytes < 8 else 0)  # the base serial
    slot = RECORD + serial_bytes
    n = room * 8 // (8 * slot + 1)
    while n > 0 and (n + 7) // 8 + n * slot > room:
        n -= 1
    return n, -(-N // n)


def common_prefix(lo, hi, width):
    """Leading bytes two big-endian integers of `width` bytes share: for a set of such
    integers, the prefix they all share is that of its least and greatest."""
    diff = lo ^ hi
    return width if diff == 0 else width - (diff.bit_length() + 7) // 8


def leaf_bytes(n, lo, hi, cols, compress):
    if not compress:
        return n * sum(w for _, w in cols)
    total = 0
    for j, (_, w) in enumerate(cols):
        p = common_prefix(lo[j], hi[j], w)
        total += 1 + p + n * (w - p)  # prefix length, prefix, suffixes
    return total


def load(order, serial_bytes, compress, entry_serial):
    per_page, data_pages = data_layout(serial_bytes)
    keys = list(range(N))
    if order == "random":
        random.Random(7).shuffle(keys)
    cols = [c for c in COLUMNS if entry_serial or c[0] != "serial"]
    room = PAGE - (HEADER + 8)
    # A leaf: its sorted keys, its rows, each column's least and greatest value.
    leaves = [[[], [], [1 << 64] * len(cols), [0] * len(cols)]]
    firsts = [0]
    for i, key in enumerate(keys):
        full = {"key": key, "serial": i + 1, "page": 3 + i // per_page, "slot": i % per_page}
        row = tuple(full[c] for c, _ in cols)
        at = max(0, bisect.bisect_right(firsts, key) - 1)
        leaf = leaves[at]
        lo = [min(a, b) for a, b in zip(leaf[2], row)]
        hi = [max(a, b) for a, b in zip(leaf[3], row)]
        if leaf[1] and leaf_bytes(len(leaf[1]) + 1, lo, hi, cols, compress) > room:
            if key > leaf[0][-1]:  # the append path starts a new rightmost leaf
                leaves.insert(at + 1, [[key], [row], list(row), list(row)])
                firsts.insert(at + 1, key)
                continue
            half = len(leaf[0]) // 2
            right = [leaf[0][half:], leaf[1][half:], None, None]
            leaf[0], leaf[1] = leaf[0][:half], leaf[1][:half]
            for part in (leaf, right):
                part[2] = [min(r[j] for r in part[1]) for j in range(len(cols))]
                part[3] = [max(r[j] for r in part[1]) for j in range(len(cols))]
            leaves.insert(at + 1, right)
            firsts.insert(at + 1, right[0][0])
            if key >= right[0][0]:
                leaf = right
        pos = bisect.bisect_left(leaf[0], key)
        leaf[0].insert(pos, key)
        leaf[1].insert(pos, row)
        leaf[2] = [min(a, b) for a, b in zip(leaf[2], row)]
        leaf[3] = [max(a, b) for a, b in zip(leaf[3], row)]
    # Internal nodes: separator (key, and serial if entries carry it) and child page.
    per_node = room // (8 + (8 if entry_serial else 0) + 4)
    if order == "random":
        per_node = int(per_node * 0.69)  # half-split nodes under random inserts
    internal, level = 0, len(leaves)
    while level > 1:
        level = -(-level // per_node)
        internal += level
    pages = 2 + data_pages + len(leaves) + internal  # two FCRs, data, leaves, nodes
    pages += -(-pages * 4 // room)  # the page allocation table
    return pages * PAGE / 2**20, data_pages, len(leaves)


LAYOUTS = [
    ("today: 8-byte slot serial, 22-byte entries", 8, False, True),
    ("8-byte slot serial, column-prefix leaves", 8, True, True),
    ("4-byte slot serial, column-prefix leaves", 4, True, True),
    ("3-byte slot serial, column-prefix leaves", 3, True, True),
    ("... and no serial in unique-key entries", 4, True, False),
    ("no slot serial, column-prefix leaves, no entry serial", 0, True, False),
]

if __name__ == "__main__":
    for name, serial_bytes, compress, entry_serial in LAYOUTS:
        for order in ("ascending", "random"):
            mib, data, leaves = load(order, serial_bytes, compress, entry_serial)
            print(
                f"{name:55} {order:9} {mib:6.1f} MiB {mib / SQLITE_MIB[order]:.2f}x SQLite"
                f"  ({data} data pages, {leaves} leaves)",
                flush=True,
            )
