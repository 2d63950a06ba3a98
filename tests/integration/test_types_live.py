# SPDX-License-Identifier: MIT
"""Every column type, live: the server is the oracle.

Tables with every MariaDB column type (several character sets) take
thousands of random single-row statements plus explicit edge values (min/max,
negative zero, empty strings, 4-byte UTF-8, NULLs, max-length BLOBs, deep
JSON).  rowcast (stdout sink, started at the current position before the
writes) must print one message per statement; the messages replayed into a
table image must equal, value by value, the server's own SELECT of the table
(each column selected in an unambiguous form: see types_oracle.py).

The second test does the same with binlog_row_image MINIMAL and NOBLOB mixed
with FULL: a column that is not in a row image must be absent from the JSON
(not null), and merging the images into the known rows must still give the
server's table.
"""
import os
import random
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import types_oracle as T  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("ROWCAST_BIN", os.path.join(TOP, "build", "rowcast"))


def seed():
    s = int(os.environ.get("ROWCAST_TYPES_SEED", "0")) or random.SystemRandom().randint(1, 2 ** 31)
    print("ROWCAST_TYPES_SEED=%d" % s)
    return s


@pytest.fixture
def client(svc):
    return T.Client(svc["ROWCAST_MARIADB_CNF"])


@pytest.fixture
def rowcast(svc, tmp_path):
    rc = T.StdoutRowcast(svc, tmp_path, BIN)
    yield rc
    rc.stop()


class Workload:
    """Single-row statements in transactions; remembers what each must log."""

    def __init__(self, rng, table, pk_cols, cols):
        self.rng = rng
        self.table = table
        self.pk_cols = pk_cols          # [(name, ddl)]
        self.cols = cols                # [Col] (ver is one of them)
        self.byname = {c.name: c for c in cols}
        self.live = {}                  # pk tuple -> True
        self.frozen = set()             # rows never touched again (huge BLOBs)
        self.stmts = []
        self.expect = []                # (op, mode, assigned column names)
        self.mode = "FULL"
        self.next_id = 1

    # -- pk helpers
    def new_pk(self):
        i = self.next_id
        self.next_id += 1
        if len(self.pk_cols) == 1:
            return (i,)
        k = "".join(self.rng.choice("abcdefgh\u00e9\U0001F600") for _ in range(self.rng.randint(0, 7)))
        return (i, k)

    def pk_sql(self, key):
        return [str(v) if isinstance(v, int) else T.sql_utf8(v) for v in key]

    def where(self, key):
        return " AND ".join("`%s` = %s" % (n, v) for (n, _), v in zip(self.pk_cols, self.pk_sql(key)))

    # -- statements
    def insert(self, values, key=None):
        """values: {col name: SQL}; columns left out take their default."""
        key = key or self.new_pk()
        names = [n for n, _ in self.pk_cols] + list(values)
        vals = self.pk_sql(key) + list(values.values())
        self.stmts.append("INSERT INTO `%s` (%s) VALUES (%s);" % (
            self.table, ", ".join("`%s`" % n for n in names), ", ".join(vals)))
        self.live[key] = True
        self.expect.append(("insert", self.mode, set(names)))
        return key

    def random_insert(self, partial=False, edge_bias=0.25):
        cols = [c for c in self.cols if c.name != "ver"]
        if partial:
            cols = [c for c in cols if self.rng.random() < 0.5]
        return self.insert({c.name: c.gen(self.rng, edge_bias) for c in cols})

    def update(self, key, values, new_key=None):
        sets = ["`ver` = `ver` + 1"] + ["`%s` = %s" % (n, v) for n, v in values.items()]
        assigned = {"ver"} | set(values)
        if new_key is not None:
            sets += ["`%s` = %s" % (n, v) for (n, _), v in zip(self.pk_cols, self.pk_sql(new_key))]
            assigned |= {n for n, _ in self.pk_cols}
            del self.live[key]
            self.live[new_key] = True
        self.stmts.append("UPDATE `%s` SET %s WHERE %s;" % (self.table, ", ".join(sets), self.where(key)))
        self.expect.append(("update", self.mode, assigned))

    def random_update(self, pk_change=False):
        key = self.rng.choice([k for k in self.live if k not in self.frozen])
        cols = self.rng.sample([c for c in self.cols if c.name != "ver"], self.rng.randint(0, 6))
        new_key = self.new_pk() if pk_change else None
        self.update(key, {c.name: c.gen(self.rng) for c in cols}, new_key)

    def random_delete(self):
        key = self.rng.choice([k for k in self.live if k not in self.frozen])
        del self.live[key]
        self.stmts.append("DELETE FROM `%s` WHERE %s;" % (self.table, self.where(key)))
        self.expect.append(("delete", self.mode, set()))

    def begin(self):
        self.stmts.append("BEGIN;")

    def commit(self):
        self.stmts.append("COMMIT;")

    def set_mode(self, mode):
        self.mode = mode
        self.stmts.append("SET SESSION binlog_row_image = %s;" % mode)

    def sql(self):
        return "SET time_zone = '+00:00';\n" + "\n".join(self.stmts) + "\n"


def collect(rowcast, n, timeout=60):
    lines = rowcast.wait_for(n, timeout)
    msgs = [T.parse_message(line) for line in lines]
    assert len(msgs) == n, "expected %d messages (one per statement), got %d; rowcast log:\n%s" % (
        n, len(msgs), open(rowcast.log).read()[-3000:])
    ids = [m["id"] for m in msgs]
    assert len(set(ids)) == len(ids), "duplicate message ids"
    return msgs


def image_keys(w, op, mode, assigned, side):
    """The column names a row image must hold (what the server logs)."""
    pk = {n for n, _ in w.pk_cols}
    every = pk | set(w.byname)
    nonblob = pk | {c.name for c in w.cols if not c.is_blob}
    if mode == "FULL":
        return every
    if side == "before":
        return pk if mode == "MINIMAL" else nonblob
    # after image of an insert or update
    if mode == "MINIMAL":
        return set(assigned)
    return nonblob | {n for n in assigned if n in w.byname and w.byname[n].is_blob}


def replay(w, msgs, defaults):
    """Replay the messages into {pk: row}; returns (rows, problems)."""
    rows, problems = {}, []
    pkn = [n for n, _ in w.pk_cols]

    def bad(i, text):
        if len(problems) < 40:
            problems.append("message %d (%s): %s" % (i, msgs[i]["id"], text))
    for i, (m, (op, mode, assigned)) in enumerate(zip(msgs, w.expect)):
        if (m["op"], m["db"], m["table"]) != (op, "rctest", w.table):
            bad(i, "is %s %s.%s, expected %s rctest.%s" % (m["op"], m["db"], m["table"], op, w.table))
            continue
        for side in ("before", "after"):
            img = m[side]
            if (img is None) != ((op == "insert") if side == "before" else (op == "delete")):
                bad(i, "%s image is %s" % (side, "null" if img is None else "present"))
                continue
            if img is None:
                continue
            want = image_keys(w, op, mode, assigned, side)
            if set(img) != want:
                bad(i, "%s %s (%s): columns %s missing, %s unexpected (absent columns must be absent, "
                       "not null)" % (op, side, mode, sorted(want - set(img)), sorted(set(img) - want)))
        if op != "insert" and m["before"] is not None:
            try:
                key = tuple(m["before"][n] for n in pkn)
            except KeyError:
                continue
            known = rows.get(key)
            if known is None:
                bad(i, "%s of unknown row %r" % (op, key))
                continue
            for why in T.before_differences(m["before"], known):
                bad(i, why)
            if op == "delete":
                del rows[key]
                continue
            row = dict(known)
            del rows[key]
        else:
            row = dict(defaults)
        if m["after"] is not None:
            row.update(m["after"])
            rows[tuple(row.get(n) for n in pkn)] = row
    return rows, problems


def run_and_compare(client, rowcast, w, label, timeout=60):
    t0 = time.time()
    client.run(w.sql())
    t1 = time.time()
    msgs = collect(rowcast, len(w.expect), timeout)
    t2 = time.time()
    defaults = {c.name: None for c in w.cols}
    defaults["ver"] = 0
    rows, problems = replay(w, msgs, defaults)
    want = T.server_image(client, w.table, w.pk_cols, w.cols)
    diffs, bycol = T.compare_images(rows, want, w.cols, w.table)
    print("%s: %d statements in %.1f s, %d messages after %.1f s more, %d rows compared, "
          "%d columns, %d differences, %d image problems"
          % (label, len(w.expect), t1 - t0, len(msgs), t2 - t1, len(want), len(w.cols), len(diffs),
             len(problems)))
    text = T.report(diffs, bycol, label)
    if text:
        print(text)
    if problems:
        print("%s: row image problems (first 40):\n%s" % (label, "\n".join(problems)))
    if problems:
        pytest.fail("%s: %d row image problems, first 40:\n%s" % (label, len(problems), "\n".join(problems)),
                    pytrace=False)
    if diffs:
        pytest.fail(text, pytrace=False)


def test_every_type_full_image(client, rowcast):
    rng = random.Random(seed())
    table = "types_" + uuid.uuid4().hex[:8]
    cols = [T.Col("ver", "INT NOT NULL DEFAULT 0", "int", bits=32, nullable=False)] + T.all_columns()
    T.create_table(client, table, [("id", "INT")], cols)
    rowcast.start()
    w = Workload(rng, table, [("id", "INT")], cols)
    data = [c for c in cols if c.name != "ver"]

    # explicit edge rows: each edge value of each column, the rest random
    edge_rows = []
    for c in data:
        for e in c.edges():
            vals = {d.name: d.gen(rng, 0.1) for d in data}
            vals[c.name] = e
            edge_rows.append(vals)
    edge_rows.append({d.name: "NULL" for d in data})                     # all NULL
    edge_rows.append({d.name: (d.edges() or [d.gen(rng)])[0] for d in data})
    edge_rows.append({d.name: d.edges()[-1] for d in data})
    maxed = {d.name: d.max_value(rng) for d in data}
    edge_rows.append({n: (v if v is not None else data[i].gen(rng)) for i, (n, v) in enumerate(maxed.items())})
    rng.shuffle(edge_rows)
    for i in range(0, len(edge_rows), 25):
        w.begin()
        for vals in edge_rows[i:i + 25]:
            w.insert(vals)
        w.commit()

    # max-length BLOBs past the 3-byte length: built by the server (a single
    # statement must stay under max_allowed_packet); never updated
    chunk = rng.randbytes(4099)
    for name, size in (("mblob", 16777215), ("lblob", 16777217)):
        vals = {d.name: d.gen(rng, 0) for d in data if d.name not in ("mblob", "lblob")}
        vals[name] = "SUBSTRING(REPEAT(%s, %d), 1, %d)" % (T.hexlit(chunk), size // 4099 + 1, size)
        w.frozen.add(w.insert(vals))

    # 3,000 random statements in transactions of 1..40
    n = 0
    while n < 3000:
        w.begin()
        for _ in range(min(rng.randint(1, 40), 3000 - n)):
            r = rng.random()
            if r < 0.55 or len(w.live) < 20:
                w.random_insert()
            elif r < 0.85:
                w.random_update()
            else:
                w.random_delete()
            n += 1
        w.commit()
    run_and_compare(client, rowcast, w, "full image")
    # the huge values really are there (REPEAT gives NULL past max_allowed_packet)
    sizes = client.rows("SELECT LENGTH(mblob), LENGTH(lblob) FROM `%s` WHERE id IN (%s) ORDER BY id"
                        % (table, ",".join(str(k[0]) for k in sorted(w.frozen))))
    assert sizes == [["16777215", "NULL"], ["NULL", "16777217"]], sizes


def test_minimal_and_noblob_images(client, rowcast):
    rng = random.Random(seed() + 1)
    table = "images_" + uuid.uuid4().hex[:8]
    pk = [("id", "INT"), ("k", "VARCHAR(8) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")]
    names = ["i_bigint", "u_bigint", "i_tinyint", "dec65_30", "dec5_2", "flt", "dbl", "dt", "dtm6", "ts3", "tm4",
             "yr", "c_latin1", "v_utf16", "v_utf8mb4", "bin8", "tblob", "blb", "ttext", "txt", "mtext", "js",
             "geo", "pt", "bit13", "bit64", "en", "st64"]
    allc = {c.name: c for c in T.all_columns()}
    cols = [T.Col("ver", "INT NOT NULL DEFAULT 0", "int", bits=32, nullable=False)] + [allc[n] for n in names]
    T.create_table(client, table, pk, cols)
    rowcast.start()
    w = Workload(rng, table, pk, cols)
    n = 0
    while n < 1500:
        mode = rng.choice(["MINIMAL", "MINIMAL", "NOBLOB", "NOBLOB", "FULL"])
        w.set_mode(mode)
        w.begin()
        for _ in range(min(rng.randint(1, 30), 1500 - n)):
            r = rng.random()
            if r < 0.45 or len(w.live) < 10:
                w.random_insert(partial=rng.random() < 0.4)
            elif r < 0.85:
                w.random_update(pk_change=rng.random() < 0.05)
            else:
                w.random_delete()
            n += 1
        w.commit()
    run_and_compare(client, rowcast, w, "MINIMAL/NOBLOB/FULL images")


def test_compressed_columns(client, rowcast):
    """MariaDB's COMPRESSED columns: the same values as without the attribute."""
    rng = random.Random(seed() + 2)
    table = "compr_" + uuid.uuid4().hex[:8]
    cols = [T.Col("ver", "INT NOT NULL DEFAULT 0", "int", bits=32, nullable=False)] + T.compressed_columns()
    T.create_table(client, table, [("id", "INT")], cols)
    rowcast.start()
    w = Workload(rng, table, [("id", "INT")], cols)
    data = cols[1:]
    w.begin()
    for c in data:
        for e in c.edges():
            vals = {d.name: d.gen(rng, 0.1) for d in data}
            vals[c.name] = e
            w.insert(vals)
    # long and very compressible, built by the server
    w.insert({"mbc": "REPEAT(X'00010203', 100000)", "tc": "REPEAT(_utf8mb4 X'F09F9880', 16000)",
              "ltc": "REPEAT(_ucs2 X'6F22', 200000)", "vc_latin1": "REPEAT(_latin1 X'80', 1000)"})
    w.commit()
    n = 0
    while n < 600:
        w.begin()
        for _ in range(min(rng.randint(1, 20), 600 - n)):
            r = rng.random()
            if r < 0.55 or len(w.live) < 10:
                w.random_insert()
            elif r < 0.85:
                w.random_update()
            else:
                w.random_delete()
            n += 1
        w.commit()
    run_and_compare(client, rowcast, w, "COMPRESSED columns", timeout=30)
