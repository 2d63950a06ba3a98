# SPDX-License-Identifier: MIT
"""The stdout sink when whatever reads rowcast's stdout stops reading: the
writing waits, the event loop does not (SIGTERM stops rowcast within
shutdown_timeout_ms), the lines that were not written are not acknowledged,
and the next start publishes them: nothing is lost."""
import json
import os
import signal
import subprocess
import threading
import time
import uuid

N = 2000


def ids_of(data, table):
    """Ids of the complete lines of table in data (a write cut short when
    rowcast gives up on the reader may leave a partial last line; its row is
    not acknowledged and comes again)."""
    out = []
    for line in data.split("\n")[:-1]:
        m = json.loads(line)
        if m["table"] == table:
            out.append(m["after"]["id"])
    return out


def test_stalled_reader_does_not_hold_the_loop(sql, rowcast_factory):
    table = "so_" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, pad VARCHAR(1000)) ENGINE=InnoDB" % table)
    rc = rowcast_factory("it/so", extra="[sink]\ntype = stdout\nshutdown_timeout_ms = 1000\n"
                                        "[filter]\ninclude = rctest.%s\n" % table)
    log = open(rc.log, "a")
    # stdout is a pipe nobody reads until rowcast has stopped
    p = rc.p = subprocess.Popen([rc.bin, "-c", rc.conf], stdout=subprocess.PIPE, stderr=log)
    try:
        rc.wait_log("streaming from")
        sql.run("INSERT INTO %s SELECT seq, REPEAT('x', 1000) FROM seq_1_to_%d" % (table, N))
        time.sleep(2)	# the pipe (64 KiB) is full long before 2 MB
        assert p.poll() is None
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            raise AssertionError("SIGTERM with a stalled stdout: rowcast still running "
                                 "after 15 s:\n%s" % open(rc.log).read())
        took = time.time() - t0
        first = ids_of(p.stdout.read().decode(), table)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = open(rc.log).read()
    assert "still unacknowledged" in text, text
    assert took < 10, took
    assert 0 < len(first) < N
    assert first == list(range(1, len(first) + 1))

    # the next start goes on from the checkpoint: no row missing
    got = []
    p = rc.p = subprocess.Popen([rc.bin, "-c", rc.conf], stdout=subprocess.PIPE, stderr=log)

    def read():
        for line in p.stdout:
            got.extend(ids_of(line.decode(), table))	# lines end with \n

    t = threading.Thread(target=read, daemon=True)
    t.start()
    deadline = time.time() + 60
    while time.time() < deadline and (not got or got[-1] != N):
        assert p.poll() is None, open(rc.log).read()
        time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    p.wait(30)
    t.join(10)
    log.close()
    assert got and got[-1] == N, "second run ended at %s" % (got[-1:] or None)
    # it starts at or before the first row the first run did not write
    assert got[0] <= len(first) + 1, (got[0], len(first))
    assert got == list(range(got[0], N + 1))
    assert set(first) | set(got) == set(range(1, N + 1))
    assert os.path.exists(rc.ckpt)


def test_source_lag_grows_while_stalled(sql, rowcast_factory):
    """rowcast_source_lag_bytes: 0 when caught up; while the reader of
    stdout stalls and rows keep coming, at least the bytes the server wrote
    since; back to 0 once the output drains."""
    import socket
    import urllib.request

    table = "lag_" + uuid.uuid4().hex[:8]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, pad VARCHAR(1000)) ENGINE=InnoDB" % table)
    rc = rowcast_factory("it/lag", extra="[sink]\ntype = stdout\nmax_inflight = 10\n"
                                         "[filter]\ninclude = rctest.%s\n"
                                         "[metrics]\nlisten = 127.0.0.1:%d\n" % (table, port))

    def lag():
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("rowcast_source_lag_bytes "):
                    return int(line.split()[1])
        return None

    def wait_lag(pred, what):
        deadline = time.time() + 20
        v = None
        while time.time() < deadline:
            v = lag()
            if v is not None and pred(v):
                return v
            time.sleep(0.2)
        raise AssertionError("rowcast_source_lag_bytes never %s (last %r):\n%s" % (what, v, open(rc.log).read()))

    log = open(rc.log, "a")
    p = rc.p = subprocess.Popen([rc.bin, "-c", rc.conf], stdout=subprocess.PIPE, stderr=log)
    try:
        rc.wait_log("streaming from")
        wait_lag(lambda v: v == 0, "0 when caught up")
        sql.run("INSERT INTO %s SELECT seq, REPEAT('x', 1000) FROM seq_1_to_%d" % (table, N))
        # ~2 MB of rows behind a pipe of 64 KiB: most of them are not read
        behind = wait_lag(lambda v: v > 1000000, "above 1 MB while stalled")
        got = []

        def read():
            for line in p.stdout:
                got.extend(ids_of(line.decode(), table))
        t = threading.Thread(target=read, daemon=True)
        t.start()
        wait_lag(lambda v: v == 0, "back to 0 after draining")
        assert got and got[-1] == N
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        log.close()
    assert behind > 1000000
