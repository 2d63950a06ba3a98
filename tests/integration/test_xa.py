# SPDX-License-Identifier: MIT
"""XA transactions: rows logged at XA PREPARE are published only when XA
COMMIT follows (XA COMMIT ... ONE PHASE: at once), never after XA ROLLBACK;
a pending PREPARE survives a restart of rowcast (the checkpoint names it and
its rows are read again from the binlog at the commit, nothing is held in
memory meanwhile)."""
import time
import uuid


def test_xa_commit_rollback_and_restart(sql, subscriber_factory, rowcast_factory):
    t = "xa_" + uuid.uuid4().hex[:8]
    prefix = "it/" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY) ENGINE=InnoDB" % t)
    sub = subscriber_factory(prefix + "/#")
    rc = rowcast_factory(prefix)
    rc.start()
    xa = uuid.uuid4().hex[:6]
    # one session per XA: a prepared XA outlives its session
    sql.run("XA START 'a{x}'; INSERT INTO {t} VALUES (1), (2); XA END 'a{x}'; XA PREPARE 'a{x}';"
            .format(t=t, x=xa))
    sql.run("XA START 'b{x}'; INSERT INTO {t} VALUES (3); XA END 'b{x}'; XA PREPARE 'b{x}';"
            .format(t=t, x=xa))
    sql.run("XA START 'c{x}'; INSERT INTO {t} VALUES (4); XA END 'c{x}'; XA COMMIT 'c{x}' ONE PHASE;"
            "INSERT INTO {t} VALUES (5);".format(t=t, x=xa))
    msgs = sub.wait_for(2, timeout=10)
    assert sorted(m["after"]["id"] for _, m in msgs) == [4, 5], "prepared rows published early"
    # restart rowcast while a and b are pending
    assert rc.stop() == 0
    ck = open(rc.ckpt).read()
    assert "[xa]" in ck and ck.count("pending.") == 2
    rc.start()
    sql.run("XA COMMIT 'a{x}'; XA ROLLBACK 'b{x}'; INSERT INTO {t} VALUES (6);".format(t=t, x=xa))
    msgs = sub.wait_for(5, timeout=20)
    time.sleep(1)
    msgs = sub.messages()
    ids = [m["after"]["id"] for _, m in msgs]
    assert sorted(ids) == [1, 2, 4, 5, 6], ids          # never 3: rolled back
    assert len(ids) == len(set(ids))
    assert rc.stop() == 0
    assert "pending." not in open(rc.ckpt).read()
    assert sorted(int(r[0]) for r in sql.rows("SELECT id FROM %s" % t)) == [1, 2, 4, 5, 6]
