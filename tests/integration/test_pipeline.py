# SPDX-License-Identifier: MIT
"""End to end: MariaDB row changes reach a real MQTT subscriber exactly once.

The oracle is the server: the final table as the server's own SELECT shows it
must equal the table rebuilt from the messages, every statement (each touches
one row) must give exactly one message, and the GTIDs must be the server's.
"""
import random
import signal
import time
import uuid

import pytest


def make_batch(rng, table, live, next_id, n):
    """n single-row statements in transactions of 1..40; returns (sql, ops, next_id)."""
    stmts, ops = [], []
    while len(ops) < n:
        size = min(rng.randint(1, 40), n - len(ops))
        stmts.append("BEGIN;")
        for _ in range(size):
            r = rng.random()
            if r < 0.6 or len(live) < 5:
                i = next_id
                next_id += 1
                name = rng.choice(["alpha", "beta", "", "caf\u00e9", "quote'd", "tab\tx", "\u6f22\u5b57\U0001F600"])
                qty = rng.choice([0, -1, 2**63 - 1, -2**63, rng.randint(-10**6, 10**6)])
                when = "2026-%02d-%02d %02d:%02d:%02d" % (rng.randint(1, 12), rng.randint(1, 28),
                                                          rng.randint(0, 23), rng.randint(0, 59),
                                                          rng.randint(0, 59))
                stmts.append("INSERT INTO %s VALUES (%d, '%s', %d, '%s', %s, NULL);" % (
                    table, i, name.replace("'", "''"), qty, when,
                    "NULL" if rng.random() < 0.2 else str(rng.randint(0, 255))))
                live.add(i)
                ops.append("insert")
            elif r < 0.85:
                i = rng.choice(sorted(live))
                stmts.append("UPDATE %s SET qty = qty DIV 2 + 1, note = 'u%d' WHERE id = %d;" % (
                    table, rng.randint(0, 999), i))
                ops.append("update")
            else:
                i = rng.choice(sorted(live))
                live.discard(i)
                stmts.append("DELETE FROM %s WHERE id = %d;" % (table, i))
                ops.append("delete")
        stmts.append("COMMIT;")
    return "\n".join(stmts) + "\n", ops, next_id


def replay(msgs):
    rows = {}
    for _, m in msgs:
        if m["op"] == "delete":
            rows.pop(m["before"]["id"], None)
        else:
            rows[m["after"]["id"]] = m["after"]
    return rows


def server_rows(sql, table):
    out = {}
    # text columns as hex, so tabs and newlines survive the batch output
    for r in sql.rows("SELECT id, HEX(name), qty, created, tiny, HEX(note) FROM %s" % table):
        r[1] = bytes.fromhex(r[1]).decode("utf-8")
        if r[5] != "NULL":
            r[5] = bytes.fromhex(r[5]).decode("utf-8")
        out[int(r[0])] = r
    return out


def assert_same(sql, table, msgs):
    got = replay(msgs)
    want = server_rows(sql, table)
    assert sorted(got) == sorted(want)
    for i, r in want.items():
        g = got[i]
        # mariadb --batch --raw prints values as text; NULL as "NULL"
        assert g["name"] == r[1]
        assert str(g["qty"]) == r[2]
        assert g["created"] == r[3]
        assert (g["tiny"] is None and r[4] == "NULL") or str(g["tiny"]) == r[4]
        assert (g["note"] is None and r[5] == "NULL") or g["note"] == r[5]


@pytest.mark.parametrize("client", ["mosquitto", "paho"])
def test_exactly_once_and_clean_restart(client, sql, subscriber_factory, rowcast_factory):
    table = "items_" + uuid.uuid4().hex[:8]
    prefix = "it/" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, name VARCHAR(64) CHARACTER SET utf8mb4, "
            "qty BIGINT NOT NULL, created DATETIME NOT NULL, tiny TINYINT UNSIGNED NULL, "
            "note TEXT NULL) ENGINE=InnoDB" % table)
    sub = subscriber_factory(prefix + "/#")
    rc = rowcast_factory(prefix, extra="client = %s\n" % client)
    rc.start()
    rng = random.Random(20261128)
    live = set()

    # batch 1: 1,000 row changes in transactions of varied size
    batch, ops1, next_id = make_batch(rng, table, live, 1, 1000)
    sql.run(batch)
    msgs = sub.wait_for(1000)
    assert len(msgs) == 1000, "expected 1000 messages, got %d" % len(msgs)
    assert [m["op"] for _, m in msgs] == ops1
    ids = [m["id"] for _, m in msgs]
    assert len(set(ids)) == len(ids)
    for topic, m in msgs:
        assert topic == "%s/rctest/%s" % (prefix, table)
        assert m["db"] == "rctest" and m["table"] == table
        assert m["id"] == "%s@%s" % (m["gtid"], m["id"].rsplit("@", 1)[1])
        assert abs(m["ts"] / 1000 - time.time()) < 120
    # the last GTID published is the server's own last GTID
    last = msgs[-1][1]["gtid"]
    pos = sql.value("SELECT @@gtid_binlog_pos").split(",")
    assert last in pos, (last, pos)
    assert_same(sql, table, msgs)

    # batch 2: SIGTERM in the middle, restart, nothing missing or repeated
    batch, ops2, next_id = make_batch(rng, table, live, next_id, 1000)
    writer = sql.popen(batch)
    sub.wait_for(1000 + 200, timeout=30)
    assert rc.stop(signal.SIGTERM) == 0
    assert "stopped cleanly" in open(rc.log).read()
    writer.wait(60)
    assert writer.returncode == 0, writer.stderr.read()
    rc.start()
    msgs = sub.wait_for(2000)
    time.sleep(1.0)
    msgs = sub.messages()
    ids = [m["id"] for _, m in msgs]
    dups = len(ids) - len(set(ids))
    assert dups == 0, "%d duplicates after a clean stop" % dups
    assert len(msgs) == 2000, "expected 2000 messages, got %d" % len(msgs)
    assert [m["op"] for _, m in msgs] == ops1 + ops2
    assert_same(sql, table, msgs)
    assert rc.stop(signal.SIGTERM) == 0


def test_first_start_writes_checkpoint_before_publishing(sql, subscriber_factory, rowcast_factory):
    prefix = "it/" + uuid.uuid4().hex[:8]
    rc = rowcast_factory(prefix)
    rc.start()
    text = open(rc.ckpt).read()
    assert "gtid_state = " in text and "[checksum]" in text
    # a second instance on the same checkpoint is refused and names the holder
    import subprocess
    p = subprocess.run([rc.bin, "-c", rc.conf], capture_output=True, text=True, timeout=30)
    assert p.returncode == 76
    assert "is in use by another rowcast (pid %d)" % rc.p.pid in p.stderr
    assert rc.stop() == 0
