# SPDX-License-Identifier: MIT
"""Bad config, unreachable database or broker: one clear line, a documented
exit code, and no checkpoint left behind half-written."""
import os
import re
import subprocess

import pytest

# a line of the logger: time, level, message (where: what)
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z rowcast (error|warning|info|debug): (.*)$")


def fatal(text):
    """The message of the last line, which must be an error line."""
    m = LINE.match(text.strip().splitlines()[-1])
    assert m and m.group(1) == "error", text
    return m.group(2)


def run(rc, timeout=30):
    p = subprocess.run([rc.bin, "-c", rc.conf], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr


def test_config_error_names_file_and_line(rowcast_factory):
    rc = rowcast_factory("it/x", extra="[mqtt]\nqos = 7\n")
    code, err = run(rc)
    assert code == 78
    lines = [l for l in err.splitlines() if " error: " in l]
    assert len(lines) == 1, err
    assert "rowcast.conf:17: [mqtt] qos is set twice (first on line 15)" in lines[0], err
    assert not os.path.exists(rc.ckpt)


def test_unreachable_database(rowcast_factory, tmp_path):
    rc = rowcast_factory("it/x")
    text = open(rc.conf).read().replace("port = ", "port = 1#", 1)
    text = "\n".join(l if not l.startswith("port = 1#") else "port = 1" for l in text.splitlines())
    open(rc.conf, "w").write(text + "\n")
    code, err = run(rc)
    assert code == 75, err
    last = fatal(err)
    assert last.startswith("127.0.0.1:1: cannot connect:"), err
    assert not os.path.exists(rc.ckpt + ".tmp")
    assert not os.path.exists(rc.ckpt)


@pytest.mark.parametrize("client", ["mosquitto", "paho"])
def test_unreachable_broker(client, rowcast_factory, sql):
    rc = rowcast_factory("it/x", extra="client = %s\n" % client)
    rc.set_broker("tcp://127.0.0.1:1")
    code, err = run(rc)
    assert code == 75, err
    assert "mqtt: cannot connect to tcp://127.0.0.1:1" in err.strip().splitlines()[-1], err
    assert not os.path.exists(rc.ckpt + ".tmp")


def test_access_denied_reaches_every_log_destination(rowcast_factory, tmp_path):
    """A wrong password: the reason for exiting is logged, with time and
    level, to standard error and to the log file (and to syslog: the same
    call; tests/unit/test_log.c checks that fan-out)."""
    logfile = tmp_path / "logs" / "rowcast.log"
    os.mkdir(tmp_path / "logs")
    rc = rowcast_factory("it/x")
    text = open(rc.conf).read().replace("password = rowcast\n", "password = not-the-password\n", 1)
    text = "[log]\nsyslog = true\nfile = %s\n" % logfile + text
    open(rc.conf, "w").write(text)
    code, err = run(rc)
    assert code == 76, err
    want = "Access denied for user 'rowcast'@'127.0.0.1' (using password: YES)"
    assert want in fatal(err), err
    lines = open(logfile).read().splitlines()
    assert [LINE.match(l).group(1) for l in lines][0] == "info", lines
    m = LINE.match(lines[-1])
    assert m.group(1) == "error" and want in m.group(2), lines
    assert m.group(2) == fatal(err)
    assert "not-the-password" not in err + open(logfile).read()


def test_unopenable_log_file_is_a_config_error(rowcast_factory, tmp_path):
    rc = rowcast_factory("it/x")
    text = "[log]\nfile = %s/no/such/dir/x.log\n" % tmp_path + open(rc.conf).read()
    open(rc.conf, "w").write(text)
    code, err = run(rc)
    assert code == 78, err
    assert fatal(err) == "%s/no/such/dir/x.log: cannot open log file: No such file or directory" % tmp_path
