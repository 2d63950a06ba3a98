# SPDX-License-Identifier: MIT
"""Start-up checks, each with one clear error before anything is published:
binlog format, binlog metadata, a missing grant (named); a warning per table
whose rows change through foreign-key cascades."""
import subprocess
import uuid


def run(rc):
    return subprocess.run([rc.bin, "-c", rc.conf], capture_output=True, text=True, timeout=30)


def last(p):
    return p.stderr.strip().splitlines()[-1]


def test_binlog_format_and_metadata(sql, rowcast_factory):
    rc = rowcast_factory("it/chk")
    try:
        sql.run("SET GLOBAL binlog_format = 'STATEMENT'")
        p = run(rc)
        assert p.returncode == 76, p.stderr
        assert "binlog_format is STATEMENT; rowcast needs ROW" in last(p)
    finally:
        sql.run("SET GLOBAL binlog_format = 'ROW'")
    try:
        sql.run("SET GLOBAL binlog_row_metadata = 'MINIMAL'")
        p = run(rc)
        assert p.returncode == 76, p.stderr
        assert "binlog_row_metadata is MINIMAL; rowcast needs FULL" in last(p)
    finally:
        sql.run("SET GLOBAL binlog_row_metadata = 'FULL'")


def test_missing_grant_is_named(sql, rowcast_factory):
    user = "ng_" + uuid.uuid4().hex[:6]
    sql.run("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY 'pw'; "
            "GRANT REPLICATION SLAVE, SELECT ON *.* TO '%s'@'127.0.0.1';" % (user, user))
    try:
        rc = rowcast_factory("it/chk")
        conf = open(rc.conf).read().replace("user = rowcast", "user = " + user)
        conf = conf.replace("password = rowcast", "password = pw")
        open(rc.conf, "w").write(conf)
        p = run(rc)
        assert p.returncode == 76, p.stderr
        assert "user '%s' lacks the REPLICATION CLIENT privilege" % user in last(p)
    finally:
        sql.run("DROP USER '%s'@'127.0.0.1'" % user)


def test_foreign_key_cascade_warning(sql, rowcast_factory):
    t = uuid.uuid4().hex[:6]
    sql.run("CREATE TABLE par_%s (id INT PRIMARY KEY) ENGINE=InnoDB;"
            "CREATE TABLE chi_%s (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES par_%s (id) "
            "ON DELETE CASCADE) ENGINE=InnoDB;" % (t, t, t))
    try:
        rc = rowcast_factory("it/chk")
        rc.start()
        log = open(rc.log).read()
        assert ("table rctest.chi_%s changes through foreign keys (ON DELETE CASCADE)" % t) in log
        assert rc.stop() == 0
    finally:
        sql.run("DROP TABLE chi_%s; DROP TABLE par_%s;" % (t, t))


def test_column_names_from_information_schema(sql, rowcast_factory, subscriber_factory):
    t = uuid.uuid4().hex[:6]
    prefix = "it/" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE isn_%s (id INT PRIMARY KEY, st ENUM('new','it''s'), s SET('a','b'))" % t)
    sub = subscriber_factory(prefix + "/#")
    try:
        sql.run("SET GLOBAL binlog_row_metadata = 'MINIMAL'")
        rc = rowcast_factory(prefix)
        conf = open(rc.conf).read().replace(
            "[checkpoint]", "column_names = information_schema\n[checkpoint]", 1)
        open(rc.conf, "w").write(conf)
        rc.start()
        sql.run("INSERT INTO isn_%s VALUES (1, 'it''s', 'a,b')" % t)
        msgs = [m for _, m in sub.wait_for(1)]
        assert rc.stop() == 0
        assert msgs[0]["after"] == {"id": 1, "st": "it's", "s": "a,b"}
        assert "column names come from information_schema" in open(rc.log).read()
    finally:
        sql.run("SET GLOBAL binlog_row_metadata = 'FULL'")
