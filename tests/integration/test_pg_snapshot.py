# SPDX-License-Identifier: MIT
"""The initial snapshot of the PostgreSQL source (issues 15 and 16, point 6):
with [snapshot] mode = initial, rowcast creates its slot with an exported
snapshot, reads the published tables in that snapshot and then streams from
the slot, so the snapshot and the stream meet with nothing lost or repeated.

- every built-in type: the read rows equal the server's SELECT (the value
  oracle of test_pg_values), while a writer changes the table throughout;
  every read row comes before every change, no change is repeated, and the
  rows replayed equal the table at the end;
- a kill -9 in the middle of the snapshot: the next start sees the
  snapshot pending in its checkpoint, drops the slot, makes it again and
  snapshots anew; the consumer still ends with the table's rows.
"""
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_pg_values as pv  # noqa: E402
from test_pg_values import pg  # noqa: E402,F401
import test_pg_source as ps  # noqa: E402
from test_pg_source import BIN, InSchema, make, rowcasts  # noqa: E402,F401

pytestmark = pytest.mark.skipif(pv._skip_reason() is not None or not os.path.exists(BIN),
                                reason=str(pv._skip_reason() or "rowcast not built"))


@pytest.fixture(autouse=True)
def this_modules_database(monkeypatch):
    """test_pg_source's Rowcast connects to its module's database; the pg
    fixture made this module's."""
    monkeypatch.setattr(ps, "DB", pv.dbname(__name__))


def apply(msgs, table):
    """The table the messages give: read and insert rows are upserts."""
    image = {}
    for m in msgs:
        if m.get("table") != table:
            continue
        if m["op"] in ("insert", "read"):
            image[m["after"]["id"]] = dict(m["after"])
        elif m["op"] == "update":
            old = image.pop(m["before"]["id"], {})
            old.update(m["after"])
            image[m["after"]["id"]] = old
        elif m["op"] == "delete":
            image.pop(m["before"]["id"], None)
    return image


def writer(pg, schema, stop, start_id, counts):
    """Inserts, updates and deletes on ids until stop is set."""
    r = random.Random(start_id)
    i = start_id
    while not stop.is_set():
        k = r.randrange(1, i)
        pg.psql("SET search_path = %s; INSERT INTO w VALUES (%d, %d, 'w%d');"
                "UPDATE w SET v = v + 1 WHERE id = %d; DELETE FROM w WHERE id = %d;"
                % (schema, i, i, i, k, r.randrange(1, i)))
        counts["ops"] = counts.get("ops", 0) + 3
        i += 1
        time.sleep(0.01)


def test_initial_snapshot_meets_the_stream(pg, tmp_path, rowcasts):
    seed = int(os.environ.get("ROWCAST_PG_SEED", random.randrange(1 << 30)))
    print("seed %d (ROWCAST_PG_SEED=%d repeats this run)" % (seed, seed), file=sys.stderr)
    r = random.Random(seed)
    cols = pv.columns()
    pg.psql("CREATE SCHEMA sn; SET search_path = sn;"
            "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy, very');"
            "CREATE DOMAIN posint AS int CHECK (VALUE > 0);"
            "CREATE TABLE t (id int PRIMARY KEY, %s);"
            "CREATE TABLE w (id int PRIMARY KEY, v int, s text);"
            "INSERT INTO w SELECT g, g, 'w' || g FROM generate_series(1, 20000) g;"
            "CREATE PUBLICATION sn_pub FOR TABLE t, w;"
            % ", ".join("%s %s" % (c[0], c[1]) for c in cols))
    stmts = []
    for i in range(1, 61):
        vals = [str(i)] + [("NULL" if r.random() < 0.05 else c[2](r)) for c in cols]
        stmts.append("INSERT INTO t VALUES (%s);" % ", ".join(vals))
    pg.psql("SET search_path = sn;" + "\n".join(stmts))
    stop = threading.Event()
    counts = {}
    th = threading.Thread(target=writer, args=(pg, "sn", stop, 20001, counts))
    th.start()
    rc = make(rowcasts, tmp_path, "sn_slot", "sn_pub",
              extra="create_slot = yes\n[snapshot]\nmode = initial\n"
                    "[filter]\nops = insert,update,delete,read")
    try:
        rc.start()
        rc.wait_log("snapshot 1: sn.w: reading")
        time.sleep(1.0)
    finally:
        stop.set()
        th.join()
    pg.psql("INSERT INTO sn.w VALUES (0, 0, 'the end');")
    msgs = rc.wait_rows(lambda m: any(x.get("after") and x["after"].get("s") == "the end"
                                      for x in m))
    assert rc.stop() == 0
    # the snapshot first, then the stream; no change twice
    ops = [m["op"] for m in msgs if m.get("table") in ("t", "w") and
           m["op"] in ("read", "insert", "update", "delete")]
    marks = [(m["op"], m["table"]) for m in msgs if m["op"].startswith("snapshot-")]
    assert marks == [("snapshot-start", "t"), ("snapshot-complete", "t"),
                     ("snapshot-start", "w"), ("snapshot-complete", "w")], marks
    first_change = next(i for i, o in enumerate(ops) if o != "read")
    assert all(o != "read" for o in ops[first_change:]), "a read row after a change"
    ids = [m["id"] for m in msgs if m["op"] in ("insert", "update", "delete")]
    assert len(ids) == len(set(ids)), "a change published twice"
    assert counts["ops"] > 30
    # every type exact: the read rows of t against the server's own SELECT
    image = apply(msgs, "t")
    want = pv.oracle(InSchema(pg, "sn"), cols)
    assert sorted(image) == [w[0] for w in want]
    changes = [{"op": "X", "new": row, "unchanged": [],
                "inexact": [c[0] for c in cols if c[3] == "fallback" and
                            row.get(c[0]) is not None]} for row in image.values()]
    assert pv.check_rows(cols, changes, want, "X") == len(want)
    # w, written to throughout: the rows replayed are the table's
    got = {k: (v["v"], v["s"]) for k, v in apply(msgs, "w").items()}
    have = {int(a): (int(b), c) for a, b, c in
            (line.split("|") for line in pg.psql("SELECT id, v, s FROM sn.w").splitlines())}
    assert got == have


def test_killed_snapshot_starts_again(pg, tmp_path, rowcasts):
    pg.psql("CREATE SCHEMA sk; SET search_path = sk;"
            "CREATE TABLE w (id int PRIMARY KEY, v int, s text);"
            "INSERT INTO w SELECT g, g, 'w' || g FROM generate_series(1, 200000) g;"
            "CREATE PUBLICATION sk_pub FOR TABLE w;")
    # paced (200,000 rows in about 10 s), so that the kill comes mid-snapshot
    rc = make(rowcasts, tmp_path, "sk_slot", "sk_pub",
              extra="create_slot = yes\n[snapshot]\nmode = initial\n"
                    "max_rows_per_second = 20000\n"
                    "[filter]\nops = insert,update,delete,read")
    rc.start(wait=False)
    rc.wait_rows(lambda m: len(m) > 20000)
    rc.p.send_signal(signal.SIGKILL)
    rc.p.wait()
    assert "snapshot = pending" in open(rc.ckpt).read()
    pg.psql("SET search_path = sk; UPDATE w SET v = -v WHERE id % 1000 = 0;"
            "DELETE FROM w WHERE id % 777 = 0; INSERT INTO w VALUES (0, 0, 'the end');")
    rc.start(wait=False)
    msgs = rc.wait_rows(lambda m: any(x.get("after") and x["after"].get("s") == "the end"
                                      for x in m), timeout=120)
    assert rc.stop() == 0
    assert "dropped replication slot sk_slot" in open(rc.log).read()
    got = {k: (v["v"], v["s"]) for k, v in apply(msgs, "w").items()}
    have = {int(a): (int(b), c) for a, b, c in
            (line.split("|") for line in pg.psql("SELECT id, v, s FROM sk.w").splitlines())}
    # the second snapshot is the table; the first one's rows are upserts of
    # rows that may be gone since: a consumer rebuilding from the second one
    # drops them (its read rows name snapshot 1 again: the new slot's)
    assert set(have) <= set(got)
    assert {k: got[k] for k in have} == have
    ckpt = open(rc.ckpt).read()
    assert "snapshot = done" in ckpt, ckpt


def test_on_demand_snapshot_while_streaming(pg, tmp_path, rowcasts):
    """rowcast snapshot schema.table on a running PostgreSQL source: chunks
    by primary key, each held until the stream reaches the high-water mark
    written after it, rows changed meanwhile left out; under writes, a
    consumer ends with the table and every update's before image is the row
    it holds (a read row newer than a change after it would show there)."""
    # REPLICA IDENTITY FULL: before images hold every column to check
    pg.psql("CREATE SCHEMA od; SET search_path = od;"
            "CREATE TABLE w (id int PRIMARY KEY, v int, s text);"
            "ALTER TABLE w REPLICA IDENTITY FULL;"
            "INSERT INTO w SELECT g, g, 'w' || g FROM generate_series(1, 30000) g;"
            "CREATE TABLE nokey (a int); ALTER TABLE nokey REPLICA IDENTITY FULL;"
            "CREATE PUBLICATION od_pub FOR TABLE w, nokey;")
    rc = make(rowcasts, tmp_path, "od_slot", "od_pub", extra="create_slot = yes\n")
    rc.start()
    stop = threading.Event()
    counts = {}
    th = threading.Thread(target=writer, args=(pg, "od", stop, 30001, counts))
    th.start()
    # and a fast one inside the server: a commit every millisecond or so,
    # many of them between a chunk's read and the stream reaching it
    fast = subprocess.Popen(
        ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(pv.PORT), "-U", "postgres", "-d",
         pv.dbname(__name__), "-c",
         "DO $$ BEGIN FOR i IN 1..20000 LOOP"
         " UPDATE od.w SET v = v + 1, s = 'f' || i WHERE id = 1 + (random() * 29999)::int;"
         " COMMIT; PERFORM pg_sleep(0.0005); END LOOP; END $$;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        p = subprocess.run([BIN, "snapshot", "-c", rc.conf, "od.w"], capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "queued" in p.stdout + p.stderr
        bad = subprocess.run([BIN, "snapshot", "-c", rc.conf, "od.nokey"], capture_output=True,
                             text=True, timeout=60)
        assert bad.returncode != 0 and "no primary key" in bad.stdout + bad.stderr, \
            bad.stdout + bad.stderr
        rc.wait_log("od.w done", timeout=120)
        time.sleep(0.5)
    finally:
        stop.set()
        th.join()
        # the loop runs in the server: end its backend, not only psql
        pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query LIKE 'DO $$ BEGIN FOR i IN 1..20000%' AND pid <> pg_backend_pid()")
        fast.wait()
    pg.psql("INSERT INTO od.w VALUES (0, 0, 'the end');")
    msgs = rc.wait_rows(lambda m: any(x.get("after") and x["after"].get("s") == "the end"
                                      for x in m))
    assert rc.stop() == 0
    reads = [m for m in msgs if m["op"] == "read"]
    assert len(reads) > 25000 and all(m["snapshot"]["on_demand"] for m in reads)
    state, bad_before = {}, []
    for m in msgs:
        if m.get("table") != "w":
            continue
        if m["op"] in ("update", "delete"):
            b = m["before"]
            have = state.get(b["id"])
            if have is not None and any(k in b and b[k] != have[k] for k in have):
                bad_before.append((m["id"], have, b))
            state.pop(b["id"], None)
        if m["op"] in ("insert", "update", "read"):
            state[m["after"]["id"]] = dict(m["after"])
    got = apply(msgs, "w")
    print("updates", sum(1 for m in msgs if m["op"] == "update"), "reads", len(reads), "bad", len(bad_before))
    assert not bad_before, bad_before[:3]
    got = {k: (v["v"], v["s"]) for k, v in got.items()}
    have = {int(a): (int(b), c) for a, b, c in
            (line.split("|") for line in pg.psql("SELECT id, v, s FROM od.w").splitlines())}
    assert counts["ops"] > 30
    assert got == have


def test_on_demand_snapshot_survives_kills(pg, tmp_path, rowcasts):
    """The tables a snapshot asked for while running has left, and the last
    key handed over, are in the checkpoint: after kill -9 the next start
    reads on from there (a chunk at most again), and the consumer still
    ends with the table."""
    pg.psql("CREATE SCHEMA ok; SET search_path = ok;"
            "CREATE TABLE w (a int, b text, v int, s text, PRIMARY KEY (a, b));"
            "ALTER TABLE w REPLICA IDENTITY FULL;"
            "INSERT INTO w SELECT g / 3, 'k' || (g % 3) || E'\\t,x', g, 'w' || g"
            " FROM generate_series(1, 90000) g;"
            "CREATE PUBLICATION ok_pub FOR TABLE w;")
    rc = make(rowcasts, tmp_path, "ok_slot", "ok_pub",
              extra="create_slot = yes\n[snapshot]\nmax_rows_per_second = 15000\n")
    rc.start()
    p = subprocess.run([BIN, "snapshot", "-c", rc.conf, "ok.w", "--where", "v % 7 <> 3"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    kills = 0
    for _ in range(4):
        rc.wait_rows(lambda m: sum(1 for x in m if x["op"] == "read") > 15000 * (kills + 1),
                     timeout=120)
        if "ok.w done" in open(rc.log).read():
            break
        rc.p.send_signal(signal.SIGKILL)
        rc.p.wait()
        kills += 1
        pg.psql("UPDATE ok.w SET v = v + 7, s = 'k%d' WHERE a %% 997 = %d;" % (kills, kills))
        rc.start()
    rc.wait_log("ok.w done", timeout=120)
    pg.psql("INSERT INTO ok.w VALUES (-1, 'end', 0, 'the end');")
    msgs = rc.wait_rows(lambda m: any(x.get("after") and x["after"].get("s") == "the end"
                                      for x in m))
    assert rc.stop() == 0
    assert kills >= 2, kills
    log = open(rc.log).read()
    assert log.count("reading by its primary key") == 1, "the snapshot began again"
    # the rows the WHERE takes, as the table has them, each read at least once
    want = {(int(a), b): (int(v), s) for a, b, v, s in
            (line.split("|") for line in
             pg.psql("SELECT a, replace(b, E'\\t', '<TAB>'), v, s FROM ok.w WHERE v % 7 <> 3"
                     " AND a >= 0").splitlines())}
    got = {}
    for m in msgs:
        if m.get("table") != "w":
            continue
        if m["op"] in ("read", "insert", "update"):
            a = m["after"]
            got[(a["a"], a["b"].replace("\t", "<TAB>"))] = (a["v"], a["s"])
    reads = [m for m in msgs if m["op"] == "read"]
    keys = [(m["after"]["a"], m["after"]["b"]) for m in reads]
    assert len(keys) - len(set(keys)) <= kills * 5000, (len(keys), len(set(keys)))
    missing = [k for k in want if k not in got]
    assert not missing, missing[:5]
    assert {k: got[k] for k in want} == want
