# SPDX-License-Identifier: MIT
"""TLS to the database: a private MariaDB with a certificate from a test CA
made here; a user that requires TLS; rowcast streams with verify_identity,
is refused with a foreign CA, and cannot connect with TLS disabled.  The
password comes from password_file and never appears in the log or in the
process title."""
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import TOP


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=%s" % name, "-keyout", name + ".key", "-out", name + ".pem", cwd=d)


def make_pki(d):
    """In folder d: a test CA (ca.pem), another CA (otherca.pem) and a server
    certificate of the first for 127.0.0.1 and localhost (server.pem/.key)."""
    make_ca(d, "ca")
    make_ca(d, "otherca")
    with open(os.path.join(d, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
            "server.key", "-out", "server.csr", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.pem", cwd=d)


@pytest.fixture
def tls_server(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    d = str(tmp_path)
    make_pki(d)
    services = os.path.join(TOP, "scripts", "services")
    port = str(30000 + os.getpid() % 20000)
    env = dict(os.environ, ROWCAST_TEST_DIR=os.path.join(d, "srv"), ROWCAST_MARIADB_PORT=port,
               ROWCAST_MARIADB_EXTRA_ARGS="--ssl-ca=%s/ca.pem --ssl-cert=%s/server.pem "
                                          "--ssl-key=%s/server.key" % (d, d, d))
    subprocess.run([services, "start", "mariadb"], env=env, check=True, capture_output=True)
    cnf = os.path.join(d, "srv", "mariadb", "client.cnf")
    user = "tls_" + uuid.uuid4().hex[:6]
    subprocess.run(["mariadb", "--defaults-file=" + cnf, "-e",
                    "CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY 's3cr3t-pw' REQUIRE SSL; "
                    "GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO '%s'@'127.0.0.1'; "
                    "CREATE DATABASE IF NOT EXISTS tlsdb; "
                    "CREATE TABLE tlsdb.t (id INT PRIMARY KEY)" % (user, user)],
                   check=True, capture_output=True)
    yield {"dir": d, "port": port, "user": user, "cnf": cnf}
    subprocess.run([services, "clean"], env=env, capture_output=True)


def config(tls, tmp_path, mode, ca):
    pw = tmp_path / "db.password"
    pw.write_text("s3cr3t-pw\n")
    conf = tmp_path / ("rc-%s.conf" % mode)
    conf.write_text("[source]\nhost = 127.0.0.1\nport = %s\nuser = %s\npassword_file = %s\n"
                    "server_id = 77\nssl_mode = %s\nssl_ca = %s\n[checkpoint]\npath = %s\n"
                    "[sink]\ntype = stdout\n"
                    % (tls["port"], tls["user"], pw, mode, ca, tmp_path / ("ck-" + mode)))
    return str(conf)


def test_tls_modes(tls_server, tmp_path):
    bin_ = os.environ.get("ROWCAST_BIN", os.path.join(TOP, "build", "rowcast"))
    d = tls_server["dir"]
    # verified against the right CA: streams
    conf = config(tls_server, tmp_path, "verify_identity", os.path.join(d, "ca.pem"))
    out = open(tmp_path / "out.jsonl", "w")
    log = open(tmp_path / "rc.log", "w")
    p = subprocess.Popen([bin_, "-c", conf], stdout=out, stderr=log)
    time.sleep(1.0)
    subprocess.run(["mariadb", "--defaults-file=" + tls_server["cnf"], "-e",
                    "INSERT INTO tlsdb.t VALUES (1)"], check=True)
    for _ in range(50):
        if open(tmp_path / "out.jsonl").read().count("\n") >= 1:
            break
        time.sleep(0.1)
    # the process title shows no password
    cmdline = open("/proc/%d/cmdline" % p.pid).read()
    p.send_signal(15)
    assert p.wait(20) == 0, open(tmp_path / "rc.log").read()
    assert '"tlsdb"' in open(tmp_path / "out.jsonl").read()
    assert "s3cr3t" not in cmdline
    assert "s3cr3t" not in open(tmp_path / "rc.log").read()

    # a certificate from another CA: refused, with the reason
    conf = config(tls_server, tmp_path, "verify_ca", os.path.join(d, "otherca.pem"))
    r = subprocess.run([bin_, "-c", conf], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "cannot connect" in r.stderr and "s3cr3t" not in r.stderr

    # TLS off for a user that requires it: the server says no
    conf = config(tls_server, tmp_path, "disabled", "")
    r = subprocess.run([bin_, "-c", conf], capture_output=True, text=True, timeout=30)
    assert r.returncode == 76, r.stderr
    assert "Access denied" in r.stderr and "s3cr3t" not in r.stderr


def test_snapshot_over_tls(tls_server, tmp_path):
    """The snapshot's own connection speaks TLS as the replica connection
    does: for a user that requires it, an initial_only snapshot reads the
    table and ends."""
    bin_ = os.environ.get("ROWCAST_BIN", os.path.join(TOP, "build", "rowcast"))
    subprocess.run(["mariadb", "--defaults-file=" + tls_server["cnf"], "-e",
                    "INSERT INTO tlsdb.t SELECT seq FROM tlsdb.seq_100_to_350"], check=True)
    conf = config(tls_server, tmp_path, "verify_identity",
                  os.path.join(tls_server["dir"], "ca.pem"))
    with open(conf, "a") as f:
        f.write("[filter]\ninclude = tlsdb.t\n[snapshot]\nmode = initial_only\n")
    r = subprocess.run([bin_, "-c", conf], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    ids = sorted(json.loads(line)["after"]["id"] for line in r.stdout.splitlines()
                 if '"op":"read"' in line)
    assert ids == list(range(100, 351)), r.stderr


@pytest.mark.parametrize("client", ["mosquitto", "paho"])
def test_mqtt_over_tls(client, tmp_path, svc, sql, rowcast_factory):
    """MQTT over TLS to a Mosquitto listener with a certificate of a test CA:
    verified (with host name) it streams; with another CA it cannot connect."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    d = str(tmp_path)
    make_pki(d)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conf = os.path.join(d, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\ncafile %s/ca.pem\n"
                "certfile %s/server.pem\nkeyfile %s/server.key\nuser root\n" % (port, d, d, d))
    broker = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        table = "tm_" + uuid.uuid4().hex[:6]
        sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % table)
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "--cafile",
                                os.path.join(d, "ca.pem"), "-t", "tls/#", "-C", "1", "-W", "20"],
                               stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        rc = rowcast_factory("tls", extra="client = %s\n" % client)
        text = rc.set_broker("ssl://127.0.0.1:%d\nca_file = %s/ca.pem" % (port, d))
        rc.start()
        sql.run("INSERT INTO %s VALUES (1)" % table)
        out, _ = sub.communicate(timeout=30)
        assert '"table":"%s"' % table in out
        assert rc.stop() == 0
        # a broker certificate from another CA: the first connection fails
        open(rc.conf, "w").write(text.replace("%s/ca.pem" % d, "%s/otherca.pem" % d))
        os.unlink(rc.ckpt)
        p = subprocess.run([rc.bin, "-c", rc.conf], capture_output=True, text=True, timeout=60)
        assert p.returncode == 75, p.stderr
        assert "mqtt: cannot connect to ssl://127.0.0.1:%d" % port in p.stderr
    finally:
        broker.terminate()
        broker.wait(10)
