# SPDX-License-Identifier: MIT
"""Seed inputs for fuzz_decoder: small binlogs whose TABLE_MAP carries every
optional metadata field (1 SIGNEDNESS .. 12 COLUMN_VISIBILITY), for MySQL 8
and for MariaDB, in several column orders, each followed by a WRITE_ROWS
event with one row for the map.  The public fixtures have no map with
binlog_row_metadata = FULL, so without these the fuzzer would rarely reach
the optional metadata parser.

    python3 fuzz/seed_tablemaps.py OUTDIR

Writes OUTDIR/tm-<flavour>-<n>; the same files on every run (fixed seed).
"""
import os
import random
import struct
import sys
import zlib

MAGIC = b"\xfebin"


def lenenc(n):
    if n < 251:
        return bytes([n])
    if n < 65536:
        return b"\xfc" + struct.pack("<H", n)
    return b"\xfd" + struct.pack("<I", n)[:3]


def event(typ, body, pos):
    size = 19 + len(body) + 4
    head = struct.pack("<IBIIIH", 1700000000, typ, 1, size, pos + size, 0)
    ev = head + body
    return ev + struct.pack("<I", zlib.crc32(ev) & 0xFFFFFFFF)


def fde(mariadb):
    ver = (b"10.11.6-MariaDB-log" if mariadb else b"8.0.36").ljust(50, b"\0")
    ntypes = 168 if mariadb else 41
    post = bytes(8 if t in (19, 23, 24, 25, 30, 31, 32) else 84 if t == 15 else 0
                 for t in range(1, ntypes + 1))
    return struct.pack("<H", 4) + ver + struct.pack("<I", 0) + b"\x13" + post + b"\x01"


# (type byte, type metadata bytes, row bytes, real type for STRING)
def columns(mariadb):
    cols = [
        (1, b"", b"\x80", None),                       # TINYINT (unsigned 128)
        (13, b"", b"\x7d", None),                      # YEAR 2025
        (2, b"", b"\xfe\xff", None),                   # SMALLINT -2
        (246, b"\x14\x04", None, None),                # DECIMAL(20,4): NULL
        (9, b"", b"\xff\xff\x7f", None),               # MEDIUMINT
        (4, b"\x04", struct.pack("<f", 1.5), None),    # FLOAT
        (16, b"\x03\x01", b"\x05\x01", None),          # BIT(11)
        (3, b"", b"\x01\x00\x00\x80", None),           # INT
        (5, b"\x08", struct.pack("<d", -0.25), None),  # DOUBLE
        (255, b"\x04", None, None),                    # GEOMETRY: NULL
        (15, struct.pack("<H", 40), b"\x04caf\xe9", None),        # VARCHAR latin1
        (252, b"\x02", b"\x04\x00\x00\xe9\x00a", None),          # TEXT ucs2
        (254, b"\xfe\x28", b"\x03abc", 254),                     # CHAR
        (254, b"\xf7\x01", b"\x02", 247),                        # ENUM
        (254, b"\xf8\x01", b"\x03", 248),                        # SET
        (8, b"", b"\xff" * 8, None),                   # BIGINT UNSIGNED
        (18, b"\x03", None, None),                     # DATETIME(3): NULL
        (19, b"\x06", None, None),                     # TIME(6): NULL
        (17, b"\x00", b"\x65\x00\x00\x00", None),      # TIMESTAMP
        (10, b"", b"\x21\xb6\x0f", None),              # DATE
    ]
    if mariadb:
        cols += [(141, struct.pack("<H", 100), b"\x02\x00a", None),   # VARCHAR COMPRESSED
                 (140, b"\x02", b"\x02\x00\x00a", None)]              # BLOB COMPRESSED
    else:
        cols += [(245, b"\x04", b"\x02\x00\x00\x00\x04\x00", None)]   # JSON null
    return cols


def optional(cols, mariadb, rng):
    def field(t, b):
        return bytes([t]) + lenenc(len(b)) + b
    signed = [c for c in cols if c[0] in (1, 2, 9, 3, 8, 13, 4, 5, 246)]
    bits = bytearray((len(signed) + 7) // 8)
    for k, c in enumerate(signed):
        if c[0] in (1, 8, 13):
            bits[k // 8] |= 0x80 >> (k % 8)
    text = [c for c in cols if (c[0] == 254 and c[3] == 254) or c[0] in (15, 252)
            or (mariadb and c[0] in (255, 140, 141))]
    cs = [rng.choice([8, 33, 35, 45, 46, 63, 224, 2305]) for _ in text]
    es = [c for c in cols if c[3] in (247, 248)]
    out = field(1, bytes(bits))
    if rng.random() < 0.5:
        out += field(3, b"".join(lenenc(x) for x in cs))
    else:
        out += field(2, lenenc(cs[0]) + b"".join(lenenc(i) + lenenc(x) for i, x in enumerate(cs) if x != cs[0]))
    out += field(4, b"".join(lenenc(len(n)) + n for n in (b"c%d" % i for i in range(len(cols)))))
    for t, want in ((5, 248), (6, 247)):
        out += field(t, b"".join(lenenc(2) + lenenc(1) + b"x" + lenenc(2) + b"yz" for c in cols if c[3] == want))
    out += field(7, b"".join(lenenc(rng.randint(0, 7)) for c in cols if c[0] == 255))
    out += field(8, lenenc(0) + lenenc(len(cols) - 1))
    out += field(9, lenenc(2) + lenenc(3))
    out += field(10, lenenc(45))
    out += field(11, b"".join(lenenc(rng.choice([8, 45, 101])) for _ in es))
    if not mariadb:
        out += field(12, bytes([0xFF] * ((len(cols) + 7) // 8)))
    return out


def binlog(mariadb, cols, rng):
    ncols = len(cols)
    tm = struct.pack("<Q", 42)[:6] + b"\x01\x00" + b"\x02db\x00" + b"\x01t\x00" + lenenc(ncols)
    tm += bytes(c[0] for c in cols)
    meta = b"".join(c[1] for c in cols)
    tm += lenenc(len(meta)) + meta + b"\xff" * ((ncols + 7) // 8)
    tm += optional(cols, mariadb, rng)
    rows = struct.pack("<Q", 42)[:6] + b"\x01\x00"
    if not mariadb:
        rows += b"\x02\x00"                 # v2: extra data length 2 (none)
    rows += lenenc(ncols) + b"\xff" * ((ncols + 7) // 8)
    nulls = bytearray((ncols + 7) // 8)
    vals = b""
    for i, c in enumerate(cols):
        if c[2] is None:
            nulls[i // 8] |= 1 << (i % 8)
        else:
            vals += c[2]
    rows += bytes(nulls) + vals
    out, pos = MAGIC, 4
    for typ, body in ((15, fde(mariadb)), (19, tm), (23 if mariadb else 30, rows)):
        ev = event(typ, body, pos)
        out += ev
        pos += len(ev)
    return out


def main():
    outdir = sys.argv[1]
    rng = random.Random(13)
    for mariadb in (False, True):
        base = columns(mariadb)
        for n in range(6):
            cols = list(base)
            if n:
                rng.shuffle(cols)
            name = "tm-%s-%d" % ("mariadb" if mariadb else "mysql8", n)
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(binlog(mariadb, cols, rng))


if __name__ == "__main__":
    main()
