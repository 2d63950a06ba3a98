# SPDX-License-Identifier: MIT
"""Broker outages in the middle of a stream.  Losses are counted where they
would be real: a Mosquitto with persistence and a subscriber with a
persistent QoS 1 session, a RabbitMQ durable queue with persistent
messages, brokers stopped with SIGTERM.  Afterwards 0 lost and the order
per table kept.  A broker frozen with SIGSTOP does not freeze rowcast: it
still answers its health check and its signals, and catches up after."""
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
import uuid

import pytest

from conftest import TOP

OUTAGE_S = float(os.environ.get("ROWCAST_OUTAGE_S", "60"))
FREEZE_S = float(os.environ.get("ROWCAST_FREEZE_S", "30"))
# the default MQTT client library and the other one
CLIENTS = pytest.mark.parametrize("client", ["mosquitto", "paho"])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Broker:
    """A private Mosquitto with persistence, started and stopped by the test."""

    def __init__(self, tmp):
        self.port = free_port()
        self.dir = tmp
        self.conf = os.path.join(tmp, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
                    "max_inflight_messages 0\nmax_queued_messages 0\npersistence true\n"
                    "persistence_location %s/\nautosave_interval 1\nuser root\n"
                    "log_dest file %s/mosquitto.log\n" % (self.port, tmp, tmp))
        self.p = None
        self.start()

    def start(self):
        self.p = subprocess.Popen(["mosquitto", "-c", self.conf])
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(30)

    def close(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def subscriber(port, topic, path):
    cid = "out-" + uuid.uuid4().hex[:8]
    f = open(path, "w")
    # a persistent session: what arrives while it is away is kept for it
    p = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-c",
                          "-i", cid, "-t", topic, "-v", "--keepalive", "5"],
                         stdout=f, stderr=subprocess.DEVNULL)
    return p, f


def read_msgs(path):
    out = []
    for line in open(path):
        if " " in line:
            out.append(json.loads(line.split(" ", 1)[1]))
    return out


def writer(sql, table, n, per_trx=20, pause=0.02):
    """Rows written slowly in the background, over the outage."""
    lines = []
    for i in range(0, n, per_trx):
        lines.append("BEGIN;" + "".join("INSERT INTO %s VALUES (%d);" % (table, k)
                                        for k in range(i, min(i + per_trx, n))) + "COMMIT;")
        lines.append("DO SLEEP(%f);" % pause)
    return sql.popen("\n".join(lines) + "\n")


def check(msgs, n):
    ids = [m["after"]["id"] for m in msgs]
    first = {}
    for k, i in enumerate(ids):
        first.setdefault(i, k)
    missing = sorted(set(range(n)) - set(ids))
    assert not missing, "%d lost, first %s" % (len(missing), missing[:5])
    # order per table: first arrivals in commit order
    order = sorted(first, key=first.get)
    assert order == sorted(order), "order per table not kept"


@contextlib.contextmanager
def private_broker(client, sql, rowcast_factory, tmp_path, prefix, extra=""):
    """A new table, a private Mosquitto with a subscriber to PREFIX/# writing
    into a file, and rowcast (this MQTT client) publishing to it; yields
    (table, broker, rowcast, the subscriber's file).  At the end rowcast
    must stop cleanly."""
    table = prefix + "_" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % table)
    broker = Broker(str(tmp_path))
    try:
        path = str(tmp_path / "sub.txt")
        sub, f = subscriber(broker.port, prefix + "/#", path)
        time.sleep(0.5)
        rc = rowcast_factory(prefix, extra="client = %s\n%s" % (client, extra))
        rc.set_broker("tcp://127.0.0.1:%d" % broker.port)
        rc.start()
        yield table, broker, rc, path
        assert rc.stop() == 0
        sub.terminate()
        f.close()
    finally:
        broker.close()


def wait_ids(path, n, timeout):
    """Until the subscriber's file holds n distinct ids, or timeout s."""
    deadline = time.time() + timeout
    while time.time() < deadline and len({m["after"]["id"] for m in read_msgs(path)}) < n:
        time.sleep(0.2)


@CLIENTS
def test_mosquitto_outage(client, sql, rowcast_factory, tmp_path):
    with private_broker(client, sql, rowcast_factory, tmp_path, "out") as (table, broker, rc, path):
        n = 3000
        w = writer(sql, table, n)
        time.sleep(2)
        broker.stop()
        time.sleep(OUTAGE_S)
        assert rc.p.poll() is None, "rowcast exited during the outage"
        broker.start()
        assert w.wait(300) == 0
        wait_ids(path, n, 120)
        check(read_msgs(path), n)
        # the reconnect names how many attempts failed during the outage
        rc.wait_log(" failed attempt", timeout=60)
        log = open(rc.log).read()
        assert "; retrying" in log, log
        assert re.search(r"mqtt: connected to \S+ again after [1-9]\d* failed attempts?\n", log), log


@CLIENTS
def test_broker_frozen(client, sql, rowcast_factory, subscriber_factory, svc, tmp_path):
    port = free_port()
    with private_broker(client, sql, rowcast_factory, tmp_path, "frz",
                        "[metrics]\nlisten = 127.0.0.1:%d\n" % port) as (table, broker, rc, path):
        n = 2000
        w = writer(sql, table, n)
        time.sleep(1)
        broker.p.send_signal(signal.SIGSTOP)
        t0 = time.time()
        answered = 0
        reloaded = False
        while time.time() - t0 < FREEZE_S:
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=2)
                answered += 1
            except urllib.error.HTTPError:
                answered += 1      # 503 is an answer too
            if not reloaded and time.time() - t0 > FREEZE_S / 2:
                rc.p.send_signal(signal.SIGHUP)
                rc.wait_log("reload: done", timeout=5)
                reloaded = True
            time.sleep(1)
        broker.p.send_signal(signal.SIGCONT)
        assert answered >= FREEZE_S / 2, "health check unanswered while the broker was frozen"
        assert w.wait(300) == 0
        wait_ids(path, n, 120)
        check(read_msgs(path), n)


@CLIENTS
def test_broker_killed_resends(client, sql, rowcast_factory, tmp_path):
    """The one layer that re-sends inside a running process is the client
    library: a persistent broker is frozen (SIGSTOP) so that nothing rowcast
    sends is acknowledged, then killed (SIGKILL) and started again.  rowcast
    never publishes an entry twice, so every row written during the freeze
    reaches the subscriber only because the client (libmosquitto or paho)
    sent it again after the reconnect, from its session."""
    with private_broker(client, sql, rowcast_factory, tmp_path, "rs") as (table, broker, rc, path):
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
        wait_ids(path, 700, 60)
        check(read_msgs(path), 700)
        assert rc.p.poll() is None and rc.p.pid == pid
        log = open(rc.log).read()
        assert "mqtt: connection to tcp://127.0.0.1:%d lost" % broker.port in log, log
        assert "mqtt: connected to" in log, log


def test_rabbitmq_outage(svc, sql, rowcast_factory, tmp_path):
    pika = pytest.importorskip("pika", reason="python3-pika is not installed")
    if subprocess.run([os.path.join(TOP, "scripts", "services"), "status", "rabbitmq"],
                      capture_output=True).returncode != 0:
        pytest.skip("rabbitmq is not running (scripts/test starts it)")
    port = int(svc["ROWCAST_AMQP_PORT"])
    table = "ro_" + uuid.uuid4().hex[:8]
    exch = "ex_" + table
    queue = "q_" + table
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % table)
    params = pika.ConnectionParameters("127.0.0.1", port, credentials=pika.PlainCredentials("guest", "guest"))
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    ch.exchange_declare(exch, "topic", durable=True)
    ch.queue_declare(queue, durable=True)
    ch.queue_bind(queue, exch, "#")
    conn.close()
    rc = rowcast_factory("ro", extra="[sink]\ntype = amqp\n[amqp]\nport = %d\nexchange = %s\n" % (port, exch))
    conf = open(rc.conf).read().replace("[sink]\ntype = amqp\n", "")
    conf = conf.replace("[checkpoint]", "[sink]\ntype = amqp\n[checkpoint]", 1)
    open(rc.conf, "w").write(conf)
    rc.start()
    n = 3000
    w = writer(sql, table, n)
    time.sleep(2)
    services = os.path.join(TOP, "scripts", "services")
    subprocess.run([services, "stop", "rabbitmq"], check=True, capture_output=True)
    time.sleep(OUTAGE_S)
    assert rc.p.poll() is None, "rowcast exited during the outage"
    for attempt in range(3):
        # a node just stopped may still hold its name for a moment
        if subprocess.run([services, "start", "rabbitmq"], capture_output=True).returncode == 0:
            break
        time.sleep(3)
    else:
        raise AssertionError("rabbitmq did not start again")
    assert w.wait(300) == 0
    got = []
    deadline = time.time() + 180
    while time.time() < deadline and len({m["after"]["id"] for m in got}) < n:
        try:
            conn = pika.BlockingConnection(params)
            ch = conn.channel()
            while True:
                mf, props, body = ch.basic_get(queue, auto_ack=True)
                if mf is None:
                    break
                got.append(json.loads(body))
            conn.close()
        except pika.exceptions.AMQPError:
            pass
        time.sleep(1)
    check(got, n)
    assert rc.stop() == 0
