# SPDX-License-Identifier: MIT
"""File-and-position mode: resume by binlog file and offset (servers without
GTIDs), and the dump path end to end with real MySQL 8 event bytes: a
private MariaDB serves a MySQL 8.0 binlog file placed in its binlog folder
(as MariaDB's own rpl_from_mysql80 test does), and rowcast streams it."""
import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from conftest import TOP
from test_decode_fixtures import SHARED, STD_DATA, mdev35643_expected


def test_file_mode_resume(sql, subscriber_factory, rowcast_factory):
    table = "fp_" + uuid.uuid4().hex[:8]
    prefix = "it/" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % table)
    sub = subscriber_factory(prefix + "/#")
    rc = rowcast_factory(prefix)
    conf = open(rc.conf).read().replace("[checkpoint]", "position_mode = file\n[checkpoint]", 1)
    open(rc.conf, "w").write(conf)
    rc.start()
    sql.run("".join("INSERT INTO %s VALUES (%d);" % (table, i) for i in range(100)))
    sub.wait_for(100)
    assert rc.stop() == 0
    ck = open(rc.ckpt).read()
    assert "mode = file" in ck and "file = mysql-bin." in ck and "offset = " in ck
    sql.run("".join("INSERT INTO %s VALUES (%d);" % (table, i) for i in range(100, 200)))
    rc.start()
    msgs = sub.wait_for(200)
    time.sleep(0.5)
    msgs = sub.messages()
    ids = [m["after"]["id"] for _, m in msgs]
    assert sorted(ids) == list(range(200)) and len(ids) == 200
    assert rc.stop() == 0


def test_mysql8_binlog_over_the_wire(tmp_path):
    path = os.path.join(SHARED, "mysql8", "mdev35643_mysql_80_binlog.000001")
    if not os.path.exists(path):
        path = os.path.join(STD_DATA, "mdev35643_mysql_80_binlog.000001")
    if not os.path.exists(path):
        pytest.skip("mdev35643_mysql_80_binlog.000001 is absent")
    services = os.path.join(TOP, "scripts", "services")
    env = dict(os.environ, ROWCAST_TEST_DIR=str(tmp_path / "srv"),
               ROWCAST_MARIADB_PORT=str(20000 + os.getpid() % 20000), ROWCAST_MQTT_PORT="1",
               ROWCAST_MARIADB_EXTRA_ARGS="--server-id=7")
    subprocess.run([services, "start", "mariadb"], env=env, check=True, capture_output=True)
    try:
        bindir = str(tmp_path / "srv" / "mariadb" / "binlog")
        subprocess.run([services, "stop", "mariadb"], env=env, check=True, capture_output=True)
        first = sorted(f for f in os.listdir(bindir) if f.startswith("mysql-bin.0"))[0]
        shutil.copyfile(path, os.path.join(bindir, first))
        subprocess.run([services, "start", "mariadb"], env=env, check=True, capture_output=True)
        conf = tmp_path / "rc.conf"
        conf.write_text("[source]\nhost = 127.0.0.1\nport = %s\nuser = rowcast\npassword = rowcast\n"
                        "server_id = 99\nposition_mode = file\nstart_position = %s:4\n"
                        "on_statement_dml = warn\n[checkpoint]\npath = %s\n[sink]\ntype = stdout\n"
                        % (env["ROWCAST_MARIADB_PORT"], first, tmp_path / "ck"))
        bin_ = os.environ.get("ROWCAST_BIN", os.path.join(TOP, "build", "rowcast"))
        out = open(tmp_path / "out.jsonl", "w")
        err = open(tmp_path / "err.log", "w")
        p = subprocess.Popen([bin_, "-c", str(conf)], stdout=out, stderr=err)
        want = mdev35643_expected()
        deadline = time.time() + 30
        while time.time() < deadline:
            if len(open(tmp_path / "out.jsonl").read().splitlines()) >= len(want):
                break
            time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0, open(tmp_path / "err.log").read()
        rows = [json.loads(l) for l in open(tmp_path / "out.jsonl").read().splitlines()]
        got = [(r["op"], r["table"], None if r["before"] is None else list(r["before"].values()),
                list(r["after"].values())) for r in rows[:len(want)]]
        assert got == want
        assert "statement-based DML in the binlog cannot be published: INSERT INTO t2" in \
            open(tmp_path / "err.log").read()
    finally:
        subprocess.run([services, "clean"], env=env, capture_output=True)
