# SPDX-License-Identifier: MIT
"""`rowcast test` with the rows a snapshot reads (op "read", rowcast(8),
TESTING ROUTES; rowcast-format(7), SNAPSHOTS): a captured native read row,
with its "snapshot" object, goes through the routes as the daemon would
route it, and a read with a before image or an unknown op is a bad case.
Offline: no server is needed."""
import json
import os
import subprocess

from conftest import TOP

BIN = os.environ.get("ROWCAST_BIN", os.path.join(TOP, "build", "rowcast"))

CONF = """[source]
user = rep
server_id = 7
[sink]
type = stdout
[route orders]
match = shop.orders
topic = t/{db}/{table}/{op}
key = {pk}
[route mx]
match = shop.mx
envelope = maxwell
[route dbz]
match = shop.dbz
envelope = debezium
"""

# the native message of a read row, as rowcast-format(7) describes it
READ = {"id": "snap-7-3@4", "op": "read", "db": "shop", "table": "orders", "gtid": None,
        "ts": 1529501823123, "before": None, "after": {"id": 7, "status": "paid"},
        "snapshot": {"id": 7, "on_demand": False, "chunk": 3}}


def run(tmp_path, cases):
    conf = tmp_path / "rowcast.conf"
    conf.write_text(CONF)
    f = tmp_path / "cases.jsonl"
    f.write_text("".join(json.dumps(c) + "\n" for c in cases))
    return subprocess.run([BIN, "test", "-c", str(conf), str(f)], capture_output=True,
                          text=True, timeout=60)


def with_table(change, table, **kw):
    c = dict(change, table=table)
    c.update(kw)
    return c


def test_read_rows_route_like_the_daemon(tmp_path):
    cases = [
        # the same topic and key an insert of the row gets, {op} = read
        {"change": READ, "expect": [{"topic": "t/shop/orders/read", "key": "7",
                                     "id": "snap-7-3@4", "payload": READ}]},
        # Maxwell's bootstrap row (maxwell docs, bootstrapping)
        {"change": with_table(READ, "mx"), "expect": [{"payload": {
            "database": "shop", "table": "mx", "type": "bootstrap-insert",
            "ts": 1529501823, "data": {"id": 7, "status": "paid"}}}]},
        # Debezium: op r; an on-demand snapshot is an incremental one
        {"change": with_table(READ, "dbz", snapshot={"id": 9, "on_demand": True, "chunk": 1}),
         "expect": [{"payload": {
             "before": None, "after": {"id": 7, "status": "paid"},
             "source": {"version": "rowcast-0.1.0", "connector": "mysql", "name": "rowcast",
                        "ts_ms": 1529501823123, "snapshot": "incremental", "db": "shop",
                        "sequence": None, "table": "dbz", "server_id": 7, "gtid": None,
                        "file": "", "pos": 0, "row": 0, "thread": None, "query": None},
             "op": "r", "ts_ms": 1529501823123, "transaction": None}}]},
    ]
    p = run(tmp_path, cases)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout == "3 cases, 0 failed\n", p.stdout


def test_bad_read_rows(tmp_path):
    cases = [
        {"change": dict(READ, before={"id": 7}), "expect": []},
        {"change": dict(READ, op="upsert"), "expect": []},
    ]
    p = run(tmp_path, cases)
    assert p.returncode == 1, p.stdout
    f = tmp_path / "cases.jsonl"
    assert p.stdout.splitlines() == [
        '%s:1: a read row has no "before"' % f,
        "%s:2: op 'upsert' is not insert, update, delete or read" % f,
        "2 cases, 2 failed",
    ]
