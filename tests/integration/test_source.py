# SPDX-License-Identifier: MIT
"""The replica source against a real MariaDB: a server restart and a killed
replication connection in the middle of a stream lose and repeat nothing;
DDL between row events; two GTID domains; purged binlogs stop rowcast with
a clear error and exit 76, leaving the checkpoint as it was."""
import os
import re
import subprocess
import time
import uuid

import pytest

from conftest import TOP


def services(*args):
    subprocess.run([os.path.join(TOP, "scripts", "services")] + list(args), check=True,
                   capture_output=True, text=True)


def make_rows(table, start, n, per_trx=50):
    out = []
    for i in range(start, start + n, per_trx):
        out.append("BEGIN;")
        for k in range(i, min(i + per_trx, start + n)):
            out.append("INSERT INTO %s VALUES (%d, 'v%d');" % (table, k, k))
        out.append("COMMIT;")
    return "\n".join(out) + "\n"


def check_once(msgs, want_ids):
    ids = [m["after"]["id"] for _, m in msgs if m["op"] == "insert"]
    dups = len(ids) - len(set(ids))
    missing = sorted(set(want_ids) - set(ids))
    assert dups == 0, "%d row changes published twice" % dups
    assert not missing, "%d missing, first %s" % (len(missing), missing[:5])
    # event ids are unique too
    eids = [m["id"] for _, m in msgs]
    assert len(eids) == len(set(eids))


@pytest.mark.parametrize("how", ["restart", "kill"])
def test_stream_survives_server_side_breaks(how, sql, subscriber_factory, rowcast_factory):
    table = "src_" + uuid.uuid4().hex[:8]
    prefix = "it/" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(20))" % table)
    sub = subscriber_factory(prefix + "/#")
    rc = rowcast_factory(prefix)
    rc.start()
    n = 10000
    writer = sql.popen(make_rows(table, 0, n // 2))
    sub.wait_for(1000, timeout=60)
    if how == "restart":
        writer.wait(120)
        services("restart", "mariadb")
    else:
        # the replication connection, killed from the server side
        for _ in range(50):
            rows = sql.rows("SELECT id FROM information_schema.PROCESSLIST "
                            "WHERE COMMAND LIKE 'Binlog Dump%'")
            if rows:
                break
            time.sleep(0.1)
        assert rows, "no Binlog Dump thread"
        for r in rows:
            sql.run("KILL CONNECTION %s" % r[0])
        writer.wait(120)
    sql.run(make_rows(table, n // 2, n // 2))
    msgs = sub.wait_for(n, timeout=120)
    time.sleep(1)
    msgs = sub.messages()
    check_once(msgs, range(n))
    assert len(msgs) == n
    assert "reconnecting" in open(rc.log).read()
    assert rc.p.poll() is None, "rowcast exited"
    assert rc.stop() == 0


def test_ddl_between_row_events(sql, subscriber_factory, rowcast_factory):
    table = "ddl_" + uuid.uuid4().hex[:8]
    prefix = "it/" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, a VARCHAR(10))" % table)
    sub = subscriber_factory(prefix + "/#")
    rc = rowcast_factory(prefix)
    rc.start()
    sql.run("INSERT INTO {t} VALUES (1, 'x');"
            "ALTER TABLE {t} ADD COLUMN b INT NOT NULL DEFAULT 7;"
            "INSERT INTO {t} VALUES (2, 'y', 8);"
            "ALTER TABLE {t} DROP COLUMN a;"
            "INSERT INTO {t} VALUES (3, 9);"
            "ALTER TABLE {t} CHANGE COLUMN b c BIGINT;"
            "UPDATE {t} SET c = c + 1 WHERE id = 3;".format(t=table))
    msgs = [m for _, m in sub.wait_for(4)]
    assert [m["after"] for m in msgs] == [
        {"id": 1, "a": "x"},
        {"id": 2, "a": "y", "b": 8},
        {"id": 3, "b": 9},
        {"id": 3, "c": 10},
    ]
    assert msgs[3]["before"] == {"id": 3, "c": 9}
    assert rc.stop() == 0


def test_two_gtid_domains(sql, subscriber_factory, rowcast_factory):
    table = "dom_" + uuid.uuid4().hex[:8]
    prefix = "it/" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(20))" % table)
    sub = subscriber_factory(prefix + "/#")
    rc = rowcast_factory(prefix)
    rc.start()
    stmts = []
    for i in range(200):
        stmts.append("SET SESSION gtid_domain_id = %d;" % (i % 2 + 1))
        stmts.append("INSERT INTO %s VALUES (%d, 'd%d');" % (table, i, i % 2 + 1))
    sql.run("\n".join(stmts))
    msgs = sub.wait_for(200)
    domains = {m["gtid"].split("-")[0] for _, m in msgs}
    assert {"1", "2"} <= domains
    assert rc.stop() == 0
    # restart: nothing again, and the checkpoint names every domain
    state = re.search(r"gtid_state = (.*)", open(rc.ckpt).read()).group(1)
    assert set(d.split("-")[0] for d in state.split(",")) >= {"0", "1", "2"} - {"0"}
    rc.start()
    sql.run("SET SESSION gtid_domain_id = 2; INSERT INTO %s VALUES (1000, 'after');" % table)
    msgs = sub.wait_for(201)
    time.sleep(0.5)
    msgs = sub.messages()
    check_once(msgs, list(range(200)) + [1000])
    assert rc.stop() == 0


def test_purged_binlogs_stop_with_76(sql, rowcast_factory, subscriber_factory):
    table = "pur_" + uuid.uuid4().hex[:8]
    prefix = "it/" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % table)
    rc = rowcast_factory(prefix)
    rc.start()
    sql.run("INSERT INTO %s VALUES (1)" % table)
    time.sleep(0.5)
    assert rc.stop() == 0
    before = open(rc.ckpt).read()
    # the server moves on and purges every binlog the checkpoint needs
    sql.run("INSERT INTO %s VALUES (2); FLUSH BINARY LOGS; INSERT INTO %s VALUES (3);"
            "FLUSH BINARY LOGS;" % (table, table))
    cur = sql.rows("SHOW MASTER STATUS")[0][0]
    sql.run("PURGE BINARY LOGS TO '%s'" % cur)
    p = subprocess.run([rc.bin, "-c", rc.conf], capture_output=True, text=True, timeout=60)
    assert p.returncode == 76, p.stderr
    last = p.stderr.strip().splitlines()[-1]
    state = re.search(r"gtid_state = (.*)", before).group(1).split(",")
    d0 = [g for g in state if g.startswith("0-")][0].split("-")
    want = "the first missing GTID is 0-%s-%d" % (d0[1], int(d0[2]) + 1)
    assert "binlogs the checkpoint needs were purged: " + want in last, last
    assert open(rc.ckpt).read() == before


def test_repeating_error_logged_with_count(sql, subscriber_factory, rowcast_factory):
    table = "rep_" + uuid.uuid4().hex[:8]
    prefix = "it/" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % table)
    sub = subscriber_factory(prefix + "/#")
    rc = rowcast_factory(prefix)
    conf = open(rc.conf).read().replace(
        "[checkpoint]", "reconnect_min_ms = 100\nreconnect_max_ms = 400\n[checkpoint]", 1)
    open(rc.conf, "w").write(conf)
    rc.start()
    services("stop", "mariadb")
    time.sleep(12)
    services("start", "mariadb")
    sql.run("INSERT INTO %s VALUES (1)" % table)
    assert len(sub.wait_for(1, timeout=30)) == 1
    log = open(rc.log).read()
    fails = [l for l in log.splitlines() if "cannot connect" in l]
    attempts = int(re.search(r"connected again after (\d+) failed attempts", log).group(1))
    assert attempts >= 10, attempts
    # logged at the 1st, 2nd, 4th, 8th ... failure, not once per retry
    assert len(fails) <= attempts.bit_length() + 1, (len(fails), attempts)
    assert "times in a row; still retrying" in log
    # the count agrees with the failures logged: at least the last "N times
    # in a row", and fewer than the next power of two, which would be logged
    logged = max(int(n) for n in re.findall(r"\((\d+) times in a row", log))
    assert logged <= attempts < 2 * logged, (logged, attempts)
    assert rc.stop() == 0
