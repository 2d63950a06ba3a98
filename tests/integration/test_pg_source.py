# SPDX-License-Identifier: MIT
"""Live tests of the PostgreSQL source (issue 16): rowcast with
[source] type = postgresql against the private PostgreSQL 15 cluster of
scripts/services, in a database of this module's own (the `pg` fixture of
test_pg_values.py), writing JSON lines with the file sink.

- the rows replayed from rowcast's messages equal the server's SELECT, for a
  table with a column of every built-in type (test_pg_values' oracle), and an
  unchanged TOASTed column is absent from `after`, never null;
- SIGTERM restarts: 0 duplicates, 0 lost; kill -9 restarts: 0 lost, every
  duplicate equal to its first copy;
- the walsender terminated mid-stream, and the server restarted
  mid-stream (scripts/services restart postgresql): rowcast reconnects,
  0 lost;
- the start-up checks, each with its message (wal_level last: it drops
  every slot and restarts the cluster with wal_level=replica for one start);
- an idle database: keepalives move the slot's confirmed_flush_lsn;
- pg_logical_emit_message with the configured prefix is an outbox;
- a broker outage (a private Mosquitto stopped mid-stream): 0 lost;
- the lag metric is the WAL the slot retains;
- a changed table is a ddl event (seen from the Relation message).
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import zlib

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_pg_values as pv  # noqa: E402  (the cluster and the value oracle)
from test_pg_values import pg  # noqa: E402,F401  (the module's cluster fixture)

BIN = os.environ.get("ROWCAST_BIN", os.path.join(pv.TOP, "build", "rowcast"))
DB = pv.dbname(__name__)	# the database the pg fixture makes for this module

pytestmark = pytest.mark.skipif(pv.SKIP is not None or not os.path.exists(BIN),
                                reason=str(pv.SKIP or "rowcast not built"))


class Rowcast:
    """One rowcast on one slot and publication, appending to out.jsonl."""

    def __init__(self, tmp_path, slot, pub, extra="", user="postgres", conninfo=False,
                 mqtt=None):
        self.dir = tmp_path
        self.out = str(tmp_path / ("%s.jsonl" % slot))
        self.ckpt = str(tmp_path / ("%s.ckpt" % slot))
        self.log = str(tmp_path / ("%s.log" % slot))
        self.conf = str(tmp_path / ("%s.conf" % slot))
        where = ("host = 127.0.0.1\nport = %d\nuser = %s\ndbname = %s\n" % (pv.PORT, user, DB)
                 if not conninfo
                 else "conninfo = host=127.0.0.1 port=%d user=%s dbname=%s\n"
                 % (pv.PORT, user, DB))
        with open(self.conf, "w") as f:
            f.write("[source]\ntype = postgresql\n%s"
                    "slot = %s\npublication = %s\nheartbeat_period = 1\n"
                    "reconnect_min_ms = 100\nreconnect_max_ms = 500\n%s\n"
                    "[checkpoint]\npath = %s\ninterval_ms = 50\n"
                    "[sink]\ntype = %s\npath = %s\nshutdown_timeout_ms = 5000\n%s"
                    % (where, slot, pub, extra, self.ckpt, "mqtt" if mqtt else "file",
                       self.out, "[mqtt]\nuri = %s\ntopic_prefix = pg\nclient_id = rc-%s\n"
                       % (mqtt, slot) if mqtt else ""))
        self.p = None
        self.starts = 0

    def start(self, wait=True):
        # a kill -9 may leave half a line: it was never acknowledged
        if os.path.exists(self.out):
            data = open(self.out, "rb").read()
            if data and not data.endswith(b"\n"):
                with open(self.out, "wb") as f:
                    f.write(data[:data.rfind(b"\n") + 1])
        self.starts = open(self.log).read().count("streaming slot") + 1 \
            if os.path.exists(self.log) else 1
        self.logf = open(self.log, "a")
        self.p = subprocess.Popen([BIN, "-c", self.conf], stdout=self.logf,
                                  stderr=subprocess.STDOUT)
        if wait:
            self.wait_log("streaming slot", self.starts)

    def wait_log(self, text, count=1, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if open(self.log).read().count(text) >= count:
                return
            if self.p.poll() is not None:
                raise AssertionError("rowcast exited %s:\n%s" % (self.p.returncode,
                                                                 open(self.log).read()))
            time.sleep(0.05)
        raise AssertionError("rowcast did not log %r:\n%s" % (text, open(self.log).read()))

    def exit_code(self, timeout=30):
        rc = self.p.wait(timeout)
        self.logf.close()
        return rc

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        return self.exit_code()

    def close(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def messages(self):
        if not os.path.exists(self.out):
            return []
        out = []
        for line in open(self.out, "rb").read().split(b"\n"):
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass	# the half line of a kill -9 still being written
        return out

    def wait_rows(self, pred, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            msgs = self.messages()
            if pred(msgs):
                return msgs
            if self.p.poll() is not None:
                raise AssertionError("rowcast exited %s:\n%s" % (self.p.returncode,
                                                                 open(self.log).read()))
            time.sleep(0.2)
        raise AssertionError("timed out; %d messages\n%s" % (len(self.messages()),
                                                           open(self.log).read()[-3000:]))


@pytest.fixture
def rowcasts():
    made = []
    yield made
    for r in made:
        r.close()


def make(rowcasts, tmp_path, slot, pub, **kw):
    r = Rowcast(tmp_path, slot, pub, **kw)
    rowcasts.append(r)
    return r


class InSchema:
    """pv.oracle() reads table t: this one's, in schema s."""

    def __init__(self, pg, schema):
        self.pg, self.schema = pg, schema

    def psql(self, sql, settings=""):
        return self.pg.psql(sql, settings="SET search_path = %s;\n%s" % (self.schema, settings))


def replay(msgs, table):
    """The table image the messages give, by id (an absent column keeps its value)."""
    image = {}
    for m in msgs:
        if m.get("table") != table:
            continue
        if m["op"] == "insert":
            image[m["after"]["id"]] = dict(m["after"])
        elif m["op"] == "update":
            old = image.pop(m["before"]["id"])
            old.update(m["after"])
            image[m["after"]["id"]] = old
        elif m["op"] == "delete":
            del image[m["before"]["id"]]
        elif m["op"] == "truncate":
            image.clear()
    return image


def test_replay_equals_select(pg, tmp_path, rowcasts):
    seed = int(os.environ.get("ROWCAST_PG_SEED", random.randrange(1 << 30)))
    print("seed %d (ROWCAST_PG_SEED=%d repeats this run)" % (seed, seed), file=sys.stderr)
    r = random.Random(seed)
    cols = pv.columns()
    pg.psql("CREATE SCHEMA rp; SET search_path = rp;"
            "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy, very');"
            "CREATE DOMAIN posint AS int CHECK (VALUE > 0);"
            "CREATE TABLE t (id int PRIMARY KEY, %s);"
            "ALTER TABLE t ALTER c_big SET STORAGE EXTERNAL;"
            "CREATE PUBLICATION rp_pub FOR TABLE t;"
            % ", ".join("%s %s" % (c[0], c[1]) for c in cols))
    rc = make(rowcasts, tmp_path, "rp_slot", "rp_pub", extra="create_slot = yes")
    rc.start()
    ids = list(range(1, 41))
    stmts = []
    for i in ids:
        vals = [str(i)] + [("NULL" if r.random() < 0.05 else c[2](r)) for c in cols]
        stmts.append("INSERT INTO t VALUES (%s);" % ", ".join(vals))
    # updates that leave the TOASTed column alone, key changes, deletes
    for i in ids[::2]:
        sets = ["%s = %s" % (c[0], c[2](r)) for c in r.sample(cols[:-1], 6)]
        stmts.append("UPDATE t SET %s WHERE id = %d;" % (", ".join(sets), i))
    stmts.append("UPDATE t SET id = 100 + id WHERE id IN (3, 5);")
    stmts.append("DELETE FROM t WHERE id IN (7, 9, 11);")
    pg.psql("SET search_path = rp; BEGIN;" + "\n".join(stmts[:40]) + "COMMIT; BEGIN;" +
            "\n".join(stmts[40:]) + "COMMIT;")
    n = len(stmts) - 2 + 2 + 3
    msgs = rc.wait_rows(lambda m: len(m) >= n)
    assert len(msgs) == n
    # the same id for no two messages; ts of the commit
    assert len({m["id"] for m in msgs}) == n
    assert all(re.fullmatch(r"[0-9A-F]+/[0-9A-F]+@\d+", m["id"]) for m in msgs)
    ups = [m for m in msgs if m["op"] == "update"]
    toasted = [m for m in ups if "c_big" not in m["after"]]
    assert toasted, "no update left the TOASTed column out"
    # null only where the row holds NULL
    inserted = {m["after"]["id"]: m["after"]["c_big"] for m in msgs if m["op"] == "insert"}
    for m in ups:
        if "c_big" in m["after"] and m["after"]["c_big"] is None:
            assert inserted[m["before"]["id"]] is None, m["id"]
    image = replay(msgs, "t")
    want = pv.oracle(InSchema(pg, "rp"), cols)
    assert sorted(image) == [w[0] for w in want]
    changes = []
    for row in image.values():
        changes.append({"op": "X", "new": row, "unchanged": [],
                        "inexact": [c[0] for c in cols
                                    if c[3] == "fallback" and row.get(c[0]) is not None]})
    assert pv.check_rows(cols, changes, want, "X") == len(want)
    # TRUNCATE is an event
    pg.psql("TRUNCATE rp.t;")
    msgs = rc.wait_rows(lambda m: len(m) >= n + 1)
    assert msgs[-1]["op"] == "truncate" and msgs[-1]["db"] == "rp" and msgs[-1]["table"] == "t"
    assert rc.stop() == 0


class Writer(threading.Thread):
    """Inserts total rows into table, batch rows per transaction."""

    def __init__(self, pg, table, total, batch=10, pause=0):
        super().__init__(daemon=True)
        self.pg, self.table, self.total, self.batch = pg, table, total, batch
        self.pause = pause

    def run(self):
        for start in range(1, self.total + 1, self.batch * 20):
            time.sleep(self.pause)
            sql = []
            for b in range(start, min(start + self.batch * 20, self.total + 1), self.batch):
                sql.append("INSERT INTO %s (id, v) SELECT g, md5(g::text) FROM "
                           "generate_series(%d, %d) g;" % (self.table, b,
                                                          min(b + self.batch - 1, self.total)))
            self.pg.psql("\n".join(sql))


def check_stream(msgs, total, allow_dups):
    rows = {}
    dups = 0
    for m in msgs:
        if m["op"] != "insert":
            continue
        rid = m["after"]["id"]
        if rid in rows:
            dups += 1
            assert m == rows[rid], "a duplicate differs from its first copy"
        else:
            rows[rid] = m
    assert sorted(rows) == list(range(1, total + 1)), "lost rows: %s" % (
        sorted(set(range(1, total + 1)) - set(rows))[:20])
    if not allow_dups:
        assert dups == 0
    return dups


def load_table(pg, name):
    pg.psql("CREATE TABLE %s (id int PRIMARY KEY, v text);"
            "CREATE PUBLICATION %s_pub FOR TABLE %s;"
            "SELECT 'x' FROM pg_create_logical_replication_slot('%s_slot', 'pgoutput');"
            % (name, name, name, name))


def test_sigterm_restarts_no_duplicates(pg, tmp_path, rowcasts):
    load_table(pg, "st")
    rc = make(rowcasts, tmp_path, "st_slot", "st_pub")
    rc.start()
    w = Writer(pg, "st", 6000)
    w.start()
    for _ in range(4):
        time.sleep(0.7)
        assert rc.stop() == 0
        rc.start()
    w.join()
    msgs = rc.wait_rows(lambda m: len({x["after"]["id"] for x in m}) >= 6000)
    assert rc.stop() == 0
    check_stream(msgs, 6000, allow_dups=False)


def test_kill9_restarts_lose_nothing(pg, tmp_path, rowcasts):
    # the full run: ROWCAST_PG_KILLS=30 ROWCAST_PG_KILL_ROWS=50000
    kills = int(os.environ.get("ROWCAST_PG_KILLS", "10"))
    total = int(os.environ.get("ROWCAST_PG_KILL_ROWS", "10000"))
    load_table(pg, "k9")
    rc = make(rowcasts, tmp_path, "k9_slot", "k9_pub")
    rc.start()
    w = Writer(pg, "k9", total, batch=5)
    w.start()
    for _ in range(kills):
        time.sleep(random.uniform(0.2, 0.6))
        rc.stop(signal.SIGKILL)
        rc.start()
    w.join()
    msgs = rc.wait_rows(lambda m: len({x["after"]["id"] for x in m}) >= total, timeout=120)
    assert rc.stop() == 0
    dups = check_stream(msgs, total, allow_dups=True)
    print("kill -9 x%d over %d rows: %d duplicates, all equal to their first copy"
          % (kills, total, dups),
          file=sys.stderr)


def test_walsender_terminated_reconnects(pg, tmp_path, rowcasts):
    load_table(pg, "ws")
    rc = make(rowcasts, tmp_path, "ws_slot", "ws_pub")
    rc.start()
    w = Writer(pg, "ws", 5000)
    w.start()
    for i in range(3):
        time.sleep(0.5)
        pg.psql("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                "WHERE slot_name = 'ws_slot' AND active_pid IS NOT NULL;")
        rc.wait_log("streaming slot", 2 + i)	# reconnected
    w.join()
    msgs = rc.wait_rows(lambda m: len({x["after"]["id"] for x in m}) >= 5000)
    assert rc.stop() == 0
    check_stream(msgs, 5000, allow_dups=True)


def test_idle_keepalives_advance_the_slot(pg, tmp_path, rowcasts):
    load_table(pg, "idle")
    pg.psql("CREATE TABLE idle_other (id int PRIMARY KEY);")
    rc = make(rowcasts, tmp_path, "idle_slot", "idle_pub")
    rc.start()
    pg.psql("INSERT INTO idle_other SELECT generate_series(1, 1000);")
    end = pg.psql("SELECT pg_current_wal_lsn();").strip()
    deadline = time.time() + 20
    ok = False
    while time.time() < deadline and not ok:
        ok = pg.psql("SELECT confirmed_flush_lsn >= '%s' FROM pg_replication_slots "
                     "WHERE slot_name = 'idle_slot';" % end).strip() == "t"
        time.sleep(0.3)
    assert ok, "confirmed_flush_lsn did not pass %s on an idle publication" % end
    assert rc.stop() == 0


def test_lag_is_wal_retained_by_the_slot(pg, tmp_path, rowcasts):
    import socket
    import urllib.request
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    load_table(pg, "lag")
    rc = make(rowcasts, tmp_path, "lag_slot", "lag_pub", conninfo=True,
              extra="[metrics]\nlisten = 127.0.0.1:%d" % port)
    rc.start()
    pg.psql("INSERT INTO lag SELECT g, md5(g::text) FROM generate_series(1, 2000) g;")
    rc.wait_rows(lambda m: len(m) >= 2000)

    def lag():
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("rowcast_source_lag_bytes "):
                    return int(float(line.split()[1]))
        return None

    want = int(pg.psql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
                       "FROM pg_replication_slots WHERE slot_name = 'lag_slot';"))
    deadline = time.time() + 15
    got = lag()
    while time.time() < deadline and (got is None or got < 0):
        time.sleep(0.5)
        got = lag()
    assert got is not None and got >= 0, got
    assert got <= want + 1024 * 1024, (got, want)
    assert rc.stop() == 0


def test_emit_message_is_an_outbox(pg, tmp_path, rowcasts):
    load_table(pg, "obx")
    rc = make(rowcasts, tmp_path, "obx_slot", "obx_pub",
              extra="message_prefix = rowcast.outbox\n"
                    "[outbox orders]\ntable = pg_message.rowcast.outbox")
    rc.start()
    ev = ('{"id":"e%d","aggregatetype":"order","aggregateid":"4%d","type":"created",'
          '"payload":{"n":%d}}')
    pg.psql("BEGIN; INSERT INTO obx VALUES (1, 'a');"
            "SELECT 'x' FROM pg_logical_emit_message(true, 'rowcast.outbox', '%s');"
            "SELECT 'x' FROM pg_logical_emit_message(true, 'other.prefix', '%s');"
            "SELECT 'x' FROM pg_logical_emit_message(true, 'rowcast.outbox', 'not json');"
            "COMMIT;"
            "BEGIN; SELECT 'x' FROM pg_logical_emit_message(true, 'rowcast.outbox', '%s');"
            "ROLLBACK;"
            "SELECT 'x' FROM pg_logical_emit_message(true, 'rowcast.outbox', '%s');"
            % (ev % (1, 1, 1), ev % (2, 2, 2), ev % (3, 3, 3), ev % (4, 4, 4)))
    msgs = rc.wait_rows(lambda m: len(m) >= 3)
    time.sleep(1)
    msgs = rc.messages()
    # the row, then the payloads as they are: not the other prefix, not the
    # rolled back one, not the one that is no JSON object (a warning)
    assert [m.get("op") for m in msgs[:1]] == ["insert"]
    assert msgs[1:] == [{"n": 1}, {"n": 4}]
    assert "a message with prefix rowcast.outbox is not a JSON object: skipped" in \
        open(rc.log).read()
    assert rc.stop() == 0


def test_truncate_ids(pg, tmp_path, rowcasts):
    # each truncated table its own id, numbered over the transaction: one
    # TRUNCATE of two tables, then two TRUNCATE statements in one transaction
    pg.psql("CREATE TABLE tra (id int PRIMARY KEY); CREATE TABLE trb (id int PRIMARY KEY);"
            "CREATE TABLE trc (id int PRIMARY KEY);"
            "CREATE PUBLICATION tr_pub FOR TABLE tra, trb, trc;")
    rc = make(rowcasts, tmp_path, "tr_slot", "tr_pub", extra="create_slot = yes")
    rc.start()
    pg.psql("BEGIN; INSERT INTO trc VALUES (1); TRUNCATE tra, trb; COMMIT;"
            "BEGIN; INSERT INTO tra VALUES (2); TRUNCATE trc; TRUNCATE trb, tra; COMMIT;")
    # the server's word: every table empty
    assert pg.psql("SELECT (SELECT count(*) FROM tra) + (SELECT count(*) FROM trb) + "
                   "(SELECT count(*) FROM trc);").strip() == "0"
    msgs = rc.wait_rows(lambda m: len(m) >= 7)
    time.sleep(0.5)	# an eighth (a duplicate) would show up too
    msgs = rc.messages()
    assert rc.stop() == 0
    assert [(m["op"], m["table"]) for m in msgs] == [
        ("insert", "trc"), ("truncate", "tra"), ("truncate", "trb"),
        ("insert", "tra"), ("truncate", "trc"), ("truncate", "trb"), ("truncate", "tra")]
    # the insert opening each transaction names its commit LSN (<LSN>@0)
    a, b = msgs[0]["id"].split("@")[0], msgs[3]["id"].split("@")[0]
    assert a != b and msgs[0]["id"] == a + "@0" and msgs[3]["id"] == b + "@0"
    assert [m["id"] for m in msgs if m["op"] == "truncate"] == [
        a + "@truncate0", a + "@truncate1", b + "@truncate0", b + "@truncate1", b + "@truncate2"]
    assert all(m["gtid"] == m["id"].split("@")[0] for m in msgs if m["op"] == "truncate")


def test_ddl_noticed_from_relation_messages(pg, tmp_path, rowcasts):
    load_table(pg, "ddl")
    rc = make(rowcasts, tmp_path, "ddl_slot", "ddl_pub",
              extra="[routing]\nddl_events = true\ninclude_query = true")
    rc.start()
    pg.psql("INSERT INTO ddl VALUES (1, 'a');")
    rc.wait_rows(lambda m: len(m) >= 1)
    # a reconnect describes the table again, unchanged: no event
    pg.psql("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
            "WHERE slot_name = 'ddl_slot';")
    rc.wait_log("streaming slot", 2)
    pg.psql("INSERT INTO ddl VALUES (2, 'b');")
    rc.wait_rows(lambda m: len(m) >= 2)
    pg.psql("ALTER TABLE ddl ADD COLUMN n numeric(10,2); INSERT INTO ddl VALUES (3, 'c', 1.5);")
    msgs = rc.wait_rows(lambda m: len(m) >= 4)
    assert [m["op"] for m in msgs] == ["insert", "insert", "ddl", "insert"]
    assert msgs[2]["db"] == "public"
    assert msgs[2]["query"] == ("ALTER TABLE `public`.`ddl` /* described anew by the server: "
                                "id integer, v text, n numeric */")
    assert msgs[3]["after"] == {"id": 3, "v": "c", "n": "1.50"}
    assert rc.stop() == 0


def test_sigterm_while_connecting_to_a_silent_server(tmp_path, rowcasts):
    import socket
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)	# the handshake completes; nothing ever answers
    rc = Rowcast(tmp_path, "silent_slot", "silent_pub", extra="connect_timeout = 60")
    rowcasts.append(rc)
    with open(rc.conf) as f:
        conf = f.read().replace("port = %d" % pv.PORT, "port = %d" % silent.getsockname()[1])
    with open(rc.conf, "w") as f:
        f.write(conf)
    rc.start(wait=False)
    time.sleep(1.5)
    assert rc.p.poll() is None
    t0 = time.time()
    rc.p.send_signal(signal.SIGTERM)
    rc.exit_code(timeout=10)
    assert time.time() - t0 < 3, "connect was not interrupted"
    silent.close()


def test_broker_outage_loses_nothing(pg, tmp_path, rowcasts):
    import test_outage as to
    outage = float(os.environ.get("ROWCAST_PG_OUTAGE_S", "5"))
    load_table(pg, "bo")
    broker = to.Broker(str(tmp_path))
    try:
        path = str(tmp_path / "sub.txt")
        sub, f = to.subscriber(broker.port, "pg/#", path)
        time.sleep(0.5)
        rc = make(rowcasts, tmp_path, "bo_slot", "bo_pub",
                  mqtt="tcp://127.0.0.1:%d" % broker.port)
        rc.start()
        w = Writer(pg, "bo", 4000, batch=10, pause=0.3)
        w.start()
        time.sleep(1)
        broker.stop()
        time.sleep(outage)
        assert rc.p.poll() is None, "rowcast exited during the outage"
        broker.start()
        w.join()
        deadline = time.time() + 60
        while time.time() < deadline and \
                len({m["after"]["id"] for m in to.read_msgs(path)}) < 4000:
            time.sleep(0.2)
        assert rc.stop() == 0
        sub.terminate()
        f.close()
        check_stream(to.read_msgs(path), 4000, allow_dups=True)
    finally:
        broker.close()


def startup_error(rowcasts, tmp_path, slot, pub, **kw):
    rc = make(rowcasts, tmp_path, slot, pub, **kw)
    rc.start(wait=False)
    code = rc.exit_code()
    return code, open(rc.log).read()


def test_startup_checks(pg, tmp_path, rowcasts):
    pg.psql("CREATE TABLE chk (id int PRIMARY KEY); CREATE TABLE nokey (v int);"
            "CREATE PUBLICATION chk_pub FOR TABLE chk;"
            "CREATE PUBLICATION nokey_pub FOR TABLE chk, nokey;"
            "DROP ROLE IF EXISTS norep; CREATE ROLE norep LOGIN;")
    code, log = startup_error(rowcasts, tmp_path, "chk_slot", "chk_pub")
    assert code == 76
    assert ("replication slot chk_slot does not exist: SELECT "
            "pg_create_logical_replication_slot('chk_slot', 'pgoutput'), or set [source] "
            "create_slot = yes") in log
    code, log = startup_error(rowcasts, tmp_path, "chk_slot2", "nosuch_pub")
    assert code == 76
    assert "publication nosuch_pub does not exist: CREATE PUBLICATION nosuch_pub" in log
    code, log = startup_error(rowcasts, tmp_path, "chk_slot3", "nokey_pub")
    assert code == 76
    assert ("table public.nokey is in publication nokey_pub but has no replica identity "
            "(no primary key): the application's own UPDATE and DELETE on it fail") in log
    code, log = startup_error(rowcasts, tmp_path, "chk_slot4", "chk_pub", user="norep")
    assert code == 76
    assert "role norep lacks the REPLICATION attribute (ALTER ROLE norep REPLICATION)" in log

    # a slot another consumer holds
    rc = make(rowcasts, tmp_path, "chk_slot5", "chk_pub", extra="create_slot = yes")
    rc.start()
    (tmp_path / "second").mkdir()
    second = Rowcast(tmp_path / "second", "chk_slot5", "chk_pub")
    rowcasts.append(second)
    second.start(wait=False)
    code = second.exit_code(timeout=60)
    log = open(second.log).read()
    assert code == 75
    assert re.search(r"replication slot chk_slot5 is active for PID \d+: another rowcast or "
                     r"consumer reads it", log), log
    # the system identifier is written with the first acknowledged commit
    pg.psql("INSERT INTO chk VALUES (1);")
    rc.wait_rows(lambda m: len(m) == 1)
    assert rc.stop() == 0

    # a checkpoint of another cluster
    text = open(rc.ckpt).read()
    assert "system_identifier = " in text
    body = re.sub(r"system_identifier = \d+", "system_identifier = 1", text.split("\n[checksum]")[0])
    with open(rc.ckpt, "w") as f:
        f.write(body + "\n[checksum]\ncrc32 = %08x\n" % zlib.crc32(body.encode()))
    rc.start(wait=False)
    code = rc.exit_code()
    log = open(rc.log).read()
    assert code == 76
    assert "the checkpoint is of PostgreSQL cluster 1 but this server is cluster" in log

    # a slot gone while a checkpoint resumes from it: never created silently
    pg.psql("SELECT pg_drop_replication_slot('chk_slot5');")
    os.unlink(rc.ckpt)
    rc.start()
    assert rc.stop() == 0
    pg.psql("SELECT pg_drop_replication_slot('chk_slot5');")
    rc.start(wait=False)
    code = rc.exit_code()
    log = open(rc.log).read()
    assert code == 76
    assert ("replication slot chk_slot5 does not exist, but the checkpoint resumes from it: the "
            "changes since are lost") in log


def test_server_restart_mid_stream(pg, tmp_path, rowcasts):
    load_table(pg, "sr")
    rc = make(rowcasts, tmp_path, "sr_slot", "sr_pub")
    rc.start()
    pg.psql("INSERT INTO sr SELECT g, md5(g::text) FROM generate_series(1, 20000) g;")
    rc.wait_rows(lambda m: len(m) >= 1)
    pg.restart()
    pg.psql("INSERT INTO sr SELECT g, md5(g::text) FROM generate_series(20001, 23000) g;")
    rc.wait_log("streaming slot", 2)
    msgs = rc.wait_rows(lambda m: len({x["after"]["id"] for x in m}) >= 23000)
    assert rc.stop() == 0
    check_stream(msgs, 23000, allow_dups=True)


def test_z_lost_slot(pg, tmp_path, rowcasts):
    # the tests before are done with their slots: each would be lost too
    pg.psql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE NOT active AND database = current_database();")
    pg.psql("CREATE TABLE lost (id int PRIMARY KEY); CREATE PUBLICATION lost_pub FOR TABLE lost;"
            "SELECT 'x' FROM pg_create_logical_replication_slot('lost_slot', 'pgoutput');"
            "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'; SELECT pg_reload_conf();")
    try:
        status = ""
        for _ in range(20):
            pg.psql("CREATE TABLE IF NOT EXISTS filler (v text);"
                    "INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 3000);"
                    "SELECT pg_switch_wal(); CHECKPOINT;")
            status = pg.psql("SELECT wal_status FROM pg_replication_slots "
                             "WHERE slot_name = 'lost_slot';").strip()
            if status == "lost":
                break
        assert status == "lost", status
        code, log = startup_error(rowcasts, tmp_path, "lost_slot", "lost_pub")
        assert code == 76
        assert ("replication slot lost_slot is lost (wal_status lost: the server removed WAL it "
                "still needed, see max_slot_wal_keep_size): its changes are gone") in log
    finally:
        pg.psql("ALTER SYSTEM RESET max_slot_wal_keep_size; SELECT pg_reload_conf();")


def test_zz_wal_level_check(pg, tmp_path, rowcasts):
    # a server below wal_level = logical refuses to start with logical slots
    # (of any database)
    pg.psql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots;")
    pg.restart("-c wal_level=replica")
    try:
        pg.psql("CREATE TABLE wl (id int PRIMARY KEY); CREATE PUBLICATION wl_pub FOR TABLE wl;")
        code, log = startup_error(rowcasts, tmp_path, "wl_slot", "wl_pub")
        assert code == 76
        assert ("wal_level is replica; logical replication needs wal_level = logical (ALTER "
                "SYSTEM SET wal_level = logical, then restart the server)") in log
    finally:
        pg.restart()
