# SPDX-License-Identifier: MIT
"""Snapshots beside the live stream (issue 15, points 3 and 4).

A consumer that applies rowcast's messages in order (read and insert rows as
upserts, updates as delete-before + upsert-after, deletes) must end with
exactly the table's rows as the server's SELECT shows them, and must never
receive a snapshot row older than a change of the same key it already had.
The tables are generated (seed printed as ROWCAST_SNAP_SEED=N) with three
kinds of key: an integer, a composite key with a case-insensitive string,
and a binary string; while the snapshot runs in chunks of 5 to 10 rows a
writer inserts (also above the largest key), updates values and keys,
deletes rows not yet read, rotates the binlog and alters the table.

The kill test stops rowcast with SIGKILL at random moments of a snapshot of
a large table under concurrent writes, restarts it each time, and checks
that the snapshot finishes with nothing lost and at most one chunk read
again per kill (ROWCAST_SNAP_KILLS, ROWCAST_SNAP_KILL_ROWS set its size).
"""
import base64
import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("ROWCAST_BIN", os.path.join(TOP, "build", "rowcast"))


def seed():
    s = int(os.environ.get("ROWCAST_SNAP_SEED", random.randrange(1, 10**9)))
    print("ROWCAST_SNAP_SEED=%d (rerun: ROWCAST_SNAP_SEED=%d scripts/itest "
          "tests/integration/test_snapshot_stream.py)" % (s, s))
    return s


# ---- the table kinds ----

KINDS = {
    # name: (key column definitions, key column names, value of key column i for n)
    "int": ("id INT NOT NULL", ["id"], "PRIMARY KEY (id)"),
    "composite_ci": ("a INT NOT NULL, b VARCHAR(16) COLLATE utf8mb4_general_ci NOT NULL",
                     ["a", "b"], "PRIMARY KEY (a, b)"),
    "binary": ("k VARBINARY(16) NOT NULL", ["k"], "UNIQUE KEY uk (k)"),
}


def key_values(kind, n, rng):
    """SQL literals and JSON values of a key numbered n (distinct for distinct n)."""
    if kind == "int":
        return ["%d" % n], [n]
    if kind == "composite_ci":
        a = n // 7
        # case and accents vary; the collation would call some of them equal,
        # so the number keeps them apart
        word = rng.choice(["abc", "ABC", "Äbc", "abç", "x", "zz", ""]) + "%d" % n
        return ["%d" % a, "'%s'" % word], [a, word]
    raw = n.to_bytes(4, "big") + bytes([rng.randrange(256)])
    return ["X'%s'" % raw.hex()], [base64.b64encode(raw).decode()]


class Table:
    def __init__(self, sql, kind, name, rng):
        self.sql, self.kind, self.name, self.rng = sql, kind, name, rng
        cols, self.key, pk = KINDS[kind]
        sql.run("CREATE TABLE %s (%s, v INT NOT NULL, s VARCHAR(40) NULL, %s) ENGINE=InnoDB"
                % (name, cols, pk))
        self.next = 1
        self.live = {}      # n -> SQL key literals

    def new_key(self):
        n = self.next
        self.next += 1
        lits, _ = key_values(self.kind, n, self.rng)
        return n, lits

    def end(self, run):
        """A last row, and wait until it is out: every change before it is
        out too; then stop rowcast cleanly."""
        n, lits = self.new_key()
        self.sql.run("INSERT INTO %s (%s, v, s) VALUES (%s, 0, 'the end')"
                     % (self.name, ", ".join(self.key), ", ".join(lits)))
        run.wait_for_marker(self.name, "the end")
        time.sleep(0.3)
        assert run.stop() == 0

    def where(self, lits):
        return " AND ".join("%s = %s" % (c, l) for c, l in zip(self.key, lits))

    def insert_many(self, count):
        vals = []
        for _ in range(count):
            n, lits = self.new_key()
            self.live[n] = lits
            vals.append("(%s, %d, 's%d')" % (", ".join(lits), n, n))
        for i in range(0, len(vals), 500):
            self.sql.run("INSERT INTO %s (%s, v, s) VALUES %s"
                         % (self.name, ", ".join(self.key), ", ".join(vals[i:i + 500])))

    def random_op(self, rng):
        """One random change; returns its name."""
        r = rng.random()
        if r < 0.25 or not self.live:
            n, lits = self.new_key()
            self.sql.run("INSERT INTO %s (%s, v, s) VALUES (%s, %d, NULL)"
                         % (self.name, ", ".join(self.key), ", ".join(lits), -n))
            self.live[n] = lits
            return "insert"
        # late keys are the ones a snapshot reads last: change them most
        keys = sorted(self.live)
        n = keys[int(len(keys) * (1 - rng.random() ** 3)) - 1] if rng.random() < 0.6 else \
            rng.choice(keys)
        lits = self.live[n]
        if r < 0.55:
            self.sql.run("UPDATE %s SET v = v + 1, s = '%s' WHERE %s"
                         % (self.name, uuid.uuid4().hex[:12], self.where(lits)))
            return "update"
        if r < 0.75:
            m, new = self.new_key()
            self.sql.run("UPDATE %s SET %s WHERE %s" % (
                self.name, ", ".join("%s = %s" % (c, l) for c, l in zip(self.key, new)),
                self.where(lits)))
            del self.live[n]
            self.live[m] = new
            return "key change"
        self.sql.run("DELETE FROM %s WHERE %s" % (self.name, self.where(lits)))
        del self.live[n]
        return "delete"

    def select(self, extra_cols=()):
        """The table as the server has it: {key tuple: {column: JSON value}}."""
        keyexpr = ["TO_BASE64(k)" if self.kind == "binary" else c for c in self.key]
        cols = keyexpr + ["v", "IFNULL(s, '~NULL~')"] + ["IFNULL(%s, '~NULL~')" % c
                                                         for c in extra_cols]
        out = {}
        for row in self.sql.rows("SELECT %s FROM %s" % (", ".join(cols), self.name)):
            nk = len(self.key)
            key = tuple(int(x) if c in ("id", "a") else x for c, x in zip(self.key, row[:nk]))
            vals = {"v": int(row[nk]), "s": None if row[nk + 1] == "~NULL~" else row[nk + 1]}
            for c, x in zip(extra_cols, row[nk + 2:]):
                vals[c] = None if x == "~NULL~" else int(x)
            out[key] = vals
        return out


# ---- running rowcast to a file ----

class Runner:
    def __init__(self, svc, tmp_path, include, extra=""):
        self.out = str(tmp_path / "out.jsonl")
        self.log = str(tmp_path / "rowcast.log")
        self.conf = str(tmp_path / "rowcast.conf")
        self.ckpt = str(tmp_path / "checkpoint")
        with open(self.conf, "w") as f:
            f.write("[source]\nhost = 127.0.0.1\nport = %s\nuser = rowcast\npassword = rowcast\n"
                    "server_id = %d\nheartbeat_period = 1\n"
                    "[checkpoint]\npath = %s\ninterval_ms = 200\n"
                    "[sink]\ntype = stdout\n"
                    "[filter]\ninclude = %s\nops = insert,update,delete,read\n%s"
                    % (svc["ROWCAST_MARIADB_PORT"], 2000 + os.getpid() % 50000, self.ckpt,
                       include, extra))
        self.p = None
        self.runs = []      # (start offset, end offset) of each run's output

    def start(self):
        start = os.path.getsize(self.out) if os.path.exists(self.out) else 0
        self.outf = open(self.out, "ab")
        self.logf = open(self.log, "a")
        self.p = subprocess.Popen([BIN, "-c", self.conf], stdout=self.outf, stderr=self.logf)
        self.runs.append(start)

    def logtext(self):
        return open(self.log).read()

    def wait_log(self, text, count=1, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.logtext().count(text) >= count:
                return
            if self.p.poll() is not None:
                raise AssertionError("rowcast exited %s:\n%s" % (self.p.returncode,
                                                                 self.logtext()[-4000:]))
            time.sleep(0.05)
        raise AssertionError("rowcast did not log %r in %d s:\n%s"
                             % (text, timeout, self.logtext()[-4000:]))

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        rc = self.p.wait(60)
        self.outf.close()
        self.logf.close()
        return rc

    def close(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def messages(self):
        """Each run's messages, in order (a killed run's last line may be cut)."""
        data = open(self.out, "rb").read()
        bounds = self.runs + [len(data)]
        runs = []
        for i in range(len(self.runs)):
            msgs = []
            for line in data[bounds[i]:bounds[i + 1]].split(b"\n"):
                if not line.strip():
                    continue
                try:
                    msgs.append(json.loads(line))
                except ValueError:
                    pass    # cut short by SIGKILL: not acknowledged, sent again
            runs.append(msgs)
        return runs

    def wait_for_marker(self, table, mark, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            data = open(self.out, "rb").read()
            if (b'"table":"%s"' % table.encode()) in data and mark.encode() in data:
                return
            time.sleep(0.1)
        raise AssertionError("marker %s never came out" % mark)


def key_of(msg_image, key):
    return tuple(msg_image[c] for c in key)


class Consumer:
    """Applies messages in order; checks that no read row is older than a
    change of its key applied before it, and that the before image of each
    update and delete is the row as the consumer has it (a read row newer
    than a change that follows it shows there)."""

    def __init__(self, key):
        self.key = key
        self.state = {}
        self.touched = set()
        self.stale = []

    def check_before(self, m):
        kb = key_of(m["before"], self.key)
        have = self.state.get(kb)
        if have is not None and any(c in m["before"] and have[c] != m["before"][c]
                                    for c in have):
            self.stale.append((m["id"], kb, have, m["before"]))

    def apply(self, m):
        op = m["op"]
        if op in ("insert", "read"):
            k = key_of(m["after"], self.key)
            if op == "read" and k in self.touched:
                have = self.state.get(k)
                if have is None or any(have.get(c) != m["after"].get(c) for c in have):
                    self.stale.append((m["id"], k, have, m["after"]))
            self.state[k] = dict(m["after"])
            if op == "insert":
                self.touched.add(k)
        elif op == "update":
            self.check_before(m)
            kb = key_of(m["before"], self.key)
            self.state.pop(kb, None)
            self.touched.add(kb)
            ka = key_of(m["after"], self.key)
            self.state[ka] = dict(m["after"])
            self.touched.add(ka)
        elif op == "delete":
            self.check_before(m)
            kb = key_of(m["before"], self.key)
            self.state.pop(kb, None)
            self.touched.add(kb)

    def rows(self, extra_cols=()):
        out = {}
        for k, img in self.state.items():
            vals = {"v": img["v"], "s": img["s"]}
            for c in extra_cols:
                vals[c] = img.get(c)
            out[k] = vals
        return out


def diff(want, got, limit=10):
    lines = []
    for k in sorted(set(want) | set(got), key=repr):
        if want.get(k) != got.get(k):
            lines.append("%r: SELECT %r, stream %r" % (k, want.get(k), got.get(k)))
    return "%d differences:\n%s" % (len(lines), "\n".join(lines[:limit]))


def writer(table, rng, stop, counts, ddl_after=None, rotate_every=40, pause=0.002):
    """Random changes until stop is set; one ALTER TABLE after ddl_after ops."""
    n = 0
    while not stop.is_set():
        op = table.random_op(rng)
        counts[op] = counts.get(op, 0) + 1
        n += 1
        if rotate_every and n % rotate_every == 0:
            table.sql.run("FLUSH BINARY LOGS")
            counts["rotation"] = counts.get("rotation", 0) + 1
        if ddl_after and n == ddl_after:
            table.sql.run("ALTER TABLE %s ADD COLUMN extra INT NULL" % table.name)
            counts["ddl"] = 1
        time.sleep(pause)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_snapshot_meets_the_stream(svc, sql, tmp_path, kind):
    s = seed()
    rng = random.Random(s)
    name = "ss_%s_%s" % (kind[:3], uuid.uuid4().hex[:6])
    t = Table(sql, kind, name, random.Random(s + 1))
    t.insert_many(1500)
    # the rows/s limit keeps the snapshot going for about 6 s whatever
    # rowcast's speed, so that the writer's ALTER and rotations come
    # during it (unpaced, 1500 rows take well under a second)
    run = Runner(svc, tmp_path, "rctest.%s" % name,
                 "[snapshot]\nmode = initial\nchunk_rows = 5\nmax_chunk_rows = 10\n"
                 "chunk_time_ms = 600000\nmax_rows_per_second = 250\n")
    stop = threading.Event()
    counts = {}
    th = threading.Thread(target=writer, args=(t, rng, stop, counts, 40))
    try:
        run.start()
        run.wait_log("streaming from")
        th.start()
        run.wait_log("%s done" % name, timeout=240)
        during = dict(counts)
        time.sleep(0.5)     # changes after the snapshot too
        stop.set()
        th.join()
        t.end(run)
    finally:
        stop.set()
        run.close()
    msgs = [m for m in run.messages()[0] if m.get("table") == name]
    c = Consumer(t.key)
    for m in msgs:
        c.apply(m)
    reads = sum(1 for m in msgs if m["op"] == "read")
    print("seed %d kind %s: %d messages, %d read rows, writes %r" % (s, kind, len(msgs), reads,
                                                                       counts))
    assert during.get("ddl") == 1, "the ALTER TABLE came after the snapshot: %r" % during
    assert during.get("rotation"), "no binlog rotation during the snapshot: %r" % during
    assert reads > 1000
    assert not c.stale, "read rows older than a change already applied: %r" % c.stale[:5]
    want = t.select(("extra",))
    got = c.rows(("extra",))
    assert want == got, "seed %d: %s" % (s, diff(want, got))


def test_snapshot_resumes_after_kills(svc, sql, tmp_path):
    s = seed()
    kills = int(os.environ.get("ROWCAST_SNAP_KILLS", "30"))
    nrows = int(os.environ.get("ROWCAST_SNAP_KILL_ROWS", "200000"))
    max_chunk = 2000
    rng = random.Random(s)
    name = "sk_%s" % uuid.uuid4().hex[:6]
    t = Table(sql, "int", name, random.Random(s + 1))
    sql.run("INSERT INTO %s (id, v, s) SELECT seq, seq, CONCAT('s', seq) FROM seq_1_to_%d"
            % (name, nrows))
    t.live = {n: ["%d" % n] for n in range(1, nrows + 1)}
    t.next = nrows + 1
    run = Runner(svc, tmp_path, "rctest.%s" % name,
                 "[snapshot]\nmode = initial\nchunk_rows = 500\nmax_chunk_rows = %d\n"
                 "chunk_time_ms = 50\nmax_rows_per_second = %d\n"
                 % (max_chunk, max(2000, nrows // 12)))
    stop = threading.Event()
    counts = {}
    th = threading.Thread(target=writer, args=(t, rng, stop, counts, None, 200, 0.005))
    killed = 0
    try:
        th.start()
        run.start()
        while True:
            run.wait_log("streaming from", len(run.runs), timeout=60)
            if killed == kills:
                break
            time.sleep(rng.uniform(0.05, 0.5))
            if "%s done" % name in run.logtext():
                break
            run.stop(signal.SIGKILL)
            killed += 1
            run.start()
        run.wait_log("%s done" % name, timeout=600)
        stop.set()
        th.join()
        t.end(run)
    finally:
        stop.set()
        run.close()
    runs = run.messages()
    c = Consumer(t.key)
    applied = set()
    for msgs in runs:
        for m in msgs:
            if m.get("table") != name:
                continue
            # a restart sends again what the checkpoint did not hold; a
            # consumer knows a change by its id (read rows are upserts)
            if m["op"] != "read":
                if m["id"] in applied:
                    continue
                applied.add(m["id"])
            c.apply(m)
    stale = c.stale
    # read rows sent again: by run, the keys read before that a later run read again
    seen = set()
    repeated = []
    for msgs in runs:
        keys = [m["after"]["id"] for m in msgs if m.get("table") == name and m["op"] == "read"]
        repeated.append(len(seen.intersection(keys)))
        seen.update(keys)
    print("seed %d: %d kills, %d runs, %d rows at start, writes %r, read rows sent again per "
          "restart %r (max %d)" % (s, killed, len(runs), nrows, counts, repeated[1:],
                                   max(repeated[1:] or [0])))
    assert killed == kills, "the snapshot ended after %d kills of %d" % (killed, kills)
    assert not stale, "seed %d: out of order: %r" % (s, stale[:5])
    assert len(seen) >= nrows * 0.9
    # at most the chunk in flight again per kill
    assert max(repeated) <= max_chunk, repeated
    want = t.select()
    got = c.rows()
    assert want == got, "seed %d: %s" % (s, diff(want, got))


def test_when_needed_snapshots_after_purged_binlogs(svc, sql, tmp_path):
    """[snapshot] mode = when_needed: the first start snapshots; a restart
    whose position was purged snapshots again from the current position
    instead of exiting 76, and the consumer still ends with the table."""
    name = "sw_%s" % uuid.uuid4().hex[:6]
    t = Table(sql, "int", name, random.Random(7))
    t.insert_many(300)
    run = Runner(svc, tmp_path, "rctest.%s" % name, "[snapshot]\nmode = when_needed\n")
    try:
        run.start()
        run.wait_log("%s done" % name)
        time.sleep(0.5)
        assert run.stop() == 0
        # changes while it is down, then every binlog they are in is purged
        rng = random.Random(11)
        for _ in range(40):
            t.random_op(rng)
        sql.run("FLUSH BINARY LOGS")
        for _ in range(40):
            t.random_op(rng)
        sql.run("FLUSH BINARY LOGS")
        sql.run("PURGE BINARY LOGS TO '%s'" % sql.rows("SHOW MASTER STATUS")[0][0])
        run.start()
        run.wait_log("%s done" % name, count=2)
        for _ in range(20):
            t.random_op(rng)
        t.end(run)
    finally:
        run.close()
    log = run.logtext()
    assert "binlogs the checkpoint needs were purged" in log and "when_needed" in log, log
    # a snapshot cannot tell of rows deleted while the binlog was lost: a
    # consumer rebuilding from a snapshot drops the rows it did not hear of
    # since that snapshot began (rowcast(8), when_needed)
    c = Consumer(t.key)
    applied = set()
    since = None
    for msgs in run.messages():
        for m in msgs:
            if m.get("table") != name or (m["op"] != "read" and m["id"] in applied):
                continue
            applied.add(m["id"])
            if m["id"].startswith("snapshot-2-") and since is None:
                since = set()
            c.apply(m)
            if since is not None and m["after"]:
                since.add(key_of(m["after"], t.key))
    assert since, "no second snapshot"
    for k in list(c.state):
        if k not in since:
            del c.state[k]
    want = t.select()
    assert want == c.rows(), diff(want, c.rows())


def test_keyless_table_refused_or_read_in_one_pass(svc, sql, tmp_path):
    """No usable key: skipped with the reason by default; with allow_keyless
    read in one pass at one point while the binlog waits, so a consumer
    (keying by a column the server does not know as a key) still ends with
    the table's rows under concurrent writes."""
    name = "sn_%s" % uuid.uuid4().hex[:6]
    sql.run("CREATE TABLE %s (id INT NOT NULL, v INT NOT NULL, s VARCHAR(40) NULL) "
            "ENGINE=InnoDB" % name)
    sql.run("INSERT INTO %s SELECT seq, seq, CONCAT('s', seq) FROM seq_1_to_30000" % name)
    (tmp_path / "a").mkdir()
    refused = Runner(svc, tmp_path / "a", "rctest.%s" % name, "[snapshot]\nmode = initial\n")
    try:
        refused.start()
        refused.wait_log("skipped")
        assert refused.stop() == 0
    finally:
        refused.close()
    assert "has no primary key and no unique index on NOT NULL columns" in refused.logtext()

    rng = random.Random(5)
    stop = threading.Event()
    counts = {"ops": 0}

    def write():
        n = 30001
        while not stop.is_set():
            k = rng.randrange(1, n)
            sql.run("INSERT INTO %s VALUES (%d, %d, NULL); UPDATE %s SET v = v + 1, s = 'u' "
                    "WHERE id = %d; DELETE FROM %s WHERE id = %d"
                    % (name, n, -n, name, k, name, rng.randrange(1, n)))
            counts["ops"] += 3
            n += 1
            time.sleep(0.005)

    (tmp_path / "b").mkdir()
    run = Runner(svc, tmp_path / "b", "rctest.%s" % name,
                 "[snapshot]\nmode = initial\nallow_keyless = yes\nchunk_rows = 1000\n")
    th = threading.Thread(target=write)
    try:
        th.start()
        run.start()
        run.wait_log("%s done" % name, timeout=120)
        stop.set()
        th.join()
        sql.run("INSERT INTO %s VALUES (0, 0, 'the end')" % name)
        run.wait_for_marker(name, "the end")
        time.sleep(0.3)
        assert run.stop() == 0
    finally:
        stop.set()
        run.close()
    assert "read in one pass" in run.logtext()
    c = Consumer(["id"])
    for m in run.messages()[0]:
        if m.get("table") == name:
            c.apply(m)
    want = {(int(a),): {"v": int(b), "s": None if s == "~NULL~" else s} for a, b, s in
            sql.rows("SELECT id, v, IFNULL(s, '~NULL~') FROM %s" % name)}
    assert counts["ops"] > 0
    assert not c.stale, c.stale[:5]
    assert want == c.rows(), diff(want, c.rows())
