# SPDX-License-Identifier: MIT
"""MQTT sink details a consumer relies on, for both client libraries
([mqtt] client = paho and mosquitto): MQTT 5 user properties and content
type, the retained online/offline status topic (and the last will when
rowcast dies), QoS 2, MQTT 3.1.1, and payloads byte for byte those of the
stdout sink."""
import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from conftest import Rowcast

CLIENTS = pytest.mark.parametrize("client", ["paho", "mosquitto"])


def sub_lines(port, topic, fmt, n, timeout=20, version="mqttv5"):
    p = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-V", version,
                        "-q", "1", "-t", topic, "-F", fmt, "-C", str(n), "-W", str(timeout)],
                       capture_output=True, text=True)
    return p.stdout.splitlines()


@CLIENTS
def test_v5_properties_and_status(svc, sql, rowcast_factory, client):
    port = int(svc["ROWCAST_MQTT_PORT"])
    table = "m5_" + uuid.uuid4().hex[:8]
    prefix = "it/" + uuid.uuid4().hex[:8]
    status = prefix + "/status"
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(10))" % table)
    rc = rowcast_factory(prefix, extra="client = %s\nstatus_topic = %s\n" % (client, status))
    # a subscriber in the background for the data
    p = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5",
                          "-q", "1", "-t", prefix + "/rctest/#", "-F", "%t|%C|%P|%p", "-C", "3",
                          "-W", "30"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    rc.start()
    assert sub_lines(port, status, "%p", 1) == ["online"]
    sql.run("INSERT INTO %s VALUES (1, 'a'); UPDATE %s SET v = 'b' WHERE id = 1; "
            "DELETE FROM %s WHERE id = 1;" % (table, table, table))
    out, _ = p.communicate(timeout=30)
    lines = out.splitlines()
    assert len(lines) == 3, out
    for line, op in zip(lines, ["insert", "update", "delete"]):
        topic, ctype, props, payload = line.split("|", 3)
        assert topic == "%s/rctest/%s" % (prefix, table)
        assert ctype == "application/json"
        m = json.loads(payload)
        assert m["op"] == op
        # mosquitto_sub prints each user property as key:value, space separated
        assert "id:%s" % m["id"] in props
        assert "gtid:%s" % m["gtid"] in props
        assert "db:rctest" in props and "table:%s" % table in props
        assert "op:%s" % op in props
    assert rc.stop() == 0
    assert sub_lines(port, status, "%p", 1) == ["offline"]


@CLIENTS
def test_last_will_on_sigkill(svc, rowcast_factory, client):
    port = int(svc["ROWCAST_MQTT_PORT"])
    prefix = "it/" + uuid.uuid4().hex[:8]
    status = prefix + "/status"
    rc = rowcast_factory(prefix, extra="client = %s\nstatus_topic = %s\n" % (client, status))
    rc.start()
    assert sub_lines(port, status, "%p", 1) == ["online"]
    rc.p.send_signal(signal.SIGKILL)
    rc.p.wait()
    deadline = time.time() + 10
    while time.time() < deadline:
        if sub_lines(port, status, "%p", 1, timeout=2) == ["offline"]:
            return
    raise AssertionError("no offline status after SIGKILL")


@CLIENTS
def test_qos2_and_v311(svc, sql, subscriber_factory, rowcast_factory, client):
    table = "q2_" + uuid.uuid4().hex[:8]
    prefix = "it/" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % table)
    sub = subscriber_factory(prefix + "/#")
    rc = rowcast_factory(prefix, extra="client = %s\nversion = 3.1.1\n" % client)
    text = open(rc.conf).read().replace("qos = 1", "qos = 2")
    open(rc.conf, "w").write(text)
    rc.start()
    sql.run("".join("INSERT INTO %s VALUES (%d);" % (table, i) for i in range(300)))
    msgs = sub.wait_for(300)
    assert [m["after"]["id"] for _, m in msgs] == list(range(300))
    assert rc.stop() == 0


@CLIENTS
def test_exact_payloads(svc, sql, rowcast_factory, tmp_path, client):
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
    rc = rowcast_factory(prefix, extra="client = %s\n" % client)
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
