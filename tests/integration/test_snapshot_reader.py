# SPDX-License-Identifier: MIT
"""The MariaDB snapshot reader (src/source/mysql/snapshot.c), live, through
its driver tests/snap/snap_dump.

For random tables (seeded, printed: ROWCAST_SNAP_SEED) with random column
types in random order and a key of each kind (INT, BIGINT UNSIGNED, INT +
VARCHAR _ci, VARCHAR _ci alone, latin1 _ci, VARBINARY, DATETIME(6), DECIMAL,
ENUM + BIT, a UNIQUE NOT NULL index): read in chunks of 1, 5, 7 and 1000 rows
and with a byte limit, every row comes exactly once, in the server's key
order, and every row is byte for byte the after image `rowcast decode`
publishes for the INSERT of that row (the binlog is the oracle).  Also: the
chunk's binlog point P is SHOW MASTER STATUS when idle and moves with
writes; a keyless table is refused with the exact message unless allowed;
the session has the statement time limit, REPEATABLE READ and UTC.
"""
import ipaddress
import json
import os
import random
import subprocess
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import types_oracle as T  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("ROWCAST_BIN", os.path.join(TOP, "build", "rowcast"))
DUMP = os.path.join(os.path.dirname(BIN), "tests", "snap", "snap_dump")
DB = "snaptest"


def seed():
    s = int(os.environ.get("ROWCAST_SNAP_SEED", "0")) or random.SystemRandom().randint(1, 2 ** 31)
    print("ROWCAST_SNAP_SEED=%d" % s)
    return s


@pytest.fixture
def client(svc):
    if not os.access(DUMP, os.X_OK):
        pytest.skip("%s not built (make check builds it)" % DUMP)
    c = T.Client(svc["ROWCAST_MARIADB_CNF"])
    c.run("CREATE DATABASE IF NOT EXISTS `%s`" % DB, db="mysql")
    return c


def dump(svc, table, *args, check=True):
    """snap_dump's (T line, [(C line, [row texts])]) for a table."""
    p = subprocess.run([DUMP, "--socket", svc["ROWCAST_MARIADB_SOCKET"], "--user", "root",
                        "--db", DB, "--table", table] + [str(a) for a in args],
                       capture_output=True, timeout=120)
    if not check:
        return p
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    head, chunks = None, []
    for line in p.stdout.split(b"\n")[:-1]:
        tag, text = line[:2], line[2:].decode("utf-8")
        if tag == b"T ":
            head = dict(head or {}, **json.loads(text))
        elif tag == b"C ":
            chunks.append((json.loads(text), []))
        elif tag == b"R ":
            chunks[-1][1].append(text)
        elif tag == b"S ":
            head = {"session": text}
        else:
            raise AssertionError(line)
    return head, chunks


def master_status(client):
    f, p = client.rows("SHOW MASTER STATUS")[0][:2]
    return f, int(p)


# ------------------------------------------------------------------ keys

CI_POOL = ["a", "A", "a ", " a", "\u00e0", "\u00c0", "\u00e1", "b", "B", "\u00df", "ss", "s", "",
           " ", "z", "Z", "\u00e4", "ae", "\t", "a\t", "\U0001F600", "\U0001F680", "\u6f22", "\u5b57",
           "-", "_", "%", "'", "\\", "aa", "aA", "Aa", "\u00f1", "n", "\u0131", "i", "I", "\u0130"]


def _ci_string(rng):
    if rng.random() < 0.6:
        return rng.choice(CI_POOL) + (rng.choice(CI_POOL) if rng.random() < 0.3 else "")
    return "".join(rng.choice("aAbB\u00e0\u00c0 \U0001F600\u00df") for _ in range(rng.randint(0, 6)))


def _dt(rng):
    if rng.random() < 0.1:
        return "'0000-00-00 00:00:00'"
    return "'%s %s.%06d'" % (T._rand_date(rng), T._rand_hms(rng),
                             rng.choice([0, 1, 999999, rng.randint(0, 999999)]))


def _dec(rng):
    ip = str(rng.choice([0, 1, rng.randint(0, 10 ** 14 - 1)]))
    fp = "%06d" % rng.choice([0, 1, rng.randint(0, 999999)])
    return ("-" if rng.random() < 0.4 else "") + ip + "." + fp


def _uuid(rng):
    """A UUID text: version 1 with the RFC variant (stored swapped by some
    servers), version 4, or arbitrary bits."""
    b = bytearray(rng.randbytes(16))
    r = rng.random()
    if r < 0.7:
        b[6] = (b[6] & 0x0F) | (0x10 if r < 0.4 else 0x40)
        b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


class FixedBinCol(T.Col):
    """UUID, INET6 and INET4 columns (not in types_oracle's catalogue)."""

    def gen(self, rng, edge_bias=0.25, null_p=0.08):
        if rng.random() < null_p:
            return "NULL"
        if self.kind == "uuid":
            return "'%s'" % _uuid(rng)
        if self.kind == "inet6":
            return "'%s'" % ipaddress.IPv6Address(rng.choice([rng.randbytes(16), bytes(16),
                                                               bytes(10) + b"\xff\xff" + rng.randbytes(4)]))
        return "'%s'" % ipaddress.IPv4Address(rng.randbytes(4))


FIXED_BIN_COLS = [FixedBinCol("uu", "UUID", "uuid"), FixedBinCol("ip6", "INET6", "inet6"),
                  FixedBinCol("ip4", "INET4", "inet4")]


# name -> ([(column, ddl)], key clause, generator of one key as SQL literals)
KEYS = {
    "int": ([("k", "INT")], "PRIMARY KEY (`k`)",
            lambda r: [str(r.choice([r.randint(-2 ** 31, 2 ** 31 - 1), r.randint(-9, 9),
                                     -2 ** 31, 2 ** 31 - 1]))]),
    "bigint_unsigned": ([("k", "BIGINT UNSIGNED")], "PRIMARY KEY (`k`)",
                        lambda r: [str(r.choice([0, 1, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1,
                                                 r.getrandbits(64), r.getrandbits(20)]))]),
    "int_varchar_ci": ([("k1", "INT"), ("k2", "VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")],
                       "PRIMARY KEY (`k1`, `k2`)",
                       lambda r: [str(r.randint(-1, 2)), T.sql_utf8(_ci_string(r))]),
    "varchar_ci": ([("k", "VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")],
                   "PRIMARY KEY (`k`)", lambda r: [T.sql_utf8(_ci_string(r))]),
    "latin1_ci": ([("k", "VARCHAR(12) CHARACTER SET latin1")], "PRIMARY KEY (`k`)",
                  lambda r: [T.hexlit(T.gen_text_bytes(r, "latin1", r.randint(0, 4)), "latin1")]),
    "varbinary": ([("k", "VARBINARY(16)")], "PRIMARY KEY (`k`)",
                  lambda r: [T.hexlit(r.choice([b"", b"\x00", b"\x00\x00", b"a", b"a\x00", b"A", b"a ",
                                                b"\xff", b"\xff\x00", r.randbytes(r.randint(0, 16))]))]),
    "datetime6": ([("k", "DATETIME(6)")], "PRIMARY KEY (`k`)", lambda r: [_dt(r)]),
    "decimal": ([("k", "DECIMAL(20,6)")], "PRIMARY KEY (`k`)", lambda r: [_dec(r)]),
    # ENUM orders by member number ('b' first), BIT by value
    "enum_bit": ([("k1", "ENUM('b','a','c')"), ("k2", "BIT(9)")], "PRIMARY KEY (`k1`, `k2`)",
                 lambda r: [T.sql_utf8(r.choice("bac")), str(r.randint(0, 511))]),
    # MariaDB's UUID type orders by its own rule (time-based UUIDs by time)
    "uuid": ([("k", "UUID")], "PRIMARY KEY (`k`)", lambda r: ["'%s'" % _uuid(r)]),
    # no PRIMARY KEY: a UNIQUE index over a NULL-able column is passed over
    "unique_not_null": ([("u1", "INT NULL"), ("k", "CHAR(8) CHARACTER SET utf8mb4")],
                        "UNIQUE KEY `nullable_u` (`u1`), UNIQUE KEY `uk` (`k`)",
                        lambda r: [str(r.randint(0, 10 ** 6)), T.sql_utf8(_ci_string(r)[:8])]),
}

# the key the reader must choose, where it is not all of KEYS' columns
KEY_NAMES = {"unique_not_null": ["k"]}


def share_of_columns(s, kind):
    """This key kind's share of the whole column catalogue (shuffled by the
    seed), so that each run reads every column type under some key."""
    pool = T.all_columns() + T.compressed_columns() + FIXED_BIN_COLS
    random.Random(s).shuffle(pool)
    kinds = sorted(KEYS)
    return pool[kinds.index(kind)::len(kinds)]


def make_table(client, rng, table, kind, nrows, cols):
    """Create and fill a random table; returns (its column names, key names)."""
    key_cols, key_clause, gen_key = KEYS[kind]
    parts = [("seq", "`seq` INT NOT NULL")]
    parts += [(n, "`%s` %s%s" % (n, d, "" if "NULL" in d else " NOT NULL")) for n, d in key_cols]
    parts += [(c.name, "`%s` %s%s" % (c.name, c.ddl, "" if "DEFAULT" in c.ddl else " NULL DEFAULT NULL"))
              for c in cols]
    rng.shuffle(parts)
    client.run("DROP TABLE IF EXISTS `%s`; CREATE TABLE `%s` (%s, %s) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
               % (table, table, ", ".join(p for _, p in parts), key_clause), db=DB)
    names = [n for n, _ in parts]
    byname = {c.name: c for c in cols}
    stmts = []
    for seq in range(nrows):
        kv = dict(zip([n for n, _ in key_cols], gen_key(rng)))
        vals = []
        for n in names:
            if n == "seq":
                vals.append(str(seq))
            elif n in kv:
                vals.append(kv[n])
            else:
                vals.append(byname[n].gen(rng))
        stmts.append("INSERT IGNORE INTO `%s` (%s) VALUES (%s);"
                     % (table, ",".join("`%s`" % n for n in names), ",".join(vals)))
    # a few rows per transaction, as applications write them
    sql = []
    for i in range(0, len(stmts), 7):
        sql.append("BEGIN;\n" + "\n".join(stmts[i:i + 7]) + "\nCOMMIT;")
    client.run("\n".join(sql), db=DB)
    return names, KEY_NAMES.get(kind, [n for n, _ in key_cols])


def binlog_inserts(client, table, start, ops=("insert",)):
    """After images (exact text) of the INSERTs into table since start;
    with other ops, the whole messages of those ops."""
    base = client.rows("SELECT @@log_bin_basename")[0][0]
    folder = os.path.dirname(base)
    files = [r[0] for r in client.rows("SHOW BINARY LOGS")]
    files = files[files.index(start[0]):]
    out = []
    for f in files:
        pos = ["--start-position", str(start[1])] if f == start[0] else []
        p = subprocess.run([BIN, "decode"] + pos + [os.path.join(folder, f)], capture_output=True)
        assert p.returncode == 0, p.stderr.decode(errors="replace")
        for line in p.stdout.decode("utf-8").split("\n")[:-1]:
            m = json.loads(line)
            if m["db"] != DB or m["table"] != table:
                continue
            assert m["op"] in ops, line
            if ops != ("insert",):
                out.append(line)
                continue
            marker = '"before":null,"after":'
            assert line.count(marker) == 1 and line.endswith("}"), line
            out.append(line[line.index(marker) + len(marker):-1])
    return out


def explain(snap, binlog, key_names):
    """Value-by-value differences, paired by key, for the failure message."""
    def parse(t):
        return json.loads(t, parse_float=lambda s: "num:" + s, parse_int=lambda s: "num:" + s)

    def key(d):
        return tuple(json.dumps(d[k]) for k in key_names)
    a = {key(parse(t)): parse(t) for t in snap}
    b = {key(parse(t)): parse(t) for t in binlog}
    out = []
    for k in sorted(set(a) | set(b)):
        if k not in a:
            out.append("key %s: in the binlog, not in the snapshot" % (k,))
        elif k not in b:
            out.append("key %s: in the snapshot, not in the binlog" % (k,))
        else:
            for col in b[k]:
                if a[k].get(col, "<absent>") != b[k][col]:
                    out.append("key %s col %s: snapshot %s, binlog %s" % (k, col, T.show(a[k].get(col)),
                                                                          T.show(b[k][col])))
            if list(a[k]) != list(b[k]):
                out.append("key %s: column order %s vs %s" % (k, list(a[k]), list(b[k])))
    return "\n".join(out[:30])


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_chunks_equal_table_and_binlog_rows(svc, client, kind):
    s = seed()
    rng = random.Random("%d-%s" % (s, kind))
    # a name of its own: the binlog still holds earlier runs' tables
    table = "snap_%s_%s" % (kind, uuid.uuid4().hex[:8])
    start = master_status(client)
    names, key_names = make_table(client, rng, table, kind, rng.randint(40, 90), share_of_columns(s, kind))
    binlog = binlog_inserts(client, table, start)
    want_order = [int(r[0]) for r in client.rows(
        "SELECT seq FROM `%s` ORDER BY %s" % (table, ",".join("`%s`" % k for k in key_names)), db=DB)]
    assert len(binlog) == len(want_order)
    idle = master_status(client)
    runs = [["--rows", 1], ["--rows", 5], ["--rows", 7], ["--rows", 1000], ["--rows", 1000, "--bytes", 3000]]
    first = None
    for args in runs:
        head, chunks = dump(svc, table, *args)
        assert head["key"] == key_names, head
        assert head["key_name"] == ("uk" if kind == "unique_not_null" else "PRIMARY")
        rows = [r for _, rs in chunks for r in rs]
        ctx = "seed %d, %s, %s" % (s, kind, args)
        # every row once, in the server's key order
        got_order = [json.loads(r)["seq"] for r in rows]
        assert got_order == want_order, ctx
        # byte for byte what the binlog decoder publishes for the same row
        assert sorted(rows) == sorted(binlog), ctx + "\n" + explain(rows, binlog, key_names)
        # chunk shape: limits respected, only the last one says last, P is idle
        n = args[1]
        for i, (c, rs) in enumerate(chunks):
            assert c["rows"] == len(rs) and len(rs) <= n, (ctx, c)
            assert c["last"] == (i == len(chunks) - 1), (ctx, c)
            assert (c["file"], c["pos"]) == idle, (ctx, c, idle)
            if "--bytes" not in args and i < len(chunks) - 1:
                assert len(rs) == n, (ctx, c)
        assert chunks[-1][0]["last_key"] == head["max_key"] or not chunks[-1][1], ctx
        if first is None:
            first = chunks
    # resuming after a chunk's last key gives the rest
    if len(first) > 3:
        mid = first[2][0]["last_key"]
        head, chunks = dump(svc, table, "--rows", 5, "--after", mid)
        rest = [r for _, rs in first[3:] for r in rs]
        assert [r for _, rs in chunks for r in rs] == rest
    client.run("DROP TABLE `%s`" % table, db=DB)


def test_binlog_point_follows_writes(svc, client):
    client.run("CREATE OR REPLACE TABLE p1 (k INT PRIMARY KEY, v INT); "
               "INSERT INTO p1 VALUES (1,1),(2,2),(3,3)", db=DB)
    idle = master_status(client)
    _, chunks = dump(svc, "p1", "--rows", 1)
    assert [(c["file"], c["pos"]) for c, _ in chunks] == [idle] * 3
    client.run("INSERT INTO p1 VALUES (4,4)", db=DB)
    after = master_status(client)
    assert after[1] > idle[1]
    _, chunks = dump(svc, "p1", "--rows", 10)
    assert [(c["file"], c["pos"]) for c, _ in chunks] == [after]
    assert len(chunks[0][1]) == 4


def test_rows_written_after_open_above_max_key_are_not_read(svc, client):
    """The range stops at the largest key of the first snapshot."""
    client.run("CREATE OR REPLACE TABLE p2 (k INT PRIMARY KEY)", db=DB)
    client.run("INSERT INTO p2 VALUES (1),(2),(3)", db=DB)
    head, chunks = dump(svc, "p2", "--rows", 2, "--chunks", 1)
    assert head["max_key"] == "3" and chunks[0][0]["last_key"] == "2"
    client.run("INSERT INTO p2 VALUES (0),(10)", db=DB)
    head, chunks = dump(svc, "p2", "--rows", 2, "--after", "1")
    assert [json.loads(r)["k"] for _, rs in chunks for r in rs] == [2, 3, 10]
    assert head["max_key"] == "10"


def test_keyless_table_refused_unless_allowed(svc, client):
    client.run("CREATE OR REPLACE TABLE nokey (a INT, b VARCHAR(5), UNIQUE KEY (a)); "
               "INSERT INTO nokey VALUES (1,'x'),(NULL,'y'),(NULL,'y'),(3,'z'),(4,'w')", db=DB)
    p = dump(svc, "nokey", check=False)
    assert p.returncode == 1
    assert p.stderr.decode() == (
        "snap_dump: table `snaptest`.`nokey` has no primary key and no unique index on NOT NULL "
        "columns, so it cannot be read in chunks: add such a key, or allow a single-pass snapshot "
        "of keyless tables\n")
    assert p.stdout == b""
    idle = master_status(client)
    head, chunks = dump(svc, "nokey", "--keyless", "--rows", 2)
    assert head["key"] == [] and head["key_name"] is None
    rows = sorted(r for _, rs in chunks for r in rs)
    assert rows == sorted(['{"a":1,"b":"x"}', '{"a":null,"b":"y"}', '{"a":null,"b":"y"}',
                           '{"a":3,"b":"z"}', '{"a":4,"b":"w"}'])
    assert [c["rows"] for c, _ in chunks] == [2, 2, 1]
    assert [c["last"] for c, _ in chunks] == [False, False, True]
    assert {(c["file"], c["pos"]) for c, _ in chunks} == {idle}
    # asked again after the end, the pass does not start over
    _, chunks = dump(svc, "nokey", "--keyless", "--rows", 2, "--past-end")
    assert [(c["rows"], c["last"]) for c, _ in chunks] == [(2, False), (2, False), (1, True), (0, True)]
    assert {(c["file"], c["pos"]) for c, _ in chunks} == {idle}
    _, chunks = dump(svc, "nokey", "--keyless", "--rows", 5, "--past-end")
    assert [(c["rows"], c["last"]) for c, _ in chunks] == [(5, False), (0, True), (0, True)]


def test_missing_table(svc, client):
    p = dump(svc, "no_such_table", check=False)
    assert p.returncode == 1
    assert p.stderr.decode() == ("snap_dump: table `snaptest`.`no_such_table` does not exist (or has "
                                 "no columns this user can see)\n")


def test_empty_table(svc, client):
    client.run("CREATE OR REPLACE TABLE empty1 (k INT PRIMARY KEY)", db=DB)
    head, chunks = dump(svc, "empty1")
    assert head["max_key"] is None
    assert [(c["rows"], c["last"]) for c, _ in chunks] == [(0, True)]


def test_session_settings(svc, client):
    client.run("CREATE OR REPLACE TABLE sess (k INT PRIMARY KEY)", db=DB)
    head, _ = dump(svc, "sess", "--session", "--max-statement-time", "1.5", "--chunks", 0)
    assert head["session"] == "1.500000 REPEATABLE-READ +00:00"


def test_statement_time_limit_bites(svc, client):
    """A chunk SELECT longer than max_statement_time is stopped by the
    server; the keyless single pass (one statement for the whole table) is
    exempt, as the configuration asked for it."""
    client.run("CREATE OR REPLACE TABLE slow1 (k INT PRIMARY KEY, v VARCHAR(200)); "
               "INSERT INTO slow1 SELECT seq, REPEAT(MD5(seq), 4) FROM seq_1_to_300000; "
               "CREATE OR REPLACE TABLE slow2 (k INT, v VARCHAR(200)); "
               "INSERT INTO slow2 SELECT * FROM slow1", db=DB)
    # 300,000 rows (40 MB) cannot be read in a millisecond on any machine
    # (a 0.2 s limit did not bite on a fast one); 200 rows fit well in 0.2 s
    p = dump(svc, "slow1", "--rows", 1000000, "--max-statement-time", 0.001, check=False)
    assert p.returncode == 1
    assert p.stderr.decode().endswith(
        "Query execution was interrupted (max_statement_time exceeded)\n"), p.stderr
    _, chunks = dump(svc, "slow1", "--rows", 200, "--chunks", 20, "--max-statement-time", 0.2)
    assert sum(c["rows"] for c, _ in chunks) == 4000
    _, chunks = dump(svc, "slow2", "--keyless", "--rows", 1000000, "--max-statement-time", 0.2)
    assert sum(c["rows"] for c, _ in chunks) == 300000
    client.run("DROP TABLE slow1, slow2", db=DB)


def replay_upto(msgs, seq):
    """{key: after image text} of cc after the transactions up to GTID 0-1-seq."""
    image = {}
    for m, after_text in msgs:
        if int(m["gtid"].split("-")[2]) > seq:
            break
        if m["before"] is not None:
            del image[m["before"]["k"]]
        if m["after"] is not None:
            image[m["after"]["k"]] = after_text
    return image


@pytest.mark.parametrize("rows", [7, 40])
def test_each_chunk_is_the_table_at_its_binlog_point(svc, client, rows):
    """Under concurrent inserts, updates (key changes too) and deletes,
    each chunk's rows are exactly the rows of its key range in the table
    replayed from the binlog up to the chunk's P (BINLOG_GTID_POS(P))."""
    s = seed()
    rng = random.Random(s)
    # the check needs the writers to run while the chunks are read; a run
    # where the scheduler let one side finish first proves nothing and is
    # done again (at most three times)
    for attempt in range(3):
        client.run("DROP TABLE IF EXISTS cc; CREATE TABLE cc (k INT PRIMARY KEY, v INT, "
                   "s VARCHAR(20) CHARACTER SET utf8mb4)", db=DB)
        start = master_status(client)
        stmts = ["INSERT INTO cc VALUES (%d, 0, 'init')" % k for k in range(2, 601, 2)]
        for i in range(4000):
            k = rng.randint(1, 700)
            r = rng.random()
            if r < 0.3:
                stmts.append("INSERT IGNORE INTO cc VALUES (%d, %d, %s)" % (k, i, T.sql_utf8("\u00e9%d" % i)))
            elif r < 0.6:
                stmts.append("UPDATE cc SET v = %d, s = CONCAT(s, 'u') WHERE k = %d" % (i, k))
            elif r < 0.75:
                stmts.append("UPDATE IGNORE cc SET k = %d WHERE k = %d" % (rng.randint(1, 700), k))
            else:
                stmts.append("DELETE FROM cc WHERE k = %d" % k)
        # two writers: the odd and the even statements after the first rows
        writers = [subprocess.Popen(["mariadb", "--defaults-file=" + svc["ROWCAST_MARIADB_CNF"], "--force",
                                     DB], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for _ in range(2)]
        writers[0].stdin.write((";\n".join(stmts[:300]) + ";\n").encode())
        writers[0].stdin.flush()
        time.sleep(0.3)
        dumper = subprocess.Popen([DUMP, "--socket", svc["ROWCAST_MARIADB_SOCKET"], "--user", "root",
                                   "--db", DB, "--table", "cc", "--rows", str(rows), "--pause-ms", "30"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i, w in enumerate(writers):
            w.stdin.write((";\n".join(stmts[300 + i::2]) + ";\n").encode())
            w.stdin.close()
        out, errtext = dumper.communicate(timeout=120)
        assert dumper.returncode == 0, errtext
        for w in writers:
            assert w.wait(120) == 0
        lines = out.decode().split("\n")[:-1]
        head = json.loads(lines[0][2:])
        chunks = []
        for line in lines[1:]:
            if line.startswith("C "):
                chunks.append((json.loads(line[2:]), []))
            else:
                chunks[-1][1].append(line[2:])
        # the binlog of cc since its creation, in order, with each row's after text
        msgs = []
        for text in binlog_inserts(client, "cc", start, ops=("insert", "update", "delete")):
            m = json.loads(text)
            marker = ',"after":'
            msgs.append((m, text[text.rindex(marker) + len(marker):-1] if m["after"] else None))
        points = {c["pos"] for c, _ in chunks}
        print("%d chunks at %d binlog points, %d binlog rows" % (len(chunks), len(points), len(msgs)))
        if len(points) >= 3:
            break
    assert len(points) >= 3, "the writers did not run during the snapshot: %s" % points
    lo = None
    max_key = int(head["max_key"])
    for c, got in chunks:
        gtid = client.rows("SELECT BINLOG_GTID_POS('%s', %d)" % (c["file"], c["pos"]))[0][0]
        # the writers' domain (0) in a GTID state that may hold others
        seq = [int(g.split("-")[2]) for g in gtid.split(",") if g.split("-")[0] == "0"][0]
        image = replay_upto(msgs, seq)
        hi = int(c["last_key"]) if got and not c["last"] else max_key
        want = [image[k] for k in sorted(image) if (lo is None or k > lo) and k <= hi]
        assert got == want, "seed %d, chunk %s (P = %s)" % (s, c, gtid)
        if got:
            lo = int(c["last_key"])
    client.run("DROP TABLE cc", db=DB)
