# SPDX-License-Identifier: MIT
"""MariaDB's special tables: hidden DB_ROW_HASH_n columns of long UNIQUE
keys are left out; SEQUENCE bookkeeping rows are not published; in
system-versioned tables the history rows are not published as inserts, and
a row moved to history is a delete.  Each can be turned back on."""
import uuid


def collect(sql, rowcast_factory, subscriber_factory, stmts, n, extra=""):
    prefix = "it/" + uuid.uuid4().hex[:8]
    sub = subscriber_factory(prefix + "/#")
    rc = rowcast_factory(prefix, extra=extra)
    rc.start()
    sql.run(stmts)
    msgs = [m for _, m in sub.wait_for(n, timeout=15)]
    assert rc.stop() == 0
    return msgs


def test_hidden_sequence_versioned(sql, rowcast_factory, subscriber_factory):
    t = uuid.uuid4().hex[:6]
    stmts = ("CREATE TABLE hid_{t} (id INT PRIMARY KEY, b BLOB, UNIQUE KEY (b));"
             "CREATE SEQUENCE sq_{t};"
             "CREATE TABLE sv_{t} (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING;"
             "INSERT INTO hid_{t} VALUES (1, 'x');"
             "SELECT NEXTVAL(sq_{t});"
             "INSERT INTO sv_{t} VALUES (1, 1);"
             "UPDATE sv_{t} SET v = 2 WHERE id = 1;"
             "DELETE FROM sv_{t} WHERE id = 1;").format(t=t)
    msgs = collect(sql, rowcast_factory, subscriber_factory, stmts, 4)
    got = [(m["table"], m["op"]) for m in msgs]
    assert got == [("hid_" + t, "insert"), ("sv_" + t, "insert"), ("sv_" + t, "update"),
                   ("sv_" + t, "delete")], got
    assert "DB_ROW_HASH_1" not in msgs[0]["after"]
    assert msgs[3]["after"] is None and msgs[3]["before"]["v"] == 2

    # all of it back on
    t2 = uuid.uuid4().hex[:6]
    msgs = collect(sql, rowcast_factory, subscriber_factory, stmts.replace(t, t2), 6,
                   extra="[filter]\nhidden_columns = true\nsequences = true\n"
                         "versioning_history = true\n")
    got = [(m["table"], m["op"]) for m in msgs]
    assert ("sq_" + t2, "insert") in got or ("sq_" + t2, "update") in got, got
    assert "DB_ROW_HASH_1" in msgs[0]["after"]
    assert got.count(("sv_" + t2, "insert")) == 2  # the new row and one history row
