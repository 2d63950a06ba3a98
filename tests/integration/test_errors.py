# SPDX-License-Identifier: MIT
"""Bad config, unreachable database or broker: one clear line, a documented
exit code, and no checkpoint left behind half-written."""
import os
import subprocess

import pytest


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
    last = err.strip().splitlines()[-1]
    assert last.startswith("rowcast: 127.0.0.1:1: cannot connect:"), err
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
