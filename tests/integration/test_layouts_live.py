# SPDX-License-Identifier: MIT
"""Random table layouts, live: the server is the oracle.

The TABLE_MAP's optional metadata (signedness, character sets, ENUM/SET
members, geometry types, names, primary key) lists entries for some of the
columns only, in column order; a reader that counts a different set of
columns than the server reads every later entry into the wrong column.
One table with a friendly column order cannot show that, so every run draws
new layouts from a printed seed: every column type rowcast decodes, in a
random order, each string column with a random character set and collation
(drawn from the server's own list), NULL and NOT NULL, primary keys of one
or several columns in any position (prefixes too) or none at all.

Each layout takes random inserts, updates and deletes under FULL, MINIMAL
and NOBLOB row images.  rowcast (stdout sink) prints one message per row
change; the messages replayed into a table image must equal, value by value,
the server's own SELECT of the table (types_oracle.py says how each type is
selected).  Three phases: binlog_row_metadata FULL with names from the
binlog, MINIMAL and NO_LOG with `column_names = information_schema`.

Rerun a seed: ROWCAST_LAYOUT_SEED=N scripts/itest tests/integration/test_layouts_live.py
ROWCAST_LAYOUTS=K multiplies the layouts of every phase by K.
"""
import os
import random
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import types_oracle as T  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("ROWCAST_BIN", os.path.join(TOP, "build", "rowcast"))
CHARSETS = ["latin1", "utf8mb3", "utf8mb4", "ucs2", "utf16", "utf32"]
RERUN = "ROWCAST_LAYOUT_SEED=%d scripts/itest tests/integration/test_layouts_live.py"

# (phase name, binlog_row_metadata, column_names, layouts, statements per layout)
PHASES = [("full", "FULL", "binlog", 30, 100),
          ("minimal", "MINIMAL", "information_schema", 15, 100),
          ("no_log", "NO_LOG", "information_schema", 15, 100)]


def the_seed():
    s = int(os.environ.get("ROWCAST_LAYOUT_SEED", "0")) or random.SystemRandom().randint(1, 2 ** 31)
    print("ROWCAST_LAYOUT_SEED=%d" % s)
    return s


# ------------------------------------------------------------------ layouts

# ENUM/SET members by what a character set can hold; none of them equal
# under any collation (no case or accent twins, no trailing spaces)
MEMBERS_LATIN1 = ["", "a", "b c", "\u00e9", "\u20ac", "zz", "q-1", "\u00ff"]
MEMBERS_BMP = ["", "a", "b c", "\u00e9", "\u6f22", "zz", "q-1", "\u0416"]
MEMBERS_4B = MEMBERS_BMP + ["\U0001F600"]


def members_for(cs, bmp_only):
    """bmp_only: information_schema shows a character outside the BMP as
    '?' (its COLUMN_TYPE is utf8mb3), so without binlog_row_metadata = FULL
    no client can learn such a member's name (rowcast.conf(5) says so)."""
    if cs == "latin1":
        return MEMBERS_LATIN1
    return MEMBERS_4B if cs in ("utf8mb4", "utf16", "utf32") and not bmp_only else MEMBERS_BMP


def text_column(rng, name, cs, coll, key_ok):
    """A CHAR/VARCHAR/TEXT column in cs with collation coll."""
    kind = rng.choice(["char", "varchar", "varchar", "tinytext", "text", "mediumtext", "longtext"])
    tail = " CHARACTER SET %s COLLATE %s" % (cs, coll)
    mb = {"latin1": 1, "utf8mb3": 3, "utf8mb4": 4, "ucs2": 2, "utf16": 4, "utf32": 4}[cs]
    if kind == "char":
        n = rng.choice([1, 10, 50, 255])
        return T.Col(name, "CHAR(%d)%s" % (n, tail), "text", cs=cs, n=n)
    if kind == "varchar":
        n = rng.choice([1, 20, 100, 300 if mb <= 2 else 200])
        return T.Col(name, "VARCHAR(%d)%s" % (n, tail), "text", cs=cs, n=n)
    limit = {"tinytext": 255, "text": 65535, "mediumtext": 70000, "longtext": 70000}[kind]
    return T.Col(name, "%s%s" % (kind.upper(), tail), "text", cs=cs, n=min(limit // mb, 600),
                 maxbytes=limit if kind in ("tinytext", "text") else None, blob=True)


def random_column(rng, name, collations, bmp_only):
    """One column of a random type; string types in a random collation."""
    r = rng.random()
    if r < 0.22:
        bits = rng.choice([8, 16, 24, 32, 64])
        word = {8: "TINYINT", 16: "SMALLINT", 24: "MEDIUMINT", 32: "INT", 64: "BIGINT"}[bits]
        u = rng.random() < 0.5
        return T.Col(name, word + (" UNSIGNED" if u else ""), "int", bits=bits, unsigned=u)
    if r < 0.30:
        m = rng.randint(1, 65)
        d = rng.randint(0, min(30, m))
        u = rng.random() < 0.3
        return T.Col(name, "DECIMAL(%d,%d)%s" % (m, d, " UNSIGNED" if u else ""), "dec", m=m, d=d, unsigned=u)
    if r < 0.34:
        return rng.choice([T.Col(name, "FLOAT", "float"), T.Col(name, "DOUBLE", "double")])
    if r < 0.38:
        return T.Col(name, "YEAR", "year")
    if r < 0.42:
        b = rng.choice([1, 2, 7, 8, 9, 13, 31, 32, 33, 63, 64])
        return T.Col(name, "BIT(%d)" % b, "bit", bits=b)
    if r < 0.52:
        fsp = rng.randint(0, 6)
        k = rng.choice(["date", "datetime", "timestamp", "time"])
        if k == "date":
            return T.Col(name, "DATE", "date")
        if k == "timestamp":
            return T.Col(name, "TIMESTAMP(%d) NULL DEFAULT NULL" % fsp, "timestamp", fsp=fsp)
        return T.Col(name, "%s(%d)" % (k.upper(), fsp), k, fsp=fsp)
    if r < 0.74:
        cs = rng.choice(CHARSETS)
        return text_column(rng, name, cs, rng.choice(collations[cs]), True)
    if r < 0.80:
        k = rng.choice(["binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"])
        if k == "binary":
            n = rng.choice([1, 8, 16, 255])
            return T.Col(name, "BINARY(%d)" % n, "binary", n=n)
        if k == "varbinary":
            n = rng.choice([1, 16, 300])
            return T.Col(name, "VARBINARY(%d)" % n, "binary", n=n)
        n = {"tinyblob": 255, "blob": 65535, "mediumblob": 70000, "longblob": 70000}[k]
        return T.Col(name, k.upper(), "blob", n=n)
    if r < 0.88:
        cs = rng.choice(CHARSETS)
        coll = rng.choice(collations[cs])
        pool = members_for(cs, bmp_only)
        if rng.random() < 0.5:
            ms = rng.sample(pool, rng.randint(1, len(pool)))
            if rng.random() < 0.15:   # over 255 members: two bytes in the row
                ms += ["m%d" % i for i in range(300)]
            lit = ",".join("'%s'" % m for m in ms)
            return T.Col(name, "ENUM(%s) CHARACTER SET %s COLLATE %s" % (lit, cs, coll), "enum", members=ms)
        ms = [m for m in rng.sample(pool, rng.randint(1, len(pool))) if m != ""]
        if not ms:
            ms = ["a"]
        if rng.random() < 0.2:        # up to 64 members: 8 bytes in the row
            ms += ["s%d" % i for i in range(64 - len(ms))]
        lit = ",".join("'%s'" % m for m in ms)
        return T.Col(name, "SET(%s) CHARACTER SET %s COLLATE %s" % (lit, cs, coll), "set", members=ms)
    if r < 0.91:
        return T.Col(name, "JSON", "json")
    if r < 0.96:
        if rng.random() < 0.5:
            return T.Col(name, "GEOMETRY", "geom")
        return T.Col(name, "POINT", "geom", geoms=["POINT"])
    # MariaDB's COMPRESSED columns, their own binlog types
    c = rng.choice(T.compressed_columns())
    return T.Col(name, c.ddl, c.kind, **c.kw)


class Layout:
    """A table: columns in random order, a key of any shape or none."""

    def __init__(self, rng, name, collations, bmp_only):
        self.name = name
        n = rng.choice([rng.randint(2, 8), rng.randint(6, 24), rng.randint(20, 48)])
        self.cols = [random_column(rng, "c%02d" % i, collations, bmp_only) for i in range(n)]
        self.rid = T.Col("rid", "INT", "int", bits=32, nullable=False)
        self.ver = T.Col("ver", "INT NOT NULL DEFAULT 0", "int", bits=32, nullable=False)
        # NOT NULL for some (never TIMESTAMP: its NOT NULL brings defaults;
        # never geometry: some generated shapes are NULL to the server)
        for c in self.cols:
            if "TIMESTAMP" not in c.ddl and c.kind != "geom" and rng.random() < 0.25:
                c.nullable = False
        every = self.cols + [self.rid, self.ver]
        rng.shuffle(every)
        self.order = every
        self.data = [c for c in every if c is not self.rid]     # compared columns
        # the key: none, rid alone, or rid with columns never updated
        r = rng.random()
        self.pk = []
        if r < 0.2:
            self.pk = []
        elif r < 0.55:
            self.pk = [("rid", "rid")]
        else:
            parts = [("rid", "rid")]
            cand = [c for c in self.cols if c.kind in ("int", "dec", "date", "text", "binary", "blob")
                    and "COMPRESSED" not in c.ddl]
            for c in rng.sample(cand, min(len(cand), rng.randint(1, 2))):
                c.nullable = False
                if c.is_blob or (c.kind == "text" and rng.random() < 0.3):
                    parts.append((c.name, "`%s`(%d)" % (c.name, rng.randint(1, 8))))
                else:
                    parts.append((c.name, "`%s`" % c.name))
            rng.shuffle(parts)
            self.pk = parts
        self.pk_names = {n for n, _ in self.pk}
        self.charset = rng.choice(["utf8mb4", "latin1", "utf16"])   # the table's default
        self.live = []          # rids of rows that exist
        self.next_rid = 1

    def ddl(self):
        parts = []
        for c in self.order:
            d = c.ddl
            if c is self.rid:
                d += " NOT NULL"
            elif "DEFAULT" not in d:
                d += " NULL DEFAULT NULL" if c.nullable else " NOT NULL"
            parts.append("`%s` %s" % (c.name, d))
        if self.pk:
            parts.append("PRIMARY KEY (%s)" % ", ".join(k if k.startswith("`") else "`%s`" % k
                                                         for _, k in self.pk))
        return "CREATE TABLE `%s` (\n%s\n) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=%s" % (
            self.name, ",\n".join(parts), self.charset)


# ------------------------------------------------------------------ workload


class Workload:
    """Row changes in transactions over several layouts, each statement
    remembered with what its row images must hold."""

    def __init__(self, rng):
        self.rng = rng
        self.stmts = ["SET time_zone = '+00:00';"]
        self.expect = []        # (layout, op, mode, assigned names)
        self.mode = "FULL"

    def insert(self, t):
        rid = t.next_rid
        t.next_rid += 1
        cols = [c for c in t.cols if not c.nullable or c.name in t.pk_names or self.rng.random() < 0.7]
        names = ["rid"] + [c.name for c in cols]
        vals = [str(rid)] + [c.gen(self.rng, 0.25) for c in cols]
        self.stmts.append("INSERT INTO `%s` (%s) VALUES (%s);" % (
            t.name, ", ".join("`%s`" % n for n in names), ", ".join(vals)))
        t.live.append(rid)
        self.expect.append((t, "insert", self.mode, set(names)))

    def update(self, t):
        rid = self.rng.choice(t.live)
        free = [c for c in t.cols if c.name not in t.pk_names]
        cols = self.rng.sample(free, min(len(free), self.rng.randint(0, 6)))
        sets = ["`ver` = `ver` + 1"] + ["`%s` = %s" % (c.name, c.gen(self.rng)) for c in cols]
        self.stmts.append("UPDATE `%s` SET %s WHERE `rid` = %d;" % (t.name, ", ".join(sets), rid))
        self.expect.append((t, "update", self.mode, {"ver"} | {c.name for c in cols}))

    def delete(self, t):
        rid = self.rng.choice(t.live)
        t.live.remove(rid)
        self.stmts.append("DELETE FROM `%s` WHERE `rid` = %d;" % (t.name, rid))
        self.expect.append((t, "delete", self.mode, set()))

    def run(self, layouts, per_layout):
        total = per_layout * len(layouts)
        n = 0
        while n < total:
            self.mode = self.rng.choice(["FULL", "MINIMAL", "MINIMAL", "NOBLOB", "NOBLOB"])
            self.stmts.append("SET SESSION binlog_row_image = %s;" % self.mode)
            self.stmts.append("BEGIN;")
            for _ in range(min(self.rng.randint(1, 30), total - n)):
                t = self.rng.choice(layouts)
                r = self.rng.random()
                if r < 0.45 or len(t.live) < 3:
                    self.insert(t)
                elif r < 0.85:
                    self.update(t)
                else:
                    self.delete(t)
                n += 1
            self.stmts.append("COMMIT;")


def image_keys(t, op, mode, assigned, side):
    """The columns a row image holds, as the server logs them (tables with
    a primary key; without one the server logs whole before images)."""
    every = {c.name for c in t.order}
    pk = t.pk_names
    nonblob = {c.name for c in t.order if not c.is_blob}
    if mode == "FULL":
        return every
    if side == "before":
        return pk if mode == "MINIMAL" else nonblob | pk
    if mode == "MINIMAL":
        return set(assigned)
    return nonblob | pk | {n for n in assigned if n in every}


def replay(msgs, expect):
    """{layout name: {(rid,): row}} from the messages, and the problems."""
    rows, problems = {}, []

    def bad(i, text):
        if len(problems) < 40:
            problems.append("message %d (%s): %s" % (i, msgs[i].get("id"), text))
    for i, (m, (t, op, mode, assigned)) in enumerate(zip(msgs, expect)):
        tab = rows.setdefault(t.name, {})
        if (m["op"], m["db"], m["table"]) != (op, "rctest", t.name):
            bad(i, "is %s %s.%s, expected %s rctest.%s" % (m["op"], m["db"], m["table"], op, t.name))
            continue
        for side in ("before", "after"):
            img = m[side]
            if (img is None) != ((op == "insert") if side == "before" else (op == "delete")):
                bad(i, "%s image is %s" % (side, "null" if img is None else "present"))
            elif img is not None and t.pk:
                want = image_keys(t, op, mode, assigned, side)
                if set(img) != want:
                    bad(i, "%s %s (%s): columns %s missing, %s unexpected" % (
                        op, side, mode, sorted(want - set(img)), sorted(set(img) - want)))
            elif img is not None and "rid" not in img:
                bad(i, "%s image without rid" % side)
        if op == "insert":
            if m["after"] is None or "rid" not in m["after"]:
                continue
            row = {c.name: None for c in t.order}
            row["ver"] = 0
            row.update(m["after"])
            tab[(row["rid"],)] = row
            continue
        if m["before"] is None or "rid" not in m["before"]:
            continue
        key = (m["before"]["rid"],)
        known = tab.get(key)
        if known is None:
            bad(i, "%s of unknown row %r" % (op, key))
            continue
        for why in T.before_differences(m["before"], known):
            bad(i, why)
        if op == "delete":
            del tab[key]
        elif m["after"] is not None:
            known.update(m["after"])
    return rows, problems


# ------------------------------------------------------------------ the test


@pytest.fixture
def client(svc):
    return T.Client(svc["ROWCAST_MARIADB_CNF"])


def collations(client):
    out = {cs: [] for cs in CHARSETS}
    for name, cs in client.rows("SELECT COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATIONS "
                                "WHERE CHARACTER_SET_NAME IN (%s) ORDER BY ID"
                                % ",".join("'%s'" % c for c in CHARSETS)):
        out[cs].append(name)
    return out


def make_layouts(rng, client, prefix, count, colls, bmp_only):
    """count tables created on the server; a layout the server refuses
    (row too large, say) is replaced by another from the same generator."""
    out, tries = [], 0
    while len(out) < count:
        tries += 1
        assert tries < count * 5, "the server refused too many generated layouts"
        t = Layout(rng, "%s_%02d" % (prefix, len(out)), colls, bmp_only)
        try:
            client.run("DROP TABLE IF EXISTS `%s`;\n%s" % (t.name, t.ddl()))
        except RuntimeError as e:
            print("layout refused by the server, drawing another: %s" % str(e).splitlines()[0][:200])
            continue
        out.append(t)
    return out


def run_phase(client, svc, tmp_path, rng, seed, phase):
    label, metadata, names, count, per = phase
    count *= int(os.environ.get("ROWCAST_LAYOUTS", "1"))
    colls = collations(client)
    prefix = "lay%s_%x" % (label[:2], rng.getrandbits(24))
    layouts = make_layouts(rng, client, prefix, count, colls, names != "binlog")
    client.run("SET GLOBAL binlog_row_metadata = %s;" % metadata, db="mysql")
    rc = T.StdoutRowcast(svc, tmp_path, BIN)
    if names != "binlog":
        conf = open(rc.conf).read().replace("[source]\n", "[source]\ncolumn_names = %s\n" % names, 1)
        open(rc.conf, "w").write(conf)
    try:
        rc.start()
        w = Workload(rng)
        w.run(layouts, per)
        t0 = time.time()
        client.run("\n".join(w.stmts) + "\n")
        t1 = time.time()
        lines = rc.wait_for(len(w.expect), 120)
    finally:
        rc.stop()
        client.run("SET GLOBAL binlog_row_metadata = FULL;", db="mysql")
    msgs = [T.parse_message(line) for line in lines]
    where = "phase %s (binlog_row_metadata %s, column_names %s), seed %d; rerun: %s" % (
        label, metadata, names, seed, RERUN % seed)
    if len(msgs) != len(w.expect):
        pytest.fail("%s: expected %d messages, got %d; rowcast log:\n%s" % (
            where, len(w.expect), len(msgs), open(rc.log).read()[-3000:]), pytrace=False)
    rows, problems = replay(msgs, w.expect)
    diffs = []
    ncompared = 0
    for t in layouts:
        want = T.server_image(client, t.name, [("rid", "INT")], t.data)
        got = rows.get(t.name, {})
        ncompared += len(want)
        d, _ = T.compare_images(got, want, t.data, t.name)
        if d:
            diffs.append("%s: %d differences; table:\n%s\n%s" % (t.name, len(d), t.ddl(), "\n".join(d[:8])))
    nkeys = sum(1 for t in layouts if t.pk)
    print("%s: %d layouts (%d with a primary key, %d columns in all), %d row changes in %.1f s, "
          "%d rows compared, %d tables differ, %d image problems"
          % (label, len(layouts), nkeys, sum(len(t.order) for t in layouts), len(w.expect), t1 - t0,
             ncompared, len(diffs), len(problems)))
    if problems or diffs:
        pytest.fail("%s\n%s\n%s" % (where, "\n".join(problems[:20]), "\n\n".join(diffs[:6])), pytrace=False)
    for t in layouts:
        client.run("DROP TABLE `%s`" % t.name)
    return len(layouts), len(w.expect)


@pytest.mark.parametrize("phase", PHASES, ids=[p[0] for p in PHASES])
def test_random_layouts(client, svc, tmp_path, phase):
    seed = the_seed()
    # one generator per phase from the seed: a phase reruns alone
    rng = random.Random("%d/%s" % (seed, phase[0]))
    run_phase(client, svc, tmp_path, rng, seed, phase)
