# SPDX-License-Identifier: MIT
"""The paho MQTT backend ([mqtt] client = paho; test_torture.py runs the
default, libmosquitto): 30 SIGKILLs during a QoS 1 workload lose nothing and
every duplicate equals its first copy; 30 SIGTERMs repeat nothing.  The
other promises are tested for both client libraries where they are tested:
test_pipeline.py (exactly once, clean restart), test_mqtt.py (exact
payloads, MQTT 5 properties, status topic, last will, QoS 2, 3.1.1),
test_outage.py (broker outage, frozen broker, broker killed: the client's
own re-sends), test_tls.py (TLS), test_errors.py (unreachable broker)."""
import signal

import test_torture as torture

PAHO = "client = paho\n"
TORTURE_ROWS = 20000
RESTARTS = 30


def run_torture(sql, subscriber_factory, rowcast_factory, sig, qos, rows, inflight=500):
    """tests/integration/test_torture.py's run_torture with client = paho."""
    return torture.run_torture(sql, subscriber_factory, rowcast_factory, sig, qos,
                               inflight=inflight, rows=rows, extra=PAHO)


def test_sigkill_torture(sql, subscriber_factory, rowcast_factory):
    kills, dups = run_torture(sql, subscriber_factory, rowcast_factory, signal.SIGKILL, 1,
                              TORTURE_ROWS)
    assert kills >= RESTARTS
    # what may come again at a crash: the in-flight window and what was
    # acknowledged after the last checkpoint write
    assert dups <= kills * (500 + 3000), dups


def test_sigterm_restarts_no_duplicates(sql, subscriber_factory, rowcast_factory):
    kills, dups = run_torture(sql, subscriber_factory, rowcast_factory, signal.SIGTERM, 1,
                              TORTURE_ROWS)
    assert kills >= RESTARTS
    assert dups == 0, "%d duplicates after clean stops" % dups
