# SPDX-License-Identifier: MIT
"""Fail-over: a second MariaDB, started as a replica of the test primary
with log_slave_updates, serves the same GTIDs.  With [source] hosts naming
both, rowcast moves to the replica when the primary is gone, and the rows
written there after the switch arrive too: 0 lost, 0 repeated."""
import os
import subprocess
import time
import uuid

from conftest import TOP, start_private_mariadb


def test_failover_to_replica(svc, sql, subscriber_factory, rowcast_factory, tmp_path):
    services = os.path.join(TOP, "scripts", "services")
    port2 = str(32000 + os.getpid() % 20000)
    env2 = dict(os.environ, ROWCAST_TEST_DIR=str(tmp_path / "replica"),
                ROWCAST_MARIADB_PORT=port2, ROWCAST_MQTT_PORT="1",
                ROWCAST_MARIADB_EXTRA_ARGS="--server-id=2")
    subprocess.run([services, "start", "mariadb"], env=env2, check=True, capture_output=True)
    cnf2 = str(tmp_path / "replica" / "mariadb" / "client.cnf")

    def sql2(q):
        return subprocess.run(["mariadb", "--defaults-file=" + cnf2, "--batch",
                               "--skip-column-names", "-e", q], check=True,
                              capture_output=True, text=True).stdout
    try:
        pos = sql.value("SELECT @@gtid_binlog_pos")
        sql2("SET GLOBAL gtid_slave_pos = '%s'; CHANGE MASTER TO MASTER_HOST='127.0.0.1', "
             "MASTER_PORT=%s, MASTER_USER='rowcast', MASTER_PASSWORD='rowcast', "
             "MASTER_USE_GTID=slave_pos; START SLAVE;" % (pos, svc["ROWCAST_MARIADB_PORT"]))
        table = "fo_" + uuid.uuid4().hex[:8]
        sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % table)
        prefix = "it/" + uuid.uuid4().hex[:8]
        sub = subscriber_factory(prefix + "/#")
        rc = rowcast_factory(prefix)
        conf = open(rc.conf).read().replace(
            "[checkpoint]", "hosts = 127.0.0.1:%s, 127.0.0.1:%s\nreconnect_min_ms = 100\n"
            "[checkpoint]" % (svc["ROWCAST_MARIADB_PORT"], port2), 1)
        open(rc.conf, "w").write(conf)
        rc.start()
        sql.run("".join("INSERT INTO %s VALUES (%d);" % (table, i) for i in range(500)))
        # the replica has it all before the primary goes
        for _ in range(100):
            if sql2("SELECT COUNT(*) FROM rctest.%s" % table).strip() == "500":
                break
            time.sleep(0.1)
        sub.wait_for(500)
        subprocess.run([services, "stop", "mariadb"], check=True, capture_output=True)
        # the replica becomes the primary; writes go on there
        sql2("STOP SLAVE; RESET SLAVE ALL;")
        sql2("".join("INSERT INTO rctest.%s VALUES (%d);" % (table, i) for i in range(500, 1000)))
        msgs = sub.wait_for(1000, timeout=60)
        time.sleep(1)
        msgs = sub.messages()
        ids = [m["after"]["id"] for _, m in msgs]
        assert len(ids) == len(set(ids)), "%d repeated" % (len(ids) - len(set(ids)))
        assert sorted(ids) == list(range(1000)), "%d lost" % (1000 - len(set(ids)))
        assert "the database moved here" in open(rc.log).read()
        assert rc.stop() == 0
    finally:
        subprocess.run([services, "clean"], env=env2, capture_output=True)
        # checked: a failed restart (our port taken meanwhile) is this
        # test's failure, not the next test's "Can't connect ... socket"
        start_private_mariadb()
