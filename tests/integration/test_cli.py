# SPDX-License-Identifier: MIT
"""Operator commands: checkpoint show/set, status, check-config, --help."""
import re
import subprocess


def run(rc, *args):
    return subprocess.run([rc.bin] + list(args), capture_output=True, text=True, timeout=30)


def test_checkpoint_show_set_status(sql, rowcast_factory):
    rc = rowcast_factory("it/cli")
    p = run(rc, "status", "-c", rc.conf)
    assert p.returncode == 0 and "checkpoint: none at" in p.stdout
    rc.start()
    p = run(rc, "status", "-c", rc.conf)
    assert "running: yes" in p.stdout and ("pid %d" % rc.p.pid) in p.stdout
    # set is refused while rowcast holds the checkpoint
    p = run(rc, "checkpoint", "set", "--gtid-state", "0-1-1", "-c", rc.conf)
    assert p.returncode == 76 and "is in use by another rowcast" in p.stderr
    assert rc.stop() == 0
    p = run(rc, "checkpoint", "show", "-c", rc.conf)
    assert p.returncode == 0 and "gtid_state = " in p.stdout and "crc32 = " in p.stdout
    p = run(rc, "checkpoint", "set", "--gtid-state", "0-1-5,7-1-2", "-c", rc.conf)
    assert p.returncode == 0, p.stderr
    p = run(rc, "status", "-c", rc.conf)
    assert "position: 0-1-5,7-1-2" in p.stdout and "running: no" in p.stdout
    assert re.search(r"age: \d+ s", p.stdout)
    p = run(rc, "checkpoint", "set", "--gtid-state", "zero", "-c", rc.conf)
    assert p.returncode == 64 and "is not a GTID" in p.stderr


def test_help_version_check_config(rowcast_factory):
    rc = rowcast_factory("it/cli")
    p = run(rc, "--help")
    assert p.returncode == 0 and "[route NAME]" in p.stdout and "server_id" in p.stdout
    assert run(rc, "--version").stdout.startswith("rowcast ")
    p = run(rc, "check-config", "-c", rc.conf)
    assert p.returncode == 0 and p.stdout.strip().endswith(": ok")


def test_checkpoint_of_a_mysql_server_is_refused(sql, rowcast_factory):
    import zlib
    rc = rowcast_factory("it/cli")
    body = ("# test\n[rowcast]\nformat = 1\n\n[source]\nflavour = mysql\nmode = gtid\n"
            "gtid_state = 3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5\n")
    open(rc.ckpt, "w").write(body + "\n[checksum]\ncrc32 = %08x\n" % zlib.crc32(body.encode()))
    p = run(rc, "-c", rc.conf)
    assert p.returncode == 76, p.stderr
    assert "the server is mariadb but the checkpoint's position is MySQL's" in p.stderr
