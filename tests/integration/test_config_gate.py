# SPDX-License-Identifier: MIT
"""Issue 14: every value the daemon cannot use is refused when the config is
loaded, with file:line and exit 78 (EX_CONFIG, which the systemd unit does
not restart), by `rowcast check-config` and by the daemon alike.  None of
these needs a server: the config is refused before any connection."""
import fcntl
import os
import pwd
import socket
import subprocess
import tempfile

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("ROWCAST_BIN", os.path.join(TOP, "build", "rowcast"))


def write_conf(d, extra_source="", extra=""):
    """A config whose [source] ends at line 4 (extra_source goes on line 4)
    and whose other sections start after it; returns its path."""
    path = os.path.join(str(d), "rowcast.conf")
    with open(path, "w") as f:
        f.write("[source]\nuser = rowcast\nserver_id = 4242\n%s"
                "[checkpoint]\npath = %s\n%s"
                % (extra_source or "# line 4\n", os.path.join(str(d), "checkpoint"), extra))
    return path


def run(*args, user=None):
    cmd = [BIN] + list(args)
    if user is not None:
        cmd = ["setpriv", "--reuid=%d" % user.pw_uid, "--regid=%d" % user.pw_gid,
               "--clear-groups"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def assert_refused(conf, where, msg, user=None):
    """check-config and the daemon both exit 78 with exactly this error."""
    for args in (["check-config", "-c", conf], ["-c", conf]):
        p = run(*args, user=user)
        assert p.returncode == 78, (args, p.returncode, p.stderr)
        errors = [l for l in p.stderr.splitlines() if " error: " in l]
        assert len(errors) == 1, p.stderr
        assert errors[0].endswith(" error: %s: %s" % (where, msg)), (errors[0], msg)
        assert "ok" not in p.stdout


HP = "expected HOST or HOST:PORT (port 1 to 65535), comma separated, got '%s'"
LISTEN = "expected IPV4:PORT, localhost:PORT or [IPV6]:PORT (port 0 to 65535), got '%s'"

# (line 4 of [source], or a section after [checkpoint]; line; message)
CASES = [
    ("host =\n", "", 4, "[source] host: must not be empty"),
    ("hosts = ,\n", "", 4, "[source] hosts: " + HP % ","),
    ("hosts = 127.0.0.1:abc\n", "", 4, "[source] hosts: " + HP % "127.0.0.1:abc"),
    ("", "[metrics]\nlisten = 127.0.0.1:99999\n", 8,
     "[metrics] listen: " + LISTEN % "127.0.0.1:99999"),
    ("", "[metrics]\nlisten = notanaddress\n", 8, "[metrics] listen: " + LISTEN % "notanaddress"),
    ("", "[mqtt]\ntopic_prefix = bad/#\n", 8,
     "[mqtt] topic_prefix: must not hold the MQTT wildcards + or #, got 'bad/#'"),
    ("", "[mqtt]\nclient_id =\n", 8, "[mqtt] client_id: must not be empty"),
    ("", "[mqtt]\nuri = tcp://:21883\n", 8,
     "[mqtt] uri: expected tcp://HOST:PORT or ssl://HOST:PORT, got 'tcp://:21883'"),
    ("", "[mqtt]\nuri = tcp://127.0.0.1:0\n", 8,
     "[mqtt] uri: the port must be from 1 to 65535, got 'tcp://127.0.0.1:0'"),
    # issue 17: conditions and scripts compile at load, errors at their line
    ("", "[route paid]\nmatch = shop.orders\nwhen = after.status = 'paid' and\n", 9,
     "[route paid] when: column 26: expected a condition, found end of text"),
    ("", "[route paid]\nwhen = after.status => 1\n", 8,
     "[route paid] when: column 15: expected a value, found '>'"),
    ("", "[outbox o]\ntable = shop.outbox\nwhen = after.type in ('a' 'b')\n", 9,
     "[outbox o] when: column 20: expected ',' or ')', found 'b'"),
]


@pytest.mark.parametrize("src,extra,line,msg", CASES, ids=[c[-1].split(":")[0] + str(i)
                                                           for i, c in enumerate(CASES)])
def test_bad_value_refused_at_load(tmp_path, src, extra, line, msg):
    conf = write_conf(tmp_path, src, extra)
    assert_refused(conf, "%s:%d" % (conf, line), msg)


def test_password_file_directory_or_empty(tmp_path):
    conf = write_conf(tmp_path, "password_file = %s\n" % tmp_path)
    assert_refused(conf, conf + ":4",
                   "[source] password_file: %s is a directory, not a password file" % tmp_path)
    empty = tmp_path / "empty"
    empty.write_text("")
    conf = write_conf(tmp_path, "", "[mqtt]\npassword_file = %s\n" % empty)
    assert_refused(conf, conf + ":8",
                   "[mqtt] password_file: %s: the first line (the password) is empty" % empty)


def test_checkpoint_folder_missing(tmp_path):
    conf = write_conf(tmp_path)
    text = open(conf).read().replace("path = %s/checkpoint" % tmp_path,
                                     "path = %s/gone/checkpoint" % tmp_path)
    open(conf, "w").write(text)
    assert_refused(conf, conf + ":6",
                   "[checkpoint] path: the folder %s/gone does not exist" % tmp_path)


def test_checkpoint_folder_read_only(tmp_path):
    """Checked for the user running rowcast: as root, run it as nobody."""
    d = tempfile.mkdtemp(prefix="rowcast-ro-")
    try:
        os.chmod(d, 0o755)   # readable by nobody, writable by its owner only
        conf = write_conf(d)
        os.chmod(conf, 0o644)
        user = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
        if user is None:
            os.chmod(d, 0o555)
        name = "nobody" if user else pwd.getpwuid(os.geteuid()).pw_name
        assert_refused(conf, conf + ":6",
                       "[checkpoint] path: the folder %s is not writable by user %s "
                       "(Permission denied)" % (d, name), user=user)
    finally:
        os.chmod(d, 0o755)
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


def test_config_path_is_a_directory(tmp_path):
    p = run("check-config", "-c", str(tmp_path))
    assert p.returncode == 78, p.stderr
    assert p.stderr.strip().endswith(" error: %s: is a directory" % tmp_path), p.stderr
    assert "required" not in p.stderr


def test_secrets_warned_at_start(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    os.chmod(pw, 0o644)
    conf = write_conf(tmp_path, "password = hunter2\n",
                      "[mqtt]\npassword_file = %s\n" % pw)
    p = run("check-config", "-c", conf)
    assert p.returncode == 0, p.stderr
    warns = [l for l in p.stderr.splitlines() if " warning: " in l]
    assert len(warns) == 2, p.stderr
    assert warns[0].endswith(" warning: %s:4: [source] password is written in the config "
                             "file; prefer password_file, readable by rowcast only" % conf)
    assert warns[1].endswith(" warning: %s:8: [mqtt] password_file: %s can be read by every "
                             "user (mode 0644); chmod o-r it" % (conf, pw))
    assert "hunter2" not in p.stderr and "s3cret" not in p.stderr
    os.chmod(pw, 0o600)
    p = run("check-config", "-c", conf)
    assert len([l for l in p.stderr.splitlines() if " warning: " in l]) == 1, p.stderr


@pytest.mark.parametrize("args,word", [(["--bogus"], "unknown option '--bogus'"),
                                       (["-x"], "unknown option '-x'"),
                                       (["check-config", "--nope"], "unknown option '--nope'"),
                                       (["frobnicate"], "unknown command 'frobnicate'"),
                                       (["-c"], "option '-c' needs a value")])
def test_bad_command_line_is_one_line(args, word):
    p = run(*args)
    assert p.returncode == 64, p.stderr
    assert p.stderr == "rowcast: %s; try 'rowcast --help'\n" % word


def test_second_copy_told_checkpoint_in_use_before_metrics_port(tmp_path):
    """The lock is taken before the metrics port is bound: a second copy
    started by hand names the pid holding the checkpoint."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    conf = write_conf(tmp_path, "", "[metrics]\nlisten = 127.0.0.1:%d\n" % port)
    ckpt = os.path.join(str(tmp_path), "checkpoint")
    # what a running rowcast holds: the lock file, flocked, with its pid
    fd = os.open(ckpt + ".lock", os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"4711\n")
    try:
        p = run("-c", conf)
    finally:
        os.close(fd)
        s.close()
    assert p.returncode == 76, p.stderr
    assert p.stderr.strip().splitlines()[-1].endswith(
        "%s is in use by another rowcast (pid 4711)" % ckpt), p.stderr
    assert "metrics" not in p.stderr


def test_script_refused_at_load(tmp_path):
    """A script that does not compile or has no transform is refused by
    check-config and the daemon, with the script's own file and line."""
    lua = tmp_path / "bad.lua"
    lua.write_text("function transform(c)\n  return {\nend\n")
    conf = write_conf(tmp_path, "", "[route s]\nscript = bad.lua\n")
    # Lua names a long path by its last 56 bytes (LUA_IDSIZE)
    short = str(lua) if len(str(lua)) <= 59 else "..." + str(lua)[-56:]
    assert_refused(conf, "%s:8" % conf,
                   "[route s] script: %s:3: unexpected symbol near 'end'" % short)
    lua.write_text("x = 1\n")
    assert_refused(conf, "%s:8" % conf,
                   "[route s] script: %s: defines no function transform(change)" % lua)
