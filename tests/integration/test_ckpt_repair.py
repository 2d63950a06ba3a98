# SPDX-License-Identifier: MIT
"""Repairing a checkpoint (rowcast(8)): `checkpoint set` run as root keeps
the files the service's user owns; --force replaces a damaged file after
moving it aside; a checkpoint of another server is refused."""
import glob
import os
import re
import subprocess
import time
import uuid
import zlib

import pytest


def run(rc, *args):
    return subprocess.run([rc.bin] + list(args) + ["-c", rc.conf], capture_output=True,
                          text=True, timeout=60)


def reseal(text):
    """The checkpoint text with its CRC-32 made to match again."""
    body = text[:text.index("\n[checksum]\n")]
    return body + "\n[checksum]\ncrc32 = %08x\n" % zlib.crc32(body.encode())


def owner(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, st.st_mode & 0o7777


@pytest.fixture
def as_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: checks what `rowcast checkpoint set` run as root leaves")
    return 65534, 65534     # nobody:nogroup


def test_set_as_root_keeps_the_folder_owner(as_root, rowcast_factory, tmp_path):
    uid, gid = as_root
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, uid, gid)
    rc = rowcast_factory("it/x")
    text = open(rc.conf).read().replace(rc.ckpt, str(state / "checkpoint"))
    open(rc.conf, "w").write(text)
    p = run(rc, "checkpoint", "set", "--gtid-state", "0-1-5")
    assert p.returncode == 0, p.stderr
    assert owner(state / "checkpoint") == (uid, gid, 0o640)
    assert owner(state / "checkpoint.lock") == (uid, gid, 0o640)
    # an existing file keeps its owner and mode, and a lock file left by
    # root before is given back
    os.chmod(state / "checkpoint", 0o600)
    os.chown(state / "checkpoint.lock", 0, 0)
    p = run(rc, "checkpoint", "set", "--gtid-state", "0-1-6")
    assert p.returncode == 0, p.stderr
    assert owner(state / "checkpoint") == (uid, gid, 0o600)
    assert owner(state / "checkpoint.lock") == (uid, gid, 0o640)
    assert "gtid_state = 0-1-6" in open(state / "checkpoint").read()
    assert not os.path.exists(str(state / "checkpoint.tmp"))


def test_force_replaces_a_damaged_checkpoint(rowcast_factory):
    rc = rowcast_factory("it/x")
    damaged = "[rowcast]\nformat = 1\n[source]\ngtid_state = 0-1-\x00garbage\n"
    open(rc.ckpt, "w").write(damaged)
    p = run(rc, "checkpoint", "set", "--gtid-state", "0-1-9")
    assert p.returncode == 76, p.stderr
    assert ("%s: damaged: no [checksum] section (rowcast checkpoint set ... --force replaces "
            "it, keeping a copy)" % rc.ckpt) in p.stderr
    assert open(rc.ckpt).read() == damaged
    p = run(rc, "checkpoint", "set", "--gtid-state", "0-1-9", "--force")
    assert p.returncode == 0, p.stderr
    aside = glob.glob(rc.ckpt + ".damaged-*")
    assert len(aside) == 1 and re.search(r"\.damaged-\d{8}T\d{6}Z$", aside[0]), aside
    assert open(aside[0]).read() == damaged
    assert "%s: damaged; moved to %s\n" % (rc.ckpt, aside[0]) in p.stdout
    assert "gtid_state = 0-1-9" in run(rc, "checkpoint", "show").stdout
    # --force on a sound file moves nothing
    p = run(rc, "checkpoint", "set", "--gtid-state", "0-1-10", "--force")
    assert p.returncode == 0 and "moved" not in p.stdout, p.stdout + p.stderr
    assert len(glob.glob(rc.ckpt + ".damaged-*")) == 1


def test_checkpoint_of_another_server_same_domain_is_refused(sql, rowcast_factory):
    table = "cr_" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % table)
    rc = rowcast_factory("it/" + uuid.uuid4().hex[:8])
    rc.start()
    gtid = sql.run("INSERT INTO %s VALUES (1); SELECT @@last_gtid;" % table).strip()
    rc.wait_log("streaming from")
    server_id = sql.value("SELECT @@server_id")
    for _ in range(100):
        text = open(rc.ckpt).read()
        if "gtid_state = %s" % gtid in text or ("," + gtid) in text or (gtid + ",") in text:
            break
        time.sleep(0.1)
    assert rc.stop() == 0
    text = open(rc.ckpt).read()
    assert "\nserver_id = %s\n" % server_id in text, text
    # the same domain and sequence, written by a server this one never heard of
    d, s, n = gtid.split("-")
    other = "%s-%d-%s" % (d, int(s) + 900, n)
    state = re.search(r"\ngtid_state = (.*)\n", text).group(1)
    assert gtid in state, (gtid, state)
    open(rc.ckpt, "w").write(reseal(text.replace(gtid, other)))
    p = subprocess.run([rc.bin, "-c", rc.conf], capture_output=True, text=True, timeout=60)
    assert p.returncode == 76, p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert ("the checkpoint's GTID %s was written by server_id %d, which never wrote in domain "
            "%s of this server (server_id %s, GTIDs " % (other, int(s) + 900, d, server_id)) in last, last
    assert "a checkpoint of another server?" in last
