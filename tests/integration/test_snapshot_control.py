# SPDX-License-Identifier: MIT
"""The control socket as an operator meets it: made 0600 beside the
checkpoint while rowcast runs and gone after SIGTERM, a stale one from a
killed daemon replaced, `rowcast snapshot` with no daemon (69), requests
the daemon refuses with the reason (and the command line's own checks,
64), a client that stalls holding up neither requests nor publishing,
`rowcast status` with the daemon's lines, and a requested snapshot
published end to end with its progress in the log, status and /metrics."""
import os
import re
import signal
import socket
import stat
import subprocess
import time
import uuid

from test_ops import free_port, get, metric

NOT_DB_TABLE = "is not db.table (one dot; names with dots or spaces cannot be asked for here)"


def run(rc, *args, timeout=90):
    return subprocess.run([rc.bin] + list(args), capture_output=True, text=True, timeout=timeout)


def sock_of(rc):
    return os.path.join(str(rc.dir), "rowcast.sock")


def ask(path, data, timeout=15):
    """Send raw bytes to the control socket; the reply until it closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    s.close()
    return out.decode()


def scrape(base, name, **labels):
    """name{labels} in /metrics now, or None."""
    return metric(get(base + "/metrics")[1], name, **labels)


def test_socket_lives_with_the_daemon(sql, rowcast_factory):
    rc = rowcast_factory("it/" + uuid.uuid4().hex[:8])
    sock = sock_of(rc)
    assert not os.path.exists(sock)
    rc.start()
    rc.wait_log("connected to the database and the broker")
    st = os.lstat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()
    assert "control: listening on %s" % sock in open(rc.log).read()

    p = run(rc, "status", "-c", rc.conf)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    # what it showed before the socket, then the daemon's lines
    assert lines[0] == "checkpoint: %s" % rc.ckpt
    assert lines[1].startswith("position: ")
    assert re.fullmatch(r"age: \d+ s", lines[2])
    assert lines[3].startswith("running: yes (") and ("pid %d" % rc.p.pid) in lines[3]
    assert lines[4] == "pid: %d" % rc.p.pid
    assert lines[5] == "state: streaming"
    assert lines[6].startswith("acknowledged: ")
    assert re.fullmatch(r"source: connected \(127\.0\.0\.1:\d+\)", lines[7]), lines[7]
    assert lines[8] == "sink: connected"
    assert re.fullmatch(r"lag: \d+\.\d s", lines[9])
    rest = "\n".join(lines[10:])
    assert "in flight: 0 messages, 0 bytes" in rest
    assert re.search(r"^checkpoint written: \d+\.\d s ago$", rest, re.M)
    assert "\nhealth: ok\n" in rest
    assert rest.endswith("snapshot: none running\nsnapshot totals: 0 rows, 0 tables since the start")

    # a second copy is stopped by the checkpoint's lock before it touches
    # the socket: the first one still answers on it
    p = run(rc, "-c", rc.conf)
    assert p.returncode == 76 and "is in use by another rowcast" in p.stderr
    assert ask(sock, b"status\n").startswith("ok\npid: %d\n" % rc.p.pid)

    assert rc.stop() == 0
    assert not os.path.exists(sock)
    p = run(rc, "status", "-c", rc.conf)
    assert p.returncode == 0 and "running: no" in p.stdout and "pid:" not in p.stdout


def test_no_daemon_and_a_stale_socket(sql, rowcast_factory):
    rc = rowcast_factory("it/" + uuid.uuid4().hex[:8])
    sock = sock_of(rc)
    nobody = "rowcast: no rowcast runs with %s (nothing listens on %s)\n" % (rc.conf, sock)
    p = run(rc, "snapshot", "-c", rc.conf, "rctest.t1")
    assert p.returncode == 69, p.stderr
    assert p.stderr == nobody and p.stdout == ""

    # killed: the socket file stays behind, and still nobody listens
    rc.start()
    assert rc.stop(signal.SIGKILL) == -signal.SIGKILL
    assert stat.S_ISSOCK(os.lstat(sock).st_mode)
    p = run(rc, "snapshot", "rctest.t1", "-c", rc.conf)
    assert p.returncode == 69 and p.stderr == nobody

    # the next start (holding the lock) replaces it
    rc.start()
    assert ("control: replaced the socket %s a rowcast left that did not stop cleanly" % sock
            in open(rc.log).read())
    assert ask(sock, b"status\n").startswith("ok\n")
    assert rc.stop() == 0
    assert not os.path.exists(sock)


def test_refused_requests(sql, subscriber_factory, rowcast_factory):
    prefix = "it/" + uuid.uuid4().hex[:8]
    table = "ctl_" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % table)
    sub = subscriber_factory(prefix + "/#")
    rc = rowcast_factory(prefix)
    sock = sock_of(rc)
    rc.start()

    # a client that sends half a line and waits holds up neither the
    # other clients nor publishing
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(sock)
    stalled.sendall(b"sta")
    sql.run("INSERT INTO %s VALUES (1)" % table)
    assert len(sub.wait_for(1, timeout=20)) == 1

    cases = [
        (b"hello\n", 'error: unknown request "hello"; the requests are: snapshot, status\n'),
        (b"snapshot orders\n", 'error: table "orders" %s\n' % NOT_DB_TABLE),
        (b"snapshot a.b.c\n", 'error: table "a.b.c" %s\n' % NOT_DB_TABLE),
        (b"snapshot shop.`o`\n", 'error: table "shop.`o`": backquotes are refused in names\n'),
        (b"snapshot shop.o shop.o\n", "error: table shop.o is named twice\n"),
        (b"snapshot\n", "error: snapshot needs tables (db.table ...) or --all\n"),
        (b"snapshot --all --where 1=1\n", "error: --where needs named tables, not --all\n"),
        (b"snapshot shop.o --where\n", "error: --where needs a condition\n"),
        (b"snapshot shop.o --where a = 1\rb = 2\n",
         "error: the request has a control character (byte 0x0d at 29)\n"),
        (b"snapshot shop.o --where a\x00\n",
         "error: the request has a control character (byte 0x00 at 25)\n"),
        (b"status\nstatus\n", "error: one request line per connection\n"),
        (b"status please\n", "error: status takes no arguments\n"),
        (b"x" * 5000, "error: a request line has at most 4096 bytes\n"),
        (bytes(range(256)) * 20, "error: the request has a control character (byte 0x00 at 0)\n"),
    ]
    for data, want in cases:
        assert ask(sock, data) == want, data[:60]
    log = open(rc.log).read()
    assert 'control: request refused: unknown request "hello"' in log

    # the command line checks the same before it asks (64), and what the
    # daemon refuses is exit 1 with its reason
    p = run(rc, "snapshot", "-c", rc.conf, "orders")
    assert p.returncode == 64 and p.stderr == 'rowcast: table "orders" %s\n' % NOT_DB_TABLE
    p = run(rc, "snapshot", "-c", rc.conf)
    assert p.returncode == 64 and p.stderr.startswith("rowcast: name the tables (db.table) or --all\n")
    p = run(rc, "snapshot", "-c", rc.conf, "--bogus", "rctest.t")
    assert p.returncode == 64 and p.stderr.startswith("rowcast: unknown option --bogus\n")
    p = run(rc, "snapshot", "-c", rc.conf, "rctest.t", "--where")
    assert p.returncode == 64 and p.stderr.startswith("rowcast: option needs a value: --where\n")
    p = run(rc, "snapshot", "-c", rc.conf, "rctest.t", "--where", "a = 1\nOR 1")
    assert p.returncode == 64 and "the condition has a control character" in p.stderr
    missing = "rctest.no_such_table_" + uuid.uuid4().hex[:6]
    p = run(rc, "snapshot", "-c", rc.conf, missing)
    assert p.returncode == 1 and p.stdout == "", p.stderr
    assert p.stderr == "rowcast: snapshot: no table %s on the server\n" % missing
    assert ("control: snapshot request 1 refused: snapshot: no table %s on the server" % missing
            in open(rc.log).read())

    # the stalled client is still there, and publishing went on
    sql.run("INSERT INTO %s VALUES (2)" % table)
    assert len(sub.wait_for(2, timeout=20)) == 2
    stalled.close()
    assert rc.p.poll() is None
    assert rc.stop() == 0


def test_requested_snapshot_is_published(sql, subscriber_factory, rowcast_factory):
    prefix = "it/" + uuid.uuid4().hex[:8]
    table = "snapc_" + uuid.uuid4().hex[:8]
    n = 600
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(20));" % table +
            "INSERT INTO %s SELECT seq, CONCAT('v', seq) FROM seq_0_to_%d;" % (table, n - 1))
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    sub = subscriber_factory(prefix + "/#")
    # slow enough (200 rows/s) to be seen while it runs; read rows are
    # published only when [filter] ops names them
    rc = rowcast_factory(prefix, extra="[snapshot]\nprogress_interval = 1\nchunk_rows = 50\n"
                                       "max_rows_per_second = 200\n"
                                       "[filter]\nops = insert,update,delete,read\n"
                                       "[metrics]\nlisten = 127.0.0.1:%d\n" % port)
    rc.start()
    p = run(rc, "snapshot", "-c", rc.conf, "rctest." + table)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "snapshot 1: 1 table queued\n"

    # while it runs: status and /metrics show the table, the log its progress
    progress = re.compile(r"^snapshot \d+: rctest\.%s: \d+(/\d+)? rows.*, \d+ chunks?, "
                          r"(\d+|\?) rows/s, ETA .*, \d+ tables? left$" % table, re.M)
    deadline = time.time() + 30
    seen_status = seen_metric = False
    while time.time() < deadline and not (seen_status and seen_metric):
        out = run(rc, "status", "-c", rc.conf).stdout
        seen_status = seen_status or bool(progress.search(out))
        v = scrape(base, "rowcast_snapshot_table_rows", db="rctest", table=table)
        seen_metric = seen_metric or (v is not None and 0 < v < n)
        time.sleep(0.2)
    assert seen_status and seen_metric
    deadline = time.time() + 30
    while time.time() < deadline and not progress.search(
            open(rc.log).read().replace(" rowcast info: ", "\n")):
        time.sleep(0.2)
    assert progress.search(open(rc.log).read().replace(" rowcast info: ", "\n"))

    msgs = sub.wait_for(n, timeout=60)
    reads = [m for _, m in msgs if m.get("op") == "read"]
    assert sorted(m["after"]["id"] for m in reads) == list(range(n))
    deadline = time.time() + 20
    while time.time() < deadline and scrape(base, "rowcast_snapshot_active") != 0:
        time.sleep(0.2)
    assert scrape(base, "rowcast_snapshot_active") == 0
    assert scrape(base, "rowcast_snapshot_rows_total") == n
    assert scrape(base, "rowcast_snapshot_tables_done_total") == 1
    out = run(rc, "status", "-c", rc.conf).stdout
    assert "snapshot: none running\nsnapshot totals: %d rows, 1 table since the start\n" % n in out
    assert "control: snapshot request 1 accepted: snapshot 1: 1 table queued" in open(rc.log).read()

    # a condition the server refuses is refused at the request, with its reason
    p = run(rc, "snapshot", "-c", rc.conf, "rctest." + table, "--where", "no_such_column = 1")
    assert p.returncode == 1 and p.stdout == "", p.stderr
    assert p.stderr.startswith("rowcast: snapshot: ") and "no_such_column" in p.stderr

    # a part of it, by a condition
    p = run(rc, "snapshot", "-c", rc.conf, "rctest." + table, "--where", "id < 10")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "snapshot 2: 1 table queued where id < 10\n", p.stdout
    msgs = sub.wait_for(n + 10, timeout=60)
    reads = [m for _, m in msgs if m.get("op") == "read"]
    assert sorted(m["after"]["id"] for m in reads[n:]) == list(range(10))
    assert rc.stop() == 0
