# SPDX-License-Identifier: MIT
"""Running rowcast as an operator sees it: /metrics counters move with the
rows written, /health, SIGHUP reload (applied, restart-only options named,
a broken file keeps the running config), and no secret in the log."""
import signal
import socket
import subprocess
import time
import urllib.request
import uuid


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text, name, **labels):
    order = ["db", "table", "op", "peer"]
    items = sorted(labels.items(), key=lambda kv: order.index(kv[0]))
    want = name + ("{" + ",".join('%s="%s"' % kv for kv in items) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


def test_metrics_and_health(sql, subscriber_factory, rowcast_factory):
    table = "met_" + uuid.uuid4().hex[:8]
    prefix = "it/" + uuid.uuid4().hex[:8]
    port = free_port()
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, v INT)" % table)
    sub = subscriber_factory(prefix + "/#")
    rc = rowcast_factory(prefix, extra="[metrics]\nlisten = 127.0.0.1:%d\n" % port)
    rc.start()
    base = "http://127.0.0.1:%d" % port
    sql.run("".join("INSERT INTO %s VALUES (%d, 0);" % (table, i) for i in range(50)) +
            "UPDATE %s SET v = 1 WHERE id < 10;" % table +
            "DELETE FROM %s WHERE id >= 45;" % table)
    sub.wait_for(65)
    time.sleep(0.5)
    code, text = get(base + "/metrics")
    assert code == 200
    lab = dict(db="rctest", table=table)
    assert metric(text, "rowcast_events_read_total", op="insert", **lab) == 50
    assert metric(text, "rowcast_events_published_total", op="update", **lab) == 10
    assert metric(text, "rowcast_events_acked_total", op="delete", **lab) == 5
    assert metric(text, "rowcast_inflight_messages") == 0
    assert metric(text, "rowcast_source_connected") == 1
    assert metric(text, "rowcast_sink_connected") == 1
    assert metric(text, "rowcast_replication_lag_seconds") == 0
    assert metric(text, "rowcast_checkpoint_writes_total") >= 1
    code, body = get(base + "/health")
    assert code == 200, body
    assert get(base + "/nope")[0] == 404
    assert rc.stop() == 0


def test_reload_and_secrets(sql, rowcast_factory):
    prefix = "it/" + uuid.uuid4().hex[:8]
    rc = rowcast_factory(prefix)
    conf = open(rc.conf).read()
    assert "password = rowcast" in conf
    rc.start()
    # a reloadable option, and one that needs a restart
    open(rc.conf, "w").write(conf.replace("interval_ms = 100", "interval_ms = 250")
                             .replace("topic_prefix = %s" % prefix, "topic_prefix = other"))
    rc.p.send_signal(signal.SIGHUP)
    rc.wait_log("reload: done")
    log = open(rc.log).read()
    assert "reload: [checkpoint] interval_ms = 250" in log
    assert "reload: [mqtt] topic_prefix changed; it takes effect at the next restart" in log
    # a broken file: every error logged, the running config kept
    open(rc.conf, "w").write(conf + "bogus line\n[mqtt]\nqos = 9\n")
    rc.p.send_signal(signal.SIGHUP)
    rc.wait_log("keeping the running configuration")
    assert rc.p.poll() is None
    log = open(rc.log).read()
    assert "syntax error" in log and "[mqtt] qos" in log
    assert rc.stop() == 0
    # the password never appears in the log or in --print-config
    log = open(rc.log).read()
    assert "rowcast\n" not in log.replace("password = rowcast", "")  # sanity of the check below
    # (the inline password is warned about once, at start, by name only)
    inline = "[source] password is written in the config file; prefer password_file"
    assert log.count(inline) == 1, log
    for line in log.splitlines():
        assert "password" not in line or "***" in line or line.endswith(
            inline + ", readable by rowcast only"), line
    p = subprocess.run([rc.bin, "--print-config", "-c", rc.conf.replace("rowcast.conf", "rowcast.conf")],
                       capture_output=True, text=True)
    open(rc.conf, "w").write(conf)
    p = subprocess.run([rc.bin, "--print-config", "-c", rc.conf], capture_output=True, text=True)
    assert p.returncode == 0
    assert "password = ***" in p.stdout and "password = rowcast" not in p.stdout
