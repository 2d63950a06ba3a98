#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Seeded benchmark workload for rowcast: SQL on standard output.

    workload.py schema                  CREATE TABLE statements
    workload.py changes --rows N [--seed S]
        N row changes on rctest.wide: 60 % inserts, 25 % updates,
        15 % deletes, in multi-row statements grouped into transactions.
        Every UPDATE changes every row it names and every DELETE names
        only live rows, so the binlog holds exactly N row events.
        Prints "insert=I update=U delete=D transactions=T" on stderr.
    workload.py bigtx --rows N          one transaction of N inserts into
                                        rctest.big (server-side, from the
                                        sequence engine)

Pipe the output into the `mariadb` client.  The same seed gives the same
SQL byte for byte.
"""
import argparse
import json
import random
import sys

COLUMNS = """
  id        BIGINT NOT NULL PRIMARY KEY,
  c_tiny    TINYINT NOT NULL,
  c_small   SMALLINT UNSIGNED NOT NULL,
  c_med     MEDIUMINT,
  c_int     INT NOT NULL,
  c_big     BIGINT UNSIGNED NOT NULL,
  c_dec     DECIMAL(18,4) NOT NULL,
  c_dec2    DECIMAL(40,12),
  c_float   FLOAT,
  c_double  DOUBLE NOT NULL,
  c_date    DATE,
  c_dt      DATETIME(6) NOT NULL,
  c_ts      TIMESTAMP(6) NULL DEFAULT NULL,
  c_time    TIME(6),
  c_year    YEAR,
  c_char    CHAR(8) CHARACTER SET latin1,
  c_vc      VARCHAR(64) CHARACTER SET utf8mb4 NOT NULL,
  c_text    TEXT CHARACTER SET utf8mb4,
  c_blob    BLOB,
  c_vbin    VARBINARY(32),
  c_enum    ENUM('new','paid','shipped','returned','cancelled') NOT NULL,
  c_set     SET('red','green','blue','gold','grey'),
  c_bit     BIT(12),
  c_json    JSON
"""

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima "
         "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
         "xray yankee zulu café naïve über straße Ωmega 東京 北京 données "
         "😀 🚀 ŝablono żółw").split()
ENUM = ("new", "paid", "shipped", "returned", "cancelled")
SETV = ("red", "green", "blue", "gold", "grey")

STMT_ROWS = 50      # rows per statement
TRX_STMTS = 4       # statements per transaction (about 200 row changes)


def schema():
    return ("CREATE DATABASE IF NOT EXISTS rctest CHARACTER SET utf8mb4;\n"
            "DROP TABLE IF EXISTS rctest.wide, rctest.big, rctest.lat;\n"
            "CREATE TABLE rctest.wide (%s) ENGINE=InnoDB;\n"
            "CREATE TABLE rctest.big (%s) ENGINE=InnoDB;\n"
            "CREATE TABLE rctest.lat (id BIGINT NOT NULL PRIMARY KEY, t_ns BIGINT NOT NULL,"
            " note VARCHAR(200) NOT NULL) ENGINE=InnoDB;\n" % (COLUMNS, COLUMNS))


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        r = self.r
        # pools keep generation cheap; picks from them are seeded
        self.vc = [" ".join(r.choice(WORDS) for _ in range(r.randint(1, 4)))[:60]
                   for _ in range(4096)]
        self.text = [" ".join(r.choice(WORDS) for _ in range(r.randint(1, 8)))
                     for _ in range(2048)]
        self.blob = ["X'%s'" % bytes(r.getrandbits(8) for _ in range(r.randint(8, 48))).hex()
                     for _ in range(2048)]
        self.vbin = ["X'%s'" % bytes(r.getrandbits(8) for _ in range(r.randint(1, 32))).hex()
                     for _ in range(1024)]
        self.json = []
        for _ in range(2048):
            doc = {"sku": "SKU-%06d" % r.randint(0, 999999),
                   "qty": r.randint(1, 50),
                   "price": round(r.uniform(0, 1000), 2),
                   "tags": [r.choice(WORDS) for _ in range(r.randint(0, 1))],
                   "gift": r.random() < 0.2,
                   "note": None if r.random() < 0.5 else r.choice(WORDS)}
            self.json.append("'%s'" % json.dumps(doc, ensure_ascii=False))

    def row(self, rid):
        r = self.r
        rnd = r.random
        ri = r.randint
        return "(%d,%d,%d,%s,%d,%d,%d.%04d,%s,%s,%r,%s,'%04d-%02d-%02d %02d:%02d:%02d.%06d',%s,%s,%s,%s,'%s',%s,%s,%s,'%s',%s,b'%s',%s)" % (
            rid,
            ri(-128, 127),
            ri(0, 65535),
            "NULL" if rnd() < 0.1 else str(ri(-8388608, 8388607)),
            ri(-1000000000, 1000000000),
            r.getrandbits(64),
            ri(-99999999999999, 99999999999999), ri(0, 9999),
            "NULL" if rnd() < 0.1 else "%d.%012d" % (ri(-10**27, 10**27), ri(0, 10**12 - 1)),
            "NULL" if rnd() < 0.1 else "%.6g" % r.uniform(-1e6, 1e6),
            r.uniform(-1e12, 1e12),
            "NULL" if rnd() < 0.05 else "'%04d-%02d-%02d'" % (ri(1000, 9999), ri(1, 12), ri(1, 28)),
            ri(1900, 2100), ri(1, 12), ri(1, 28), ri(0, 23), ri(0, 59), ri(0, 59), ri(0, 999999),
            "NULL" if rnd() < 0.1 else "'%04d-%02d-%02d %02d:%02d:%02d.%06d'" % (
                ri(1971, 2037), ri(1, 12), ri(1, 28), ri(0, 23), ri(0, 59), ri(0, 59), ri(0, 999999)),
            "NULL" if rnd() < 0.1 else "'%s%02d:%02d:%02d.%06d'" % (
                "-" if rnd() < 0.2 else "", ri(0, 837), ri(0, 59), ri(0, 59), ri(0, 999999)),
            "NULL" if rnd() < 0.1 else str(ri(1901, 2155)),
            "NULL" if rnd() < 0.1 else "'%s'" % "".join(r.choice("ABCDEFGH0123") for _ in range(ri(0, 8))),
            r.choice(self.vc),
            "NULL" if rnd() < 0.1 else "'%s'" % r.choice(self.text),
            "NULL" if rnd() < 0.1 else r.choice(self.blob),
            "NULL" if rnd() < 0.1 else r.choice(self.vbin),
            r.choice(ENUM),
            "NULL" if rnd() < 0.1 else "'%s'" % ",".join(s for s in SETV if rnd() < 0.4),
            format(ri(0, 4095), "b"),
            "NULL" if rnd() < 0.1 else r.choice(self.json),
        )


def changes(n, seed, out):
    g = Gen(seed)
    r = g.r
    n_ins = n * 60 // 100
    n_upd = n * 25 // 100
    n_del = n - n_ins - n_upd
    left = {"insert": n_ins, "update": n_upd, "delete": n_del}
    live = []           # live ids; removal by swap with the last
    pos = {}            # id -> index in live
    next_id = 1
    stmts_in_trx = 0
    trx = 0
    w = out.write
    w("SET NAMES utf8mb4;\nSET time_zone = '+00:00';\nUSE rctest;\n")
    while any(left.values()):
        ops = [op for op, k in left.items() if k > 0]
        weights = [left[op] for op in ops]
        op = r.choices(ops, weights)[0]
        # updates and deletes need live rows: insert first when there are too few
        if op != "insert" and len(live) < STMT_ROWS * 4 and left["insert"] > 0:
            op = "insert"
        k = min(STMT_ROWS, left[op])
        if op != "insert":
            k = min(k, len(live))
            if k == 0:
                raise SystemExit("workload: no live rows left for %s" % op)
        if stmts_in_trx == 0:
            w("BEGIN;\n")
        if op == "insert":
            rows = []
            for _ in range(k):
                rows.append(g.row(next_id))
                pos[next_id] = len(live)
                live.append(next_id)
                next_id += 1
            w("INSERT INTO wide VALUES %s;\n" % ",".join(rows))
        else:
            picks = r.sample(range(len(live)), k)
            ids = [live[i] for i in picks]
            if op == "update":
                w("UPDATE wide SET c_int = c_int + 1, c_dt = '%04d-%02d-%02d 12:00:%02d.%06d', "
                  "c_vc = '%s', c_enum = '%s', c_double = c_double + 0.5 WHERE id IN (%s);\n" % (
                      r.randint(1990, 2030), r.randint(1, 12), r.randint(1, 28), r.randint(0, 59),
                      r.randint(0, 999999), r.choice(g.vc), r.choice(ENUM),
                      ",".join(map(str, ids))))
            else:
                w("DELETE FROM wide WHERE id IN (%s);\n" % ",".join(map(str, ids)))
                for rid in ids:
                    i = pos.pop(rid)
                    last = live.pop()
                    if last != rid:
                        live[i] = last
                        pos[last] = i
        left[op] -= k
        stmts_in_trx += 1
        if stmts_in_trx == TRX_STMTS:
            w("COMMIT;\n")
            stmts_in_trx = 0
            trx += 1
    if stmts_in_trx:
        w("COMMIT;\n")
        trx += 1
    sys.stderr.write("insert=%d update=%d delete=%d transactions=%d\n" % (n_ins, n_upd, n_del, trx))


def bigtx(n):
    # One transaction, built by the server: the client sends a few bytes.
    return ("USE rctest;\nSET time_zone = '+00:00';\nBEGIN;\n"
            "INSERT INTO big SELECT seq, CAST(seq %% 256 AS SIGNED) - 128, seq %% 65536, seq %% 8388607, seq, seq * 7919,"
            " seq / 7, seq / 13, seq / 3, seq * 1.5, '2024-01-01' + INTERVAL (seq %% 3650) DAY,"
            " '2024-01-01 00:00:00.123456' + INTERVAL seq SECOND,"
            " '2024-01-01 00:00:00.5' + INTERVAL seq SECOND, SEC_TO_TIME(seq %% 86400),"
            " 1901 + seq %% 254, LPAD(seq %% 100000, 8, 'x'), CONCAT('row ', seq, ' café 東京'),"
            " REPEAT('lorem ipsum ', 10 + seq %% 10), UNHEX(SHA2(seq, 256)), UNHEX(MD5(seq)),"
            " 1 + seq %% 5, seq %% 31, seq %% 4096,"
            " JSON_OBJECT('n', seq, 's', CONCAT('v', seq), 'a', JSON_ARRAY(1, 2, seq))"
            " FROM seq_1_to_%d;\nCOMMIT;\n" % n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("schema", "changes", "bigtx"))
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    out = open(sys.stdout.fileno(), "w", encoding="utf-8", buffering=1 << 20, closefd=False)
    if a.what == "schema":
        out.write(schema())
    elif a.what == "bigtx":
        out.write(bigtx(a.rows))
    else:
        changes(a.rows, a.seed, out)
    out.flush()


if __name__ == "__main__":
    main()
