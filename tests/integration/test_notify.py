# SPDX-License-Identifier: MIT
"""The service manager protocol (sd_notify) as systemd sees it.

Each test binds a unix datagram socket, starts rowcast with NOTIFY_SOCKET
pointing at it (as systemd does for Type=notify), and reads what arrives:
READY=1 once rowcast streams from the database and is connected to the
broker, WATCHDOG=1 pings when WATCHDOG_USEC is set, RELOADING=1 then
READY=1 on SIGHUP, STOPPING=1 on SIGTERM.
"""
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest


class NotifySocket:
    """What systemd's notification socket would receive, with times."""

    def __init__(self):
        # a short path: sun_path holds 108 bytes
        self.dir = tempfile.mkdtemp(prefix="rcn-", dir="/tmp")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []	# (monotonic time, {KEY: VALUE})
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.done:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = {}
            for line in data.decode("utf-8", "replace").split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            with self.lock:
                self.messages.append((time.monotonic(), fields))

    def all(self):
        with self.lock:
            return list(self.messages)

    def having(self, key, value="1"):
        """Times of the messages that carry KEY=VALUE."""
        return [t for t, f in self.all() if f.get(key) == value]

    def wait_for(self, key, value="1", count=1, timeout=20, proc=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.having(key, value)
            if len(got) >= count:
                return got
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.05)
        return self.having(key, value)

    def close(self):
        self.done = True
        self.thread.join(2)
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.rmdir(self.dir)


@pytest.fixture
def notify_socket():
    n = NotifySocket()
    yield n
    n.close()


def start(rc, notify, **extra_env):
    """Start the rowcast of fixture object rc as systemd would (Type=notify)."""
    env = dict(os.environ)
    for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(k, None)
    env["NOTIFY_SOCKET"] = notify.path
    env.update({k: str(v) for k, v in extra_env.items()})
    rc.starts += 1
    rc.logf = open(rc.log, "a")
    rc.p = subprocess.Popen([rc.bin, "-c", rc.conf], stdout=rc.logf,
                            stderr=subprocess.STDOUT, env=env)
    return rc.p


def describe(notify, rc):
    return "notifications: %r\nlog:\n%s" % ([f for _, f in notify.all()], open(rc.log).read())


def test_ready_after_connecting_and_stopping_on_sigterm(rowcast_factory, notify_socket):
    rc = rowcast_factory("notify-ready")
    p = start(rc, notify_socket)
    ready = notify_socket.wait_for("READY", proc=p)
    assert ready, "no READY=1\n" + describe(notify_socket, rc)
    assert len(ready) == 1, describe(notify_socket, rc)
    # READY=1 comes once rowcast streams from the database
    assert "streaming from" in open(rc.log).read(), describe(notify_socket, rc)
    assert p.poll() is None

    time.sleep(1.0)
    rc.p.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0, describe(notify_socket, rc)
    rc.logf.close()
    stopping = notify_socket.wait_for("STOPPING", timeout=2)
    assert stopping, "no STOPPING=1\n" + describe(notify_socket, rc)
    assert stopping[0] > ready[0]
    # without WATCHDOG_USEC there is no watchdog to ping
    assert not notify_socket.having("WATCHDOG"), describe(notify_socket, rc)


def test_no_ready_when_the_database_is_down(rowcast_factory, notify_socket, tmp_path):
    rc = rowcast_factory("notify-down")
    # a port nobody listens on: the first connection fails
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    conf = open(rc.conf).read()
    conf = conf.replace("\nport = %s\n" % rc_db_port(conf), "\nport = %d\n" % free_port, 1)
    open(rc.conf, "w").write(conf)
    p = start(rc, notify_socket)
    code = p.wait(60)
    rc.logf.close()
    assert code != 0, describe(notify_socket, rc)
    time.sleep(0.2)
    assert not notify_socket.having("READY"), describe(notify_socket, rc)


def rc_db_port(conf):
    """The [source] port line of a config written by conftest.Rowcast."""
    section = conf.split("[source]", 1)[1].split("\n[", 1)[0]
    for line in section.splitlines():
        if line.startswith("port = "):
            return line.split("=", 1)[1].strip()
    raise AssertionError("no [source] port in the test config")


def test_watchdog_pings(rowcast_factory, notify_socket):
    rc = rowcast_factory("notify-watchdog")
    # systemd sets WATCHDOG_USEC (and WATCHDOG_PID, left out here: a
    # child's pid is not known before it starts, and sd_watchdog_enabled
    # accepts its absence); pings are due at least every 2 s
    p = start(rc, notify_socket, WATCHDOG_USEC=2000000)
    ready = notify_socket.wait_for("READY", proc=p)
    assert ready, "no READY=1\n" + describe(notify_socket, rc)
    t0 = time.monotonic()
    time.sleep(4.5)
    assert p.poll() is None, describe(notify_socket, rc)
    pings = [t for t in notify_socket.having("WATCHDOG") if t >= t0]
    # every 1 s (half the interval): 4 or 5 in 4.5 s; 3 leaves room for a
    # slow machine, fewer would let systemd kill the service
    assert len(pings) >= 3, describe(notify_socket, rc)
    gaps = [b - a for a, b in zip([t0] + pings, pings + [time.monotonic()])]
    assert max(gaps) < 2.0, (gaps, describe(notify_socket, rc))
    rc.stop()


def test_reload_on_sighup(rowcast_factory, notify_socket):
    rc = rowcast_factory("notify-reload")
    p = start(rc, notify_socket)
    assert notify_socket.wait_for("READY", proc=p), "no READY=1\n" + describe(notify_socket, rc)
    p.send_signal(signal.SIGHUP)
    # RELOADING=1, then READY=1 again once the reload is done: without the
    # second READY=1 systemd would keep the unit in "reloading"
    reloading = notify_socket.wait_for("RELOADING", timeout=10, proc=p)
    assert reloading, "no RELOADING=1 after SIGHUP\n" + describe(notify_socket, rc)
    ready = notify_socket.wait_for("READY", count=2, timeout=10, proc=p)
    assert len(ready) == 2 and ready[1] > reloading[0], describe(notify_socket, rc)
    assert p.poll() is None, describe(notify_socket, rc)
    assert rc.stop() == 0
