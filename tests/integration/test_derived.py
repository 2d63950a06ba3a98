# SPDX-License-Identifier: MIT
"""Issue 17, derived domain events with the real daemon: conditions
(when), continue, route scripts and their ids; a script over its memory
cap or instruction budget with on_unpublishable = stop and = skip (exact
log lines, the counter); SIGHUP reloading a changed script and keeping the
old one when the new one is broken."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import uuid

from test_routes import Sub5

ORDERS = ("CREATE TABLE %s (id INT PRIMARY KEY, customer_id INT, status VARCHAR(10), "
          "amount DECIMAL(8,2), currency CHAR(3), email VARCHAR(64))")


def gtid0(sql):
    """The last GTID of domain 0, where this test's sessions write (the
    server's state may hold other domains: earlier tests make some)."""
    pos = sql.value("SELECT @@gtid_binlog_pos")
    return [g for g in pos.split(",") if g.startswith("0-")][0]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_when_continue_and_script(svc, sql, rowcast_factory, tmp_path):
    t = "dv_" + uuid.uuid4().hex[:6]
    prefix = "dv" + t[3:]
    sql.run(ORDERS % t)
    (tmp_path / "ev.lua").write_text(
        "function transform(c)\n"
        "  if c.op == 'delete' then return nil end\n"
        "  return { key = c.after.id, headers = { event_type = 'OrderChanged' },\n"
        "           payload = { id = c.after.id, status = c.after.status,\n"
        "                       amount = c.after.amount, msg = c.id } }\n"
        "end\n")
    sub = Sub5(int(svc["ROWCAST_MQTT_PORT"]), prefix + "/#", str(tmp_path / "sub.txt"))
    rc = rowcast_factory(prefix, extra=(
        "[filter]\ninclude = rctest.%(t)s\n[routing]\nunmatched = drop\n"
        "[route paid]\nmatch = rctest.%(t)s\nops = update\n"
        "when = changed(status) and after.status = 'paid'\n"
        "topic = {prefix}/events/OrderPaid\nkey = {pk}\ncontinue = true\n"
        "[route email]\nmatch = rctest.%(t)s\nops = update\nwhen = changed(email)\n"
        "topic = {prefix}/events/CustomerEmailChanged\ncontinue = true\n"
        "[route lua]\nmatch = rctest.%(t)s\nscript = ev.lua\ntopic = {prefix}/lua\n"
        % {"t": t}))
    try:
        rc.start()
        sql.run("INSERT INTO %s VALUES (1, 7, 'new', 19.90, 'EUR', 'a@x');" % t)
        g1 = gtid0(sql)
        sql.run("UPDATE %s SET status = 'paid' WHERE id = 1;" % t)
        g2 = gtid0(sql)
        sql.run("UPDATE %s SET email = 'b@x' WHERE id = 1;" % t)
        g3 = gtid0(sql)
        sql.run("UPDATE %s SET status = 'paid', email = 'c@x' WHERE id = 1;" % t)
        g4 = gtid0(sql)
        sql.run("DELETE FROM %s WHERE id = 1;" % t)
        got = sub.wait(7)
    finally:
        sub.close()
    assert rc.p.poll() is None, open(rc.log).read()
    got = [(topic[len(prefix) + 1:], props["id"], payload) for topic, props, payload in got]
    lua = lambda g, st: json.dumps({"id": 1, "status": st, "amount": "19.90", "msg": g + "@0"},
                                   separators=(",", ":"), sort_keys=True)
    # the script's payload keys come out sorted
    assert [(a, b) for a, b, _ in got] == [
        ("lua", g1 + "@0/0"),
        ("events/OrderPaid", g2 + "@0"),
        ("lua", g2 + "@0/1"),
        ("events/CustomerEmailChanged", g3 + "@0"),
        ("lua", g3 + "@0/1"),
        # status stays paid: only the email event, then the script's
        ("events/CustomerEmailChanged", g4 + "@0"),
        ("lua", g4 + "@0/1"),
    ], got
    assert json.loads(got[0][2]) == json.loads(lua(g1, "new"))
    paid = json.loads(got[1][2])
    assert paid["op"] == "update" and paid["after"]["status"] == "paid"
    assert paid["before"]["status"] == "new"


SPIN = ("function transform(c)\n"
        "  if c.after.kind == 'spin' then while true do end end\n"
        "  if c.after.kind == 'eat' then\n"
        "    local t = {}\n"
        "    for i = 1, math.maxinteger do t[i] = 'row ' .. i end\n"
        "  end\n"
        "  return { payload = c.after.kind }\n"
        "end\n")


def limits_config(t, policy, extra=""):
    return ("[filter]\ninclude = rctest.%s\n[sink]\non_unpublishable = %s\n"
            "[route s]\nmatch = rctest.%s\nscript = lim.lua\nscript_memory_limit = 1048576\n"
            "script_instruction_limit = 100000\n%s" % (t, policy, t, extra))


def test_script_overrun_stops(svc, sql, rowcast_factory, tmp_path):
    """on_unpublishable = stop: the daemon stops before the row, with the
    row and the reason, and its checkpoint stays before it."""
    for kind, reason in (("spin", "lim.lua:2: instruction budget of 100000 exceeded"),
                         ("eat", "lim.lua: memory cap of 1048576 bytes reached")):
        t = "dl_" + uuid.uuid4().hex[:6]
        sql.run("CREATE TABLE %s (id INT PRIMARY KEY, kind VARCHAR(10))" % t)
        d = tmp_path / kind
        d.mkdir()
        (d / "lim.lua").write_text(SPIN)
        rc = rowcast_factory("dl", extra=limits_config(t, "stop"))
        rc.conf = str(d / "rowcast.conf")
        os.rename(str(tmp_path / "rowcast.conf"), rc.conf)
        rc.log = str(d / "rowcast.log")
        open(rc.log, "w").close()
        rc.start()
        sql.run("INSERT INTO %s VALUES (1, '%s')" % (t, kind))
        g = gtid0(sql)
        code = rc.p.wait(30)
        text = open(rc.log).read()
        assert code != 0, text
        script = str(d / "lim.lua")
        # Lua names a long path by its last 56 bytes (LUA_IDSIZE) at a line
        lua_name = script if len(script) <= 59 or kind == "eat" else "..." + script[-56:]
        where = reason.replace("lim.lua", lua_name)
        want = "route s: row %s@0: script %s" % (g, where)
        assert want in text, (want, text)
        assert "skipped" not in text


def test_script_overrun_skipped_and_counted(svc, sql, rowcast_factory, tmp_path):
    """on_unpublishable = skip: the row is logged and counted, the next
    rows go on through the same script."""
    t = "ds_" + uuid.uuid4().hex[:6]
    port = free_port()
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, kind VARCHAR(10))" % t)
    (tmp_path / "lim.lua").write_text(SPIN)
    sub = Sub5(int(svc["ROWCAST_MQTT_PORT"]), "ds/#", str(tmp_path / "sub.txt"))
    rc = rowcast_factory("ds", extra=limits_config(
        t, "skip", "topic = ds/out\n[metrics]\nlisten = 127.0.0.1:%d\n" % port))
    try:
        rc.start()
        sql.run("INSERT INTO %s VALUES (1, 'ok1'); INSERT INTO %s VALUES (2, 'spin');"
                "INSERT INTO %s VALUES (3, 'eat'); INSERT INTO %s VALUES (4, 'ok2');"
                % (t, t, t, t))
        got = sub.wait(2)
    finally:
        sub.close()
    assert [p for _, _, p in got] == ["ok1", "ok2"], got
    text = open(rc.log).read()
    lines = [l for l in text.splitlines() if "on_unpublishable = skip: skipped" in l]
    assert len(lines) == 2, text
    assert re.search(r"route s: row \S+@0: script \S*lim.lua:2: instruction budget of 100000 "
                     r"exceeded \(on_unpublishable = skip: skipped\)$", lines[0]), lines
    assert re.search(r"route s: row \S+@0: script \S*lim.lua: memory cap of 1048576 bytes "
                     r"reached \(on_unpublishable = skip: skipped\)$", lines[1]), lines
    m = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
    assert "\nrowcast_unpublishable_skipped_total 2\n" in m, m
    assert rc.p.poll() is None


def test_sighup_reloads_script(svc, sql, rowcast_factory, tmp_path):
    t = "dh_" + uuid.uuid4().hex[:6]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % t)
    lua = tmp_path / "v.lua"
    lua.write_text("function transform(c) return { payload = 'v1' } end\n")
    sub = Sub5(int(svc["ROWCAST_MQTT_PORT"]), "dh/#", str(tmp_path / "sub.txt"))
    rc = rowcast_factory("dh", extra="[filter]\ninclude = rctest.%s\n"
                                     "[route s]\nscript = v.lua\ntopic = dh/out\n" % t)
    try:
        rc.start()
        sql.run("INSERT INTO %s VALUES (1)" % t)
        assert len(sub.wait(1)) == 1
        lua.write_text("function transform(c) return { payload = 'v2' } end\n")
        rc.p.send_signal(signal.SIGHUP)
        rc.wait_log("reload", 1)
        time.sleep(0.5)
        sql.run("INSERT INTO %s VALUES (2)" % t)
        assert len(sub.wait(2)) == 2
        # a broken script: the reload fails, the running one stays
        lua.write_text("function transform(c) return { end\n")
        rc.p.send_signal(signal.SIGHUP)
        rc.wait_log("keeping the running configuration", 1)
        sql.run("INSERT INTO %s VALUES (3)" % t)
        got = sub.wait(3)
    finally:
        sub.close()
    assert [p for _, _, p in got] == ["v1", "v2", "v2"], got
    text = open(rc.log).read()
    assert re.search(r"reload: \S+rowcast.conf:\d+: \[route s\] script: \S*v.lua:1: "
                     r"unexpected symbol near 'end'; keeping the running configuration", text), text
    assert rc.p.poll() is None


def test_unknown_column_warned_once_at_bind(svc, sql, rowcast_factory, tmp_path):
    """A condition naming a column the table lacks: one warning when the
    route is bound to the table, and the column is absent (is null is
    unknown, so the row passes on to the next route)."""
    t = "du_" + uuid.uuid4().hex[:6]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % t)
    sub = Sub5(int(svc["ROWCAST_MQTT_PORT"]), "du/#", str(tmp_path / "sub.txt"))
    rc = rowcast_factory("du", extra=(
        "[filter]\ninclude = rctest.%(t)s\n"
        "[route typo]\nmatch = rctest.%(t)s\nwhen = after.stauts is null\ntopic = du/typo\n"
        "[route rest]\nmatch = rctest.%(t)s\ntopic = du/rest\n" % {"t": t}))
    try:
        rc.start()
        sql.run("INSERT INTO %s VALUES (1); INSERT INTO %s VALUES (2);" % (t, t))
        got = sub.wait(2)
    finally:
        sub.close()
    assert [x[0] for x in got] == ["du/rest", "du/rest"], got
    text = open(rc.log).read()
    want = ("warning: [route typo] when: table rctest.%s has no column 'stauts'; "
            "the condition sees it as absent" % t)
    assert text.count(want) == 1, text


def test_rows_of_several_messages_resume_whole(sql, rowcast_factory, tmp_path):
    """A row that makes ten messages is passed by the checkpoint only with
    its last: stopped while stdout stalls, the next start publishes again
    every message of a row it had not finished, with the same ids, and
    nothing is lost.  (All rows are one transaction: the checkpoint's
    progress inside it is what is tested.)"""
    n = 1000
    t = "dr_" + uuid.uuid4().hex[:6]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, pad VARCHAR(1000)) ENGINE=InnoDB" % t)
    (tmp_path / "ten.lua").write_text(
        "function transform(c)\n"
        "  local out = {}\n"
        "  for k = 0, 9 do\n"
        "    out[#out + 1] = { payload = { row = c.after.id, k = k, msg = c.id .. '/' .. k,\n"
        "                                  pad = c.after.pad } }\n"
        "  end\n"
        "  return out\n"
        "end\n")
    # a window of 7 messages cuts batches inside rows of ten
    rc = rowcast_factory("it/dr", extra="[sink]\ntype = stdout\nshutdown_timeout_ms = 1000\nmax_inflight = 7\n"
                                        "[filter]\ninclude = rctest.%s\n"
                                        "[route s]\nscript = ten.lua\n" % t)
    log = open(rc.log, "a")
    p = rc.p = subprocess.Popen([rc.bin, "-c", rc.conf], stdout=subprocess.PIPE, stderr=log)
    try:
        rc.wait_log("streaming from")
        sql.run("INSERT INTO %s SELECT seq, REPEAT('x', 300) FROM seq_1_to_%d" % (t, n))
        # read some, so that batches are written and acknowledged (and the
        # checkpoint moves inside the transaction), then stall
        first = [json.loads(p.stdout.readline()) for _ in range(3000)]
        time.sleep(2)      # the pipe is full long before 3 MB
        p.send_signal(signal.SIGTERM)
        p.wait(15)
        first += [json.loads(l) for l in p.stdout.read().decode().split("\n")[:-1]]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert 0 < len(first) < 10 * n
    got = []
    p = rc.p = subprocess.Popen([rc.bin, "-c", rc.conf], stdout=subprocess.PIPE, stderr=log)

    def read():
        for line in p.stdout:
            got.append(json.loads(line))

    th = threading.Thread(target=read, daemon=True)
    th.start()
    deadline = time.time() + 60
    while time.time() < deadline and (not got or got[-1]["row"] != n or got[-1]["k"] != 9):
        assert p.poll() is None, open(rc.log).read()
        time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    p.wait(30)
    th.join(10)
    log.close()
    # the second run starts with a row's first message, at or before the
    # first message the first run did not write
    assert got[0]["k"] == 0, got[0]
    assert got[0]["row"] > 1, "the checkpoint did not move inside the transaction"
    assert got[0]["row"] <= first[-1]["row"] + 1
    # every message once at least, ids <row id>/<k> the same in both runs
    seen = {(m["row"], m["k"]): m["msg"] for m in first}
    for m in got:
        assert seen.setdefault((m["row"], m["k"]), m["msg"]) == m["msg"]
    assert set(seen) == {(r, k) for r in range(1, n + 1) for k in range(10)}
