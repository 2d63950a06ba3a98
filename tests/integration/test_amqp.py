# SPDX-License-Identifier: MIT
"""The AMQP 0-9-1 sink against a real RabbitMQ (scripts/services start rabbitmq).

The oracles are the broker and the server: a queue bound to the exchange
must hold every row change exactly once, in order, with the payload the
stdout sink writes for the same binlog, and the routing key, message_id and
headers derived from it; an unroutable message and refused credentials must
stop rowcast (exit 75) with one clear line and a checkpoint that does not
cover what was not acknowledged.
"""
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pika = pytest.importorskip("pika", reason="python3-pika is needed for the AMQP tests")


@pytest.fixture(scope="session")
def amqp(svc):
    st = subprocess.run([os.path.join(TOP, "scripts", "services"), "status", "rabbitmq"],
                        capture_output=True, text=True)
    if st.returncode != 0:
        pytest.skip("rabbitmq not running (scripts/services start rabbitmq): " + st.stdout.strip())
    return int(svc.get("ROWCAST_AMQP_PORT", "15672"))


def connect(port):
    params = pika.ConnectionParameters(host="127.0.0.1", port=port,
                                       credentials=pika.PlainCredentials("guest", "guest"),
                                       heartbeat=0, blocked_connection_timeout=30)
    return pika.BlockingConnection(params)


def amqp_conf(port, exchange, more=""):
    return ("[sink]\ntype = amqp\n[amqp]\nhost = 127.0.0.1\nport = %d\nexchange = %s\n"
            "declare_exchange = true\n%s" % (port, exchange, more))


def drain(ch, queue, n, timeout=60):
    """Up to n messages (waiting up to timeout), then any extra that follow
    within a second (duplicates would show there)."""
    got = []
    deadline = time.time() + timeout
    last = time.time()
    ch.basic_qos(prefetch_count=2000)
    for method, props, body in ch.consume(queue, auto_ack=True, inactivity_timeout=0.1):
        now = time.time()
        if method is not None:
            got.append((method, props, body))
            last = now
        elif (len(got) >= n and now - last >= 1.0) or now > deadline:
            break
    ch.cancel()
    return got


def gtid_covered(state, gtid):
    """Does the GTID state "d-s-n,..." include the transaction gtid?"""
    d, _, n = gtid.split("-")
    for part in filter(None, state.replace(" ", "").split(",")):
        pd, _, pn = part.split("-")
        if pd == d and int(pn) >= int(n):
            return True
    return False


def ckpt_state(path):
    m = re.search(r"^gtid_state\s*=\s*(.*)$", open(path).read(), re.M)
    assert m, open(path).read()
    return m.group(1).strip()


def wait_exit(rc, timeout=60):
    try:
        code = rc.p.wait(timeout)
    except subprocess.TimeoutExpired:
        rc.p.kill()
        rc.p.wait()
        raise AssertionError("rowcast did not stop within %d s:\n%s" % (timeout, open(rc.log).read()))
    rc.logf.close()
    return code


def stdout_payloads(rc, ckpt_copy, n, timeout=60):
    """The same binlog through the stdout sink, from a checkpoint copy: the
    payload oracle.  Runs after the AMQP instance has stopped (same server_id)."""
    conf = rc.conf + ".stdout"
    text = open(rc.conf).read()
    text = re.sub(r"^path = .*$", "path = %s" % ckpt_copy, text, count=1, flags=re.M)
    text = text.split("[sink]")[0] + "[sink]\ntype = stdout\n"
    open(conf, "w").write(text)
    p = subprocess.Popen([rc.bin, "-c", conf], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines = []
    deadline = time.time() + timeout
    try:
        while len(lines) < n and time.time() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip(b"\n"))
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return lines


def test_rows_arrive_exactly_once_in_order(amqp, sql, rowcast_factory, tmp_path):
    table = "am_" + uuid.uuid4().hex[:8]
    exchange = "rc-test-" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, name VARCHAR(64) CHARACTER SET utf8mb4, "
            "qty BIGINT NOT NULL) ENGINE=InnoDB" % table)
    conn = connect(amqp)
    ch = conn.channel()
    ch.exchange_declare(exchange, exchange_type="topic", durable=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, exchange, routing_key="rctest.%s.*" % table)
    try:
        rc = rowcast_factory("it/x", extra=amqp_conf(amqp, exchange,
                                                     "routing_key = {db}.{table}.{op}\n"))
        rc.start()
        rc.wait_log("amqp: connected to 127.0.0.1:%d" % amqp)
        ckpt_copy = str(tmp_path / "checkpoint.start")
        open(ckpt_copy, "w").write(open(rc.ckpt).read())

        stmts, ops, want = [], [], []
        for t in range(20):
            stmts.append("BEGIN;")
            for k in range(10):
                i = t * 10 + k + 1
                name = ["alpha", "caf\u00e9", "quote'd", "\u6f22\u5b57\U0001F600", ""][i % 5]
                stmts.append("INSERT INTO %s VALUES (%d, '%s', %d);"
                             % (table, i, name.replace("'", "''"), i * 7))
                ops.append("insert")
                want.append(i)
            stmts.append("UPDATE %s SET qty = qty + 1 WHERE id = %d;" % (table, t * 10 + 1))
            ops.append("update")
            want.append(t * 10 + 1)
            stmts.append("DELETE FROM %s WHERE id = %d;" % (table, t * 10 + 2))
            ops.append("delete")
            want.append(t * 10 + 2)
            stmts.append("COMMIT;")
        sql.run("\n".join(stmts) + "\n")
        n = len(ops)

        got = drain(ch, q, n)
        assert len(got) == n, "expected %d messages, got %d" % (n, len(got))
        msgs = [json.loads(body) for _, _, body in got]
        ids = [p.message_id for _, p, _ in got]
        assert len(set(ids)) == n, "duplicates"
        assert [m["op"] for m in msgs] == ops
        assert [(m["after"] or m["before"])["id"] for m in msgs] == want
        for (method, props, body), m in zip(got, msgs):
            assert method.exchange == exchange
            assert method.routing_key == "rctest.%s.%s" % (table, m["op"])
            assert props.message_id == m["id"]
            assert props.content_type == "application/json"
            assert props.delivery_mode == 2
            h = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in props.headers.items()}
            assert h == {"gtid": m["gtid"], "db": "rctest", "table": table, "op": m["op"]}
            assert m["db"] == "rctest" and m["table"] == table
        # the last GTID published is the server's own last GTID
        assert msgs[-1]["gtid"] in sql.value("SELECT @@gtid_binlog_pos").split(",")
        assert rc.stop(signal.SIGTERM) == 0
        assert "stopped cleanly" in open(rc.log).read()
        assert gtid_covered(ckpt_state(rc.ckpt), msgs[-1]["gtid"])
    finally:
        try:
            ch.exchange_delete(exchange)
        finally:
            conn.close()

    # exact payloads: byte for byte what the stdout sink writes for the same rows
    oracle = stdout_payloads(rc, ckpt_copy, n)
    assert len(oracle) == n
    assert [body for _, _, body in got] == oracle


def test_unroutable_message_stops_before_checkpoint(amqp, sql, rowcast_factory):
    table = "am_" + uuid.uuid4().hex[:8]
    exchange = "rc-test-" + uuid.uuid4().hex[:8]   # declared by rowcast, no queue bound
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, v INT) ENGINE=InnoDB" % table)
    rc = rowcast_factory("it/x", extra=amqp_conf(amqp, exchange,
                                                 "mandatory = true\non_unroutable = error\n"))
    rc.start()
    rc.wait_log("amqp: connected to")
    gtid = sql.run("INSERT INTO %s VALUES (1, 10); SELECT @@last_gtid;" % table).strip()
    assert re.match(r"^\d+-\d+-\d+$", gtid), gtid
    try:
        code = wait_exit(rc)
        log = open(rc.log).read()
        assert code == 75, log
        last = log.strip().splitlines()[-1]
        m = re.match(r"^\S+ rowcast error: amqp: message (\S+) unroutable \(exchange '([^']*)', key '([^']*)'\)$",
                     last)
        assert m, log
        assert m.group(1).startswith(gtid + "@"), (gtid, last)
        assert m.group(2) == exchange and m.group(3) == "rctest.%s" % table
        assert "the checkpoint stays before it" in log
        state = ckpt_state(rc.ckpt)
        assert not gtid_covered(state, gtid), (state, gtid)
        # nor does the partial-transaction progress name it
        assert not re.search(r"^gtid = %s$" % re.escape(gtid), open(rc.ckpt).read(), re.M)
    finally:
        conn = connect(amqp)
        conn.channel().exchange_delete(exchange)
        conn.close()


def test_wrong_credentials_clear_error_no_progress(amqp, sql, rowcast_factory):
    table = "am_" + uuid.uuid4().hex[:8]
    exchange = "rc-test-" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY) ENGINE=InnoDB" % table)
    rc = rowcast_factory("it/x", extra=amqp_conf(amqp, exchange))
    # a first, good run writes the checkpoint at the current position
    rc.start()
    rc.wait_log("amqp: connected to")
    assert rc.stop() == 0
    before = ckpt_state(rc.ckpt)
    gtid = sql.run("INSERT INTO %s VALUES (1); SELECT @@last_gtid;" % table).strip()
    # then the same instance with a wrong password: rows wait, nothing moves
    text = open(rc.conf).read()
    text = text.replace("declare_exchange = true\n",
                        "declare_exchange = true\npassword = not-the-password\n", 1)
    open(rc.conf, "w").write(text)
    try:
        p = subprocess.run([rc.bin, "-c", rc.conf], capture_output=True, text=True, timeout=60)
        assert p.returncode == 75, p.stderr
        last = p.stderr.strip().splitlines()[-1]
        assert last.split(" ", 1)[1] == "rowcast error: amqp: login refused for user 'guest' on vhost '/'", p.stderr
        assert "not-the-password" not in p.stderr
        assert ckpt_state(rc.ckpt) == before
        assert not gtid_covered(ckpt_state(rc.ckpt), gtid)
        assert not os.path.exists(rc.ckpt + ".tmp")
    finally:
        conn = connect(amqp)
        conn.channel().exchange_delete(exchange)
        conn.close()


def test_unreachable_broker(amqp, rowcast_factory):
    rc = rowcast_factory("it/x", extra="[sink]\ntype = amqp\n[amqp]\nhost = 127.0.0.1\nport = 1\n")
    p = subprocess.run([rc.bin, "-c", rc.conf], capture_output=True, text=True, timeout=60)
    assert p.returncode == 75, p.stderr
    assert p.stderr.strip().splitlines()[-1].split(" ", 1)[1] == \
        "rowcast error: amqp: cannot connect to 127.0.0.1:1: Connection refused", p.stderr


def rabbitmqctl(*args):
    return subprocess.run([os.path.join(TOP, "scripts", "services"), "rabbitmqctl"] + list(args),
                          capture_output=True, text=True, timeout=60)


def test_reconnect_publishes_unconfirmed_again(amqp, sql, rowcast_factory):
    """The broker closes rowcast's connection in the middle of a stream: rowcast
    reconnects and every row arrives, in order of first arrival; a repeat is
    only ever a re-send of the same message (same message_id and body)."""
    table = "am_" + uuid.uuid4().hex[:8]
    exchange = "rc-test-" + uuid.uuid4().hex[:8]
    qname = "rc-test-q-" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB" % table)
    conn = connect(amqp)
    ch = conn.channel()
    ch.exchange_declare(exchange, exchange_type="topic", durable=True)
    ch.queue_declare(qname, durable=False, auto_delete=False)
    ch.queue_bind(qname, exchange, routing_key="#")
    conn.close()
    # a backlog first, so that the close surely comes in the middle of it
    pos = sql.value("SELECT @@gtid_binlog_pos")
    n = 40000
    stmts = []
    for t in range(n // 500):
        stmts.append("BEGIN;")
        stmts.append("INSERT INTO %s VALUES %s;" % (table, ",".join(
            "(%d, REPEAT('x', 150))" % (t * 500 + k + 1) for k in range(500))))
        stmts.append("COMMIT;")
    sql.run("\n".join(stmts) + "\n")
    extra = amqp_conf(amqp, exchange, "heartbeat = 2\n").replace(
        "[sink]\ntype = amqp\n", "[sink]\ntype = amqp\nmax_inflight = 200\n")
    rc = rowcast_factory("it/x", extra=extra + "[source]\nstart_position = %s\n" % pos)
    try:
        rc.start()
        rc.wait_log("amqp: connected to")
        # only rowcast is connected now: close it while it streams
        r = rabbitmqctl("close_all_connections", "test: closed on purpose")
        assert r.returncode == 0, r.stderr
        rc.wait_log("amqp: reconnected to", timeout=30)
        conn = connect(amqp)
        ch = conn.channel()
        got = drain(ch, qname, n, timeout=90)
        seen, first = {}, []
        for _, props, body in got:
            if props.message_id in seen:
                assert seen[props.message_id] == body, "a repeat with another body"
                continue
            seen[props.message_id] = body
            first.append(json.loads(body)["after"]["id"])
        assert first == list(range(1, n + 1)), "missing or out of order: %d distinct of %d" % (
            len(first), n)
        assert rc.stop() == 0
        log = open(rc.log).read()
        assert log.count("amqp: connection to 127.0.0.1:%d lost" % amqp) == 1, log
    finally:
        conn = connect(amqp)
        c2 = conn.channel()
        c2.queue_delete(qname)
        c2.exchange_delete(exchange)
        conn.close()


def test_returns_and_reconnects_exported(amqp, sql, rowcast_factory):
    """AMQP returns (on_unroutable = count) reach rowcast_unroutable_total
    (they were counted privately), and a RabbitMQ restart moves
    rowcast_reconnects_total{peer="sink"} by one (it stayed 0)."""
    import urllib.request
    table = "amr_" + uuid.uuid4().hex[:8]
    exchange = "rc-test-" + uuid.uuid4().hex[:8]   # declared by rowcast, no queue bound
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY) ENGINE=InnoDB" % table)
    rc = rowcast_factory("it/x", extra=amqp_conf(amqp, exchange,
                                                 "mandatory = true\non_unroutable = count\n")
                         + "[metrics]\nlisten = 127.0.0.1:%d\n" % port)
    rc.start()
    rc.wait_log("amqp: connected to")

    def value(name, label=""):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + label + " "):
                    return float(line.split()[-1])
        return None

    def wait(name, want, label="", timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline and value(name, label) != want:
            time.sleep(0.2)
        assert value(name, label) == want, (name, label, value(name, label))

    try:
        sql.run("".join("INSERT INTO %s VALUES (%d);" % (table, i) for i in range(3)))
        wait("rowcast_unroutable_total", 3)
        wait("rowcast_inflight_messages", 0)
        assert value("rowcast_reconnects_total", '{peer="sink"}') == 0
        services = os.path.join(TOP, "scripts", "services")
        subprocess.run([services, "stop", "rabbitmq"], check=True, capture_output=True)
        wait("rowcast_sink_connected", 0)
        for attempt in range(3):
            if subprocess.run([services, "start", "rabbitmq"], capture_output=True).returncode == 0:
                break
            time.sleep(3)
        wait("rowcast_reconnects_total", 1, '{peer="sink"}', timeout=90)
        assert rc.stop() == 0
    finally:
        conn = connect(amqp)
        conn.channel().exchange_delete(exchange)
        conn.close()
