# SPDX-License-Identifier: MIT
"""Derived events as a consumer receives them: filters, routes (topic, key,
columns, rename, event type), envelopes, the outbox router of the example
order service, transaction markers and DDL events; and template errors."""
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import TOP


class Sub5:
    """An MQTT 5 subscriber that keeps topics, user properties and payloads."""

    def __init__(self, port, topic, path):
        self.path = path
        self.f = open(path, "w")
        self.p = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-V",
                                   "mqttv5", "-q", "1", "-t", topic, "-F", "%t\t%P\t%p"],
                                  stdout=self.f, stderr=subprocess.STDOUT)
        time.sleep(0.3)

    def messages(self):
        out = []
        for line in open(self.path):
            line = line.rstrip("\n")
            if line.count("\t") < 2:
                continue
            topic, props, payload = line.split("\t", 2)
            d = {}
            for kv in props.split(" "):
                if ":" in kv:
                    k, v = kv.split(":", 1)
                    d[k] = v
            out.append((topic, d, payload))
        return out

    def wait(self, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.messages()) < n:
            time.sleep(0.1)
        time.sleep(0.5)
        return self.messages()

    def close(self):
        self.p.terminate()
        self.p.wait(5)


def test_routes_filters_envelopes(svc, sql, rowcast_factory, tmp_path):
    t = uuid.uuid4().hex[:6]
    prefix = "rt" + t
    sql.run("CREATE TABLE orders_%s (id INT PRIMARY KEY, status VARCHAR(10), total DECIMAL(8,2), "
            "secret VARCHAR(10)); CREATE TABLE ignored_%s (id INT PRIMARY KEY);"
            "CREATE TABLE deb_%s (id INT PRIMARY KEY, d DATE, v VARCHAR(5));" % (t, t, t))
    sub = Sub5(int(svc["ROWCAST_MQTT_PORT"]), prefix + "/#", str(tmp_path / "sub.txt"))
    extra = ("[filter]\nexclude = rctest.ignored_*\ndrop_columns = *.*.secret\n"
             "[route orders]\nmatch = rctest.orders_%s\nops = insert, update\n"
             "topic = {prefix}/orders/{op}/{pk}\nkey = {pk}\nrename = total:amount\n"
             "event_type = Order{Op}\n"
             "[route deb]\nmatch = rctest.deb_%s\nenvelope = debezium\n" % (t, t))
    rc = rowcast_factory(prefix, extra=extra)
    rc.start()
    sql.run("INSERT INTO orders_{t} VALUES (1, 'placed', 19.90, 'x');"
            "INSERT INTO ignored_{t} VALUES (1);"
            "UPDATE orders_{t} SET status = 'paid' WHERE id = 1;"
            "DELETE FROM orders_{t} WHERE id = 1;"
            "INSERT INTO deb_{t} VALUES (5, '2018-06-20', 'hé');".format(t=t))
    msgs = sub.wait(3)
    sub.close()
    assert [m[0] for m in msgs] == [prefix + "/orders/insert/1", prefix + "/orders/update/1",
                                    prefix + "/rctest/deb_" + t]
    ins = json.loads(msgs[0][2])
    assert ins["after"] == {"id": 1, "status": "placed", "amount": "19.90"}
    assert ins["event_type"] == "OrderInsert"
    assert msgs[0][1]["key"] == "1" and msgs[0][1]["event_type"] == "OrderInsert"
    assert json.loads(msgs[1][2])["before"] == {"id": 1, "status": "placed", "amount": "19.90"}
    deb = json.loads(msgs[2][2])
    assert deb["op"] == "c" and deb["before"] is None
    assert deb["after"] == {"id": 5, "d": 17702, "v": "h\u00e9"}   # days since 1970-01-01
    assert deb["source"]["db"] == "rctest" and deb["source"]["table"] == "deb_" + t
    assert rc.stop() == 0


def test_outbox_markers_ddl_example(svc, sql, rowcast_factory, tmp_path):
    """examples/orders: an order placed in a transaction becomes exactly one
    domain event; the outbox table stays empty."""
    t = uuid.uuid4().hex[:6]
    db = "shop_" + t
    schema = open(os.path.join(TOP, "examples", "orders", "schema.sql")).read()
    sql.run(schema.replace("shop", db), db="mysql")
    conf = open(os.path.join(TOP, "examples", "orders", "rowcast.conf")).read()
    # the example's routing, for this test's database
    routing = conf[conf.index("[filter]"):].replace("shop.", db + ".")
    # the example's route script sits beside its config
    shutil.copy(os.path.join(TOP, "examples", "orders", "order_events.lua"), str(tmp_path))
    prefix = "ob" + t
    extra = routing.replace("topic = events/{aggregate_type}", "topic = {prefix}/events/{aggregate_type}")
    extra += ("\n[routing]\ntransaction_markers = true\nddl_events = true\ninclude_query = true\n"
              if "[routing]" not in extra else "")
    extra = extra.replace("[routing]\n# rows of other shop tables are not published\nunmatched = drop\n",
                          "[routing]\nunmatched = drop\ntransaction_markers = true\n"
                          "ddl_events = true\ninclude_query = true\n")
    sub = Sub5(int(svc["ROWCAST_MQTT_PORT"]), prefix + "/#", str(tmp_path / "sub.txt"))
    rc = rowcast_factory(prefix, extra=extra)
    rc.start()
    for i in (42, 43):
        sql.run("BEGIN;"
                "INSERT INTO orders VALUES (%d, 'ada', 'placed', 19.90, 'tok_secret', NOW(3));"
                "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, tenant) VALUES "
                "('evt-%d', 'Order', '%d', 'OrderPlaced', '{\"orderId\":%d,\"total\":\"19.90\"}', 'eu');"
                "DELETE FROM outbox WHERE aggregateid = '%d';"
                "COMMIT;" % (i, i, i, i, i), db=db)
    sql.run("TRUNCATE TABLE orders; CREATE USER IF NOT EXISTS 'nobody_%s'@'localhost';"
            "DROP USER 'nobody_%s'@'localhost';" % (t, t), db=db)
    msgs = sub.wait(2 * 4 + 3)
    sub.close()
    assert rc.stop() == 0
    topics = [m[0] for m in msgs]
    # per order transaction: BEGIN, the order row, the outbox event, END
    begins = [m for m in msgs if m[0].endswith("/_transactions") and '"BEGIN"' in m[2]]
    ends = [json.loads(m[2]) for m in msgs if m[0].endswith("/_transactions") and '"END"' in m[2]]
    assert len(begins) >= 2 and len(ends) >= 2
    end = [e for e in ends if e["events"] == 2][0]
    assert end["tables"] == {"%s.orders" % db: 1, "%s.outbox" % db: 1}
    events = [m for m in msgs if m[0] == prefix + "/events/Order"]
    assert len(events) == 2, topics
    assert json.loads(events[0][2]) == {"orderId": 42, "total": "19.90"}
    assert events[0][1]["id"] == "evt-42" and events[0][1]["key"] == "42"
    assert events[0][1]["event_type"] == "OrderPlaced" and events[0][1]["tenant"] == "eu"
    orders = [json.loads(m[2]) for m in msgs if m[0] == "%s/orders/insert/42" % prefix]
    assert len(orders) == 1 and "card_token" not in orders[0]["after"]
    assert orders[0]["event_type"] == "OrderInsert" and orders[0]["after"]["amount"] == "19.90"
    # TRUNCATE is published on the table's route; account statements never
    trunc = [json.loads(m[2]) for m in msgs if '"truncate"' in m[2]]
    assert len(trunc) == 1 and trunc[0]["table"] == "orders" and trunc[0]["db"] == db
    ddl = [json.loads(m[2]) for m in msgs if m[0].endswith("/_schema")]
    assert any("TRUNCATE" in d.get("query", "") for d in ddl)
    assert not any("USER" in m[2] for m in msgs)


def test_unknown_placeholder_is_a_config_error(rowcast_factory):
    rc = rowcast_factory("x", extra="[route r]\nmatch = *.*\ntopic = a/{nope}/b\n")
    p = subprocess.run([rc.bin, "check-config", "-c", rc.conf], capture_output=True, text=True)
    assert p.returncode == 78
    lines = [l for l in p.stderr.splitlines() if " error: " in l]
    assert len(lines) == 1
    assert lines[0].endswith("rowcast.conf:18: [route r] topic: unknown placeholder {nope} in template 'a/{nope}/b'"), lines


def test_cloudevents_binary_mode(svc, sql, rowcast_factory, tmp_path):
    t = uuid.uuid4().hex[:6]
    prefix = "ce" + t
    sql.run("CREATE TABLE ce_%s (id INT PRIMARY KEY, v VARCHAR(5))" % t)
    sub = Sub5(int(svc["ROWCAST_MQTT_PORT"]), prefix + "/#", str(tmp_path / "sub.txt"))
    rc = rowcast_factory(prefix, extra="[routing]\nenvelope = cloudevents-binary\n"
                                       "source_uri = rowcast://test\n")
    rc.start()
    sql.run("INSERT INTO ce_%s VALUES (1, 'a')" % t)
    msgs = sub.wait(1)
    sub.close()
    assert rc.stop() == 0
    topic, props, payload = msgs[0]
    data = json.loads(payload)
    assert data["after"] == {"id": 1, "v": "a"}            # the event data, as is
    assert props["specversion"] == "1.0" and props["id"] == data["id"]
    assert props["source"] == "rowcast://test"
    assert props["type"] == "rowcast.rctest.ce_%s.insert" % t
    assert props["subject"] == "rctest.ce_%s" % t
    assert props["time"].endswith("Z") and "T" in props["time"]


def test_amqp_route_routing_key_and_key_header(svc, sql, rowcast_factory):
    pika = pytest.importorskip("pika", reason="python3-pika is not installed")
    if subprocess.run([os.path.join(TOP, "scripts", "services"), "status", "rabbitmq"],
                      capture_output=True).returncode != 0:
        pytest.skip("rabbitmq is not running (scripts/test starts it)")
    t = uuid.uuid4().hex[:6]
    port = int(svc["ROWCAST_AMQP_PORT"])
    exch, queue = "rk_" + t, "rkq_" + t
    params = pika.ConnectionParameters("127.0.0.1", port,
                                       credentials=pika.PlainCredentials("guest", "guest"))
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    ch.exchange_declare(exch, "topic", durable=True)
    ch.queue_declare(queue, durable=True)
    ch.queue_bind(queue, exch, "orders.#")
    conn.close()
    sql.run("CREATE TABLE rk_%s (id INT PRIMARY KEY, status VARCHAR(8))" % t)
    rc = rowcast_factory("rk", extra="[route o]\nmatch = rctest.rk_%s\n"
                                     "topic = orders.{op}.{col:status}\nkey = {pk}\n" % t)
    conf = open(rc.conf).read().replace(
        "[checkpoint]", "[sink]\ntype = amqp\n[amqp]\nport = %d\nexchange = %s\n[checkpoint]"
        % (port, exch), 1)
    open(rc.conf, "w").write(conf)
    rc.start()
    sql.run("INSERT INTO rk_%s VALUES (7, 'new/x')" % t)
    got = None
    for _ in range(50):
        conn = pika.BlockingConnection(params)
        mf, props, body = conn.channel().basic_get(queue, auto_ack=True)
        conn.close()
        if mf:
            got = (mf.routing_key, props.headers, json.loads(body))
            break
        time.sleep(0.2)
    assert rc.stop() == 0
    assert got, "no message"
    # AMQP routing keys are not MQTT topics: values go in as they are
    assert got[0] == "orders.insert.new/x"
    assert got[1]["key"] == "7" and got[1]["table"] == "rk_" + t


def test_outbox_row_missing_a_column(sql, rowcast_factory):
    t = uuid.uuid4().hex[:6]
    sql.run("CREATE TABLE ob_%s (id VARCHAR(10) PRIMARY KEY, aggregatetype VARCHAR(10), "
            "aggregateid VARCHAR(10), type VARCHAR(10), payload TEXT NULL)" % t)
    rc = rowcast_factory("obm", extra="[outbox o]\ntable = rctest.ob_%s\n" % t)
    rc.start()
    sql.run("INSERT INTO ob_%s VALUES ('e1', 'Order', '1', 'Placed', NULL)" % t)
    gtid = sql.value("SELECT @@gtid_binlog_pos").split(",")[0]
    assert rc.p.wait(20) == 75
    last = open(rc.log).read().strip().splitlines()[-1]
    assert last.split(" ", 1)[1] == ("rowcast error: outbox o: table rctest.ob_%s column 'payload' is NULL in the row "
                    "of GTID %s" % (t, gtid)), last
