# SPDX-License-Identifier: MIT
"""examples/orders, the worked example of derived domain events: its case
file passes `rowcast test` (and a wrong expectation fails with a diff), and
against the private MariaDB the daemon publishes, for real row changes,
exactly the messages `rowcast test` predicts from the same changes captured
as native messages, and `rowcast decode -c` makes them of the binlog files."""
import json
import os
import subprocess
import uuid

from conftest import TOP, Rowcast
from test_routes import Sub5

EX = os.path.join(TOP, "examples", "orders")
BIN = os.environ.get("ROWCAST_BIN", os.path.join(TOP, "build", "rowcast"))


def rowcast_test(conf, *cases):
    return subprocess.run([BIN, "test", "-c", conf] + list(cases), capture_output=True,
                          text=True, timeout=60)


def test_example_cases_pass():
    p = rowcast_test(os.path.join(EX, "rowcast.conf"), os.path.join(EX, "cases.jsonl"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout == "5 cases, 0 failed\n", p.stdout


def test_wrong_expectation_fails_with_a_diff(tmp_path):
    text = open(os.path.join(EX, "cases.jsonl")).read()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(text.replace('"topic":"events/Customer/CustomerEmailChanged"',
                                '"topic":"events/Customer/EmailChanged"'))
    p = rowcast_test(os.path.join(EX, "rowcast.conf"), str(bad))
    assert p.returncode == 1, p.stdout
    lines = p.stdout.splitlines()
    assert lines[0] == "%s:9: the messages differ" % bad, lines
    assert lines[1:3] == ["--- expected", "+++ got"]
    assert "-  topic: events/Customer/EmailChanged" in lines
    assert "+  topic: events/Customer/CustomerEmailChanged" in lines
    assert lines[-1] == "5 cases, 1 failed"


def test_example_live_matches_rowcast_test(svc, sql, rowcast_factory, tmp_path):
    t = uuid.uuid4().hex[:6]
    db = "shopx_" + t
    prefix = "ex" + t
    sql.run(open(os.path.join(EX, "schema.sql")).read().replace("shop", db), db="mysql")
    conf = open(os.path.join(EX, "rowcast.conf")).read()
    routing = conf[conf.index("[filter]"):].replace("shop.", db + ".")
    routing = routing.replace("topic = events/", "topic = {prefix}/events/")
    lua = open(os.path.join(EX, "order_events.lua")).read()
    (tmp_path / "order_events.lua").write_text(
        lua.replace('topic = "events/', 'topic = "%s/events/' % prefix))
    sub = Sub5(int(svc["ROWCAST_MQTT_PORT"]), prefix + "/#", str(tmp_path / "sub.txt"))
    rc = rowcast_factory(prefix, extra=routing)
    # a second rowcast captures the same changes as native messages (stdout)
    cap_dir = tmp_path / "capture"
    cap_dir.mkdir()
    cap = Rowcast(svc, cap_dir, "cap", "[sink]\ntype = stdout\n[filter]\ninclude = %s.*\n" % db)
    try:
        rc.start()
        cap.start()
        sql.run("INSERT INTO orders VALUES (42, 'ada', 'placed', 19.90, 'tok_x', NOW(3));"
                "INSERT INTO customers VALUES (7, 'Ada', 'ada@example.com');"
                "UPDATE orders SET status = 'paid' WHERE id = 42;"
                "UPDATE orders SET status = 'cancelled', card_token = NULL WHERE id = 42;"
                "UPDATE customers SET email = 'ada@example.org' WHERE id = 7;"
                "UPDATE customers SET name = 'Ada L.' WHERE id = 7;"
                "UPDATE orders SET total = 21.00 WHERE id = 42;", db=db)
        # order insert, paid (2), cancelled (2), email (1), total (1)
        got = sub.wait(7)
    finally:
        sub.close()
        cap.close()
    assert rc.stop() == 0
    native = [l for l in open(cap.log).read().splitlines() if l.startswith("{")]
    assert len(native) == 7, native    # every row change of the database
    changes = tmp_path / "captured.jsonl"
    changes.write_text("\n".join(native) + "\n")
    p = rowcast_test(rc.conf, str(changes))
    assert p.returncode == 0, p.stdout + p.stderr
    predicted = [tuple(l.split("\t", 2)) for l in p.stdout.splitlines()[:-1]]
    live = [(topic, props["id"], payload) for topic, props, payload in got]
    assert live == predicted
    topics = [x[0][len(prefix) + 1:] for x in live]
    assert topics == ["orders/insert/42", "events/Order/OrderPaid", "orders/update/42",
                      "events/Order/OrderCancelled", "orders/update/42",
                      "events/Customer/CustomerEmailChanged", "orders/update/42"], topics
    paid = json.loads(live[1][2])
    assert paid["type"] == "OrderPaid" and paid["total"] == "19.90"
    assert paid["eventId"] == live[1][1] and live[1][1].endswith("@0/0")
    assert not any("tok_x" in x[2] for x in live)
    # rowcast decode -c: the same routes applied to the binlog files
    bdir = os.path.join(svc["ROWCAST_TEST_DIR"], "mariadb", "binlog")
    files = sorted(os.path.join(bdir, f) for f in os.listdir(bdir)
                   if f.startswith("mysql-bin.") and not f.endswith(".index"))
    p = subprocess.run([BIN, "decode", "-c", rc.conf] + files, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    decoded = [tuple(l.split("\t", 2)) for l in p.stdout.splitlines()
               if l.startswith(prefix + "/")]
    assert decoded == predicted
