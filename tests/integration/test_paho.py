# SPDX-License-Identifier: MIT
"""The paho MQTT backend ([mqtt] client = paho; every other MQTT test runs
the default, libmosquitto): the same promises as the default backend.  Rows
arrive exactly once and in order with their exact payloads; a SIGTERM
mid-stream loses and repeats nothing; 30 SIGKILLs during a QoS 1 workload
lose nothing and every duplicate equals its first copy; a broker restart
under load (the client's own re-sends); an unreachable broker at start is a
fatal error.  test_mqtt.py runs its MQTT 5 properties, status topic, last
will, QoS 2 and 3.1.1 tests, and test_outage.py / test_tls.py their broker
outage, frozen broker and TLS tests, against both client libraries."""
import json
import os
import random
import re
import signal
import subprocess
import time
import uuid


import test_torture as torture
from conftest import Rowcast
from test_outage import Broker, check, read_msgs, subscriber
from test_pipeline import assert_same, make_batch

PAHO = "client = paho\n"
TORTURE_ROWS = 20000
RESTARTS = 30


def uses_paho(rc):
    """The log names the backend's own lines only when they happen; the
    config is what selects it, so check that it was accepted."""
    conf = open(rc.conf).read()
    assert "client = paho" in conf


def test_exactly_once_in_order_and_clean_restart(sql, subscriber_factory, rowcast_factory):
    table = "mo_" + uuid.uuid4().hex[:8]
    prefix = "it/" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, name VARCHAR(64) CHARACTER SET utf8mb4, "
            "qty BIGINT NOT NULL, created DATETIME NOT NULL, tiny TINYINT UNSIGNED NULL, "
            "note TEXT NULL) ENGINE=InnoDB" % table)
    sub = subscriber_factory(prefix + "/#")
    rc = rowcast_factory(prefix, extra=PAHO)
    uses_paho(rc)
    rc.start()
    rng = random.Random(20261129)
    live = set()

    batch, ops1, next_id = make_batch(rng, table, live, 1, 1000)
    sql.run(batch)
    msgs = sub.wait_for(1000)
    assert len(msgs) == 1000, "expected 1000 messages, got %d" % len(msgs)
    assert [m["op"] for _, m in msgs] == ops1
    ids = [m["id"] for _, m in msgs]
    assert len(set(ids)) == len(ids)
    for topic, m in msgs:
        assert topic == "%s/rctest/%s" % (prefix, table)
        assert m["db"] == "rctest" and m["table"] == table
    last = msgs[-1][1]["gtid"]
    assert last in sql.value("SELECT @@gtid_binlog_pos").split(",")
    assert_same(sql, table, msgs)

    # SIGTERM in the middle of a stream, restart: nothing lost or repeated
    batch, ops2, next_id = make_batch(rng, table, live, next_id, 1000)
    writer = sql.popen(batch)
    sub.wait_for(1000 + 200, timeout=30)
    assert rc.stop(signal.SIGTERM) == 0
    assert "stopped cleanly" in open(rc.log).read()
    writer.wait(60)
    assert writer.returncode == 0, writer.stderr.read()
    rc.start()
    msgs = sub.wait_for(2000)
    time.sleep(1.0)
    msgs = sub.messages()
    ids = [m["id"] for _, m in msgs]
    assert len(ids) - len(set(ids)) == 0, "duplicates after a clean stop"
    assert len(msgs) == 2000, "expected 2000 messages, got %d" % len(msgs)
    assert [m["op"] for _, m in msgs] == ops1 + ops2
    assert_same(sql, table, msgs)
    assert rc.stop(signal.SIGTERM) == 0


def test_exact_payloads(svc, sql, rowcast_factory, tmp_path):
    """Byte for byte what the stdout sink prints for the same rows."""
    port = int(svc["ROWCAST_MQTT_PORT"])
    table = "mp_" + uuid.uuid4().hex[:8]
    prefix = "it/" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(40) CHARACTER SET utf8mb4, "
            "b BLOB, j JSON)" % table)
    gtid_before = sql.value("SELECT @@gtid_binlog_pos")
    p = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                          "-t", prefix + "/rctest/#", "-F", "%p", "-C", "50", "-W", "60"],
                         stdout=subprocess.PIPE)
    time.sleep(0.3)
    rc = rowcast_factory(prefix, extra=PAHO)
    rc.start()
    values = []
    for i in range(50):
        values.append("(%d, 'caf\u00e9 \U0001F600 %d \"q\" \\\\ x', X'00ff%02x', '{\"k\": [%d, null]}')"
                      % (i, i, i, i))
    sql.run("INSERT INTO %s VALUES %s;" % (table, ",".join(values)))
    out, _ = p.communicate(timeout=70)
    assert rc.stop() == 0
    got = out.decode("utf-8").splitlines()
    assert len(got) == 50, out[:400]
    # the reference: the stdout sink from the same position
    os.makedirs(str(tmp_path / "ref"))
    ref = Rowcast(svc, tmp_path / "ref", prefix)
    conf = open(ref.conf).read().replace("[checkpoint]", "[sink]\ntype = stdout\n[checkpoint]", 1)
    conf = conf.replace("[source]\n", "[source]\nstart_position = %s\n" % gtid_before, 1)
    open(ref.conf, "w").write(conf)
    q = subprocess.Popen([ref.bin, "-c", ref.conf], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    lines = []
    try:
        deadline = time.time() + 30
        while len(lines) < 50 and time.time() < deadline:
            line = q.stdout.readline()
            if not line:
                break
            if json.loads(line).get("table") == table:
                lines.append(line.decode("utf-8").rstrip("\n"))
    finally:
        q.send_signal(signal.SIGTERM)
        q.wait(30)
    assert got == lines
    assert [json.loads(x)["after"]["id"] for x in got] == list(range(50))


def test_unreachable_broker_is_fatal(rowcast_factory):
    rc = rowcast_factory("it/x", extra=PAHO)
    text = re.sub(r"uri = tcp://127.0.0.1:\d+", "uri = tcp://127.0.0.1:1", open(rc.conf).read())
    open(rc.conf, "w").write(text)
    p = subprocess.run([rc.bin, "-c", rc.conf], capture_output=True, text=True, timeout=60)
    assert p.returncode == 75, p.stderr
    assert "mqtt: cannot connect to tcp://127.0.0.1:1" in p.stderr.strip().splitlines()[-1], p.stderr


def run_torture(sql, subscriber_factory, rowcast_factory, sig, qos, rows, inflight=500):
    """tests/integration/test_torture.py's run_torture with client = paho."""
    return torture.run_torture(sql, subscriber_factory, rowcast_factory, sig, qos,
                               inflight=inflight, rows=rows, extra=PAHO)


def test_sigkill_torture(sql, subscriber_factory, rowcast_factory):
    kills, dups = run_torture(sql, subscriber_factory, rowcast_factory, signal.SIGKILL, 1,
                              TORTURE_ROWS)
    assert kills >= RESTARTS
    # what may come again at a crash: the in-flight window and what was
    # acknowledged after the last checkpoint write
    assert dups <= kills * (500 + 3000), dups


def test_sigterm_restarts_no_duplicates(sql, subscriber_factory, rowcast_factory):
    kills, dups = run_torture(sql, subscriber_factory, rowcast_factory, signal.SIGTERM, 1,
                              TORTURE_ROWS)
    assert kills >= RESTARTS
    assert dups == 0, "%d duplicates after clean stops" % dups


def test_broker_killed_resends(sql, rowcast_factory, tmp_path):
    """The one layer that re-sends inside a running process is paho: a
    persistent broker is frozen (SIGSTOP) so that nothing rowcast sends is
    acknowledged, then killed (SIGKILL) and started again.  rowcast never
    publishes an entry twice, so every row written during the freeze
    reaches the subscriber only because paho sent it again after the
    reconnect, from its in-memory session."""
    table = "mr_" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % table)
    broker = Broker(str(tmp_path))
    try:
        path = str(tmp_path / "sub.txt")
        sub, f = subscriber(broker.port, "rs/#", path)
        time.sleep(0.5)
        rc = rowcast_factory("rs", extra=PAHO)
        conf = re.sub(r"uri = tcp://127.0.0.1:\d+", "uri = tcp://127.0.0.1:%d" % broker.port,
                      open(rc.conf).read())
        open(rc.conf, "w").write(conf)
        rc.start()
        sql.run("".join("INSERT INTO %s VALUES (%d);" % (table, i) for i in range(300)))
        deadline = time.time() + 30
        while time.time() < deadline and len(read_msgs(path)) < 300:
            time.sleep(0.1)
        assert len(read_msgs(path)) == 300
        time.sleep(1.5)         # the subscriber's session is saved (autosave 1 s)
        broker.p.send_signal(signal.SIGSTOP)
        sql.run("".join("INSERT INTO %s VALUES (%d);" % (table, i) for i in range(300, 700)))
        time.sleep(2)           # published into the socket, never acknowledged
        assert len(read_msgs(path)) == 300
        broker.p.send_signal(signal.SIGKILL)
        broker.p.wait()
        time.sleep(1)
        pid = rc.p.pid
        broker.start()
        deadline = time.time() + 60
        while time.time() < deadline and len({m["after"]["id"] for m in read_msgs(path)}) < 700:
            time.sleep(0.2)
        check(read_msgs(path), 700)
        assert rc.p.poll() is None and rc.p.pid == pid
        log = open(rc.log).read()
        assert "mqtt: connection to tcp://127.0.0.1:%d lost" % broker.port in log, log
        assert "mqtt: connected to" in log, log
        assert rc.stop() == 0
        sub.terminate()
        f.close()
    finally:
        broker.close()
