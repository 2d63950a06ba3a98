# SPDX-License-Identifier: MIT
"""Shared fixtures for the integration tests.

The servers (MariaDB, Mosquitto) are started once per run by scripts/test
through scripts/services; every test gets a fresh rowcast process with its
own config, checkpoint and topic prefix.  Nothing here mocks a server.
"""
import json
import os
import shlex
import signal
import subprocess
import time
import uuid

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def services_env():
    out = subprocess.run([os.path.join(TOP, "scripts", "services"), "env"],
                         check=True, capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):]
        if "=" in line:
            k, v = line.split("=", 1)
            env[k] = shlex.split(v)[0] if v else ""
    return env


@pytest.fixture(scope="session")
def svc():
    env = services_env()
    st = subprocess.run([os.path.join(TOP, "scripts", "services"), "status", "mariadb", "mosquitto"],
                        capture_output=True, text=True)
    if st.returncode != 0:
        pytest.skip("services not running (scripts/test starts them): " + st.stdout.strip())
    return env


def mariadb_is_ours(env):
    """None when the server on our TCP port is the one whose socket and data
    folder scripts/services gave us, else what is wrong.  While a test has
    the private server stopped, its port is free, and a MariaDB started
    meanwhile by another checkout, bench/run or scripts/demo with the same
    port could take it: our restart then fails on the port, the socket stays
    absent ("Can't connect to local server through socket"), and TCP clients
    such as rowcast would reach the other server.  scripts/services now gives
    every data folder ports of its own; this check stays for ports set by
    hand."""
    datadir = os.path.join(env["ROWCAST_TEST_DIR"], "mariadb", "data")
    p = subprocess.run(["mariadb", "--no-defaults", "--protocol=tcp", "-h", "127.0.0.1",
                        "-P", env["ROWCAST_MARIADB_PORT"], "-utest", "-ptest", "--connect-timeout=5",
                        "--batch", "--skip-column-names", "-e", "SELECT @@datadir"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return "127.0.0.1:%s: %s" % (env["ROWCAST_MARIADB_PORT"], p.stderr.strip())
    if os.path.realpath(p.stdout.strip()) != os.path.realpath(datadir):
        return ("127.0.0.1:%s is served by a MariaDB with datadir %s, not ours (%s)"
                % (env["ROWCAST_MARIADB_PORT"], p.stdout.strip(), datadir))
    return None


def start_private_mariadb(env=None):
    """(Re)start the private MariaDB and make sure the port is ours again;
    fails the calling test, with the reason, when it is not."""
    p = subprocess.run([os.path.join(TOP, "scripts", "services"), "start", "mariadb"],
                       env=env, capture_output=True, text=True)
    why = mariadb_is_ours(services_env()) if p.returncode == 0 else None
    if p.returncode != 0 or why:
        pytest.fail("the private MariaDB did not come back: %s%s" % (p.stderr.strip(), why or ""),
                    pytrace=False)


@pytest.fixture(autouse=True)
def private_mariadb_is_ours(request):
    """Before each test that uses the servers: the private MariaDB answers on
    our port and is ours.  A test that left it stopped, or a port taken by
    another MariaDB, is named here instead of failing the next test."""
    if "svc" not in request.fixturenames and "sql" not in request.fixturenames:
        return
    env = request.getfixturevalue("svc")
    why = mariadb_is_ours(env)
    if why:
        start_private_mariadb()


class Sql:
    """The mariadb command-line client as root over the private socket."""

    def __init__(self, cnf):
        self.cnf = cnf

    def run(self, sql, db="rctest"):
        p = subprocess.run(["mariadb", "--defaults-file=" + self.cnf, "--batch", "--raw",
                            "--skip-column-names", db],
                           input=sql, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("mariadb failed: %s\n%s" % (p.stderr, sql[:500]))
        return p.stdout

    def rows(self, sql, db="rctest"):
        out = self.run(sql, db)
        return [line.split("\t") for line in out.splitlines()]

    def value(self, sql, db="rctest"):
        r = self.rows(sql, db)
        return r[0][0] if r else None

    def popen(self, sql, db="rctest"):
        """Run sql in the background; returns the process."""
        p = subprocess.Popen(["mariadb", "--defaults-file=" + self.cnf, "--batch", db],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        p.stdin.write(sql)
        p.stdin.close()
        return p


@pytest.fixture(scope="session")
def sql(svc):
    return Sql(svc["ROWCAST_MARIADB_CNF"])


class Subscriber:
    """A real MQTT client (mosquitto_sub) with a persistent QoS 1 session."""

    def __init__(self, port, topic, path):
        self.path = path
        self.port = port
        self.topic = topic
        self.client_id = "t-" + uuid.uuid4().hex[:12]
        self.f = open(path, "w")
        self.p = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port),
                                   "-q", "1", "-c", "-i", self.client_id, "-v",
                                   "-t", topic],
                                  stdout=self.f, stderr=subprocess.STDOUT)
        # subscribed once our own probe comes back
        probe_topic = topic.rstrip("#").rstrip("/") + "/__probe__"
        deadline = time.time() + 10
        while time.time() < deadline:
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                            "-t", probe_topic, "-m", "probe"], check=True)
            time.sleep(0.2)
            if "__probe__" in open(path).read():
                return
        raise RuntimeError("subscriber did not come up")

    def messages(self):
        """(topic, parsed JSON) for every rowcast message so far."""
        out = []
        with open(self.path) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or "__probe__" in line.split(" ", 1)[0]:
                    continue
                topic, payload = line.split(" ", 1)
                out.append((topic, json.loads(payload)))
        return out

    def wait_for(self, n, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.messages()
            if len(m) >= n:
                time.sleep(0.5)  # let any extra (duplicate) message show up too
                return self.messages()
            time.sleep(0.1)
        return self.messages()

    def close(self):
        self.p.terminate()
        self.p.wait(5)
        self.f.close()


@pytest.fixture
def subscriber_factory(svc, tmp_path):
    subs = []

    def make(topic):
        s = Subscriber(int(svc["ROWCAST_MQTT_PORT"]), topic, str(tmp_path / ("sub%d.txt" % len(subs))))
        subs.append(s)
        return s
    yield make
    for s in subs:
        s.close()


class Rowcast:
    """One rowcast process with its own config and checkpoint."""

    def __init__(self, svc, tmp_path, prefix, extra=""):
        self.bin = os.environ.get("ROWCAST_BIN", os.path.join(TOP, "build", "rowcast"))
        self.dir = tmp_path
        self.conf = str(tmp_path / "rowcast.conf")
        self.ckpt = str(tmp_path / "checkpoint")
        self.log = str(tmp_path / "rowcast.log")
        self.mqtt_port = svc["ROWCAST_MQTT_PORT"]
        with open(self.conf, "w") as f:
            f.write("[source]\nhost = 127.0.0.1\nport = %s\nuser = rowcast\npassword = rowcast\n"
                    "server_id = %d\nheartbeat_period = 1\n"
                    "[checkpoint]\npath = %s\ninterval_ms = 100\n"
                    "[mqtt]\nuri = tcp://127.0.0.1:%s\nclient_id = rc-%s\n"
                    "topic_prefix = %s\nqos = 1\n%s"
                    % (svc["ROWCAST_MARIADB_PORT"], 1000 + os.getpid() % 50000, self.ckpt,
                       svc["ROWCAST_MQTT_PORT"], uuid.uuid4().hex[:8], prefix, extra))
        self.p = None
        self.starts = 0

    def set_broker(self, uri):
        """Point [mqtt] uri at another broker (a URI, optionally followed by
        more [mqtt] lines); returns the new config text."""
        old = open(self.conf).read()
        text = old.replace("uri = tcp://127.0.0.1:%s\n" % self.mqtt_port, "uri = %s\n" % uri, 1)
        assert text != old, "no [mqtt] uri line to change in %s" % self.conf
        with open(self.conf, "w") as f:
            f.write(text)
        return text

    def start(self):
        self.starts += 1
        self.logf = open(self.log, "a")
        self.p = subprocess.Popen([self.bin, "-c", self.conf], stdout=self.logf,
                                  stderr=subprocess.STDOUT)
        self.wait_log("streaming from", self.starts)

    def wait_log(self, text, count=1, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if open(self.log).read().count(text) >= count:
                return
            if self.p.poll() is not None:
                raise RuntimeError("rowcast exited %s:\n%s" % (self.p.returncode, open(self.log).read()))
            time.sleep(0.05)
        raise RuntimeError("rowcast did not log %r:\n%s" % (text, open(self.log).read()))

    def stop(self, sig=signal.SIGTERM, timeout=30):
        self.p.send_signal(sig)
        rc = self.p.wait(timeout)
        self.logf.close()
        return rc

    def close(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def rowcast_factory(svc, tmp_path):
    made = []

    def make(prefix, extra=""):
        r = Rowcast(svc, tmp_path, prefix, extra)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()
