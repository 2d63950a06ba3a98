# SPDX-License-Identifier: MIT
"""The Debian packages built by scripts/package.

Runs only when ROWCAST_PKG_DIR names the folder holding the built .deb
files (scripts/test builds them and sets it).  Checks what each package
ships, the conffile list, the systemd unit, and runs the packaged program
from a throwaway root made with `dpkg -x`.
"""
import glob
import os
import re
import shutil
import subprocess

import pytest

PKG_DIR = os.environ.get("ROWCAST_PKG_DIR", "")

pytestmark = pytest.mark.skipif(
    not PKG_DIR or not glob.glob(os.path.join(PKG_DIR, "rowcast_*.deb")),
    reason="ROWCAST_PKG_DIR does not name a folder with the built .deb files "
           "(scripts/package builds them; scripts/test sets it)")


def deb(name):
    """Path of the newest NAME_*.deb in ROWCAST_PKG_DIR."""
    found = glob.glob(os.path.join(PKG_DIR, name + "_*.deb"))
    assert found, "no %s_*.deb in %s" % (name, PKG_DIR)
    return max(found, key=os.path.getmtime)


def contents(path):
    """{path without the leading '.': (mode string, owner/group, link target)}"""
    out = subprocess.run(["dpkg-deb", "-c", path], check=True, capture_output=True,
                         text=True).stdout
    files = {}
    for line in out.splitlines():
        # drwxr-xr-x root/root 0 2025-11-28 06:00 ./usr/sbin/
        parts = line.split(None, 5)
        name = parts[5]
        target = None
        if " -> " in name:
            name, target = name.split(" -> ", 1)
        files[name[1:].rstrip("/") or "/"] = (parts[0], parts[1], target)
    return files


def field(path, name):
    return subprocess.run(["dpkg-deb", "-f", path, name], check=True, capture_output=True,
                          text=True).stdout.strip()


def find(files, pattern):
    rx = re.compile(pattern)
    return [f for f in files if rx.fullmatch(f)]


def test_rowcast_contents():
    files = contents(deb("rowcast"))
    assert "/usr/sbin/rowcast" in files
    assert files["/usr/sbin/rowcast"][0] == "-rwxr-xr-x"
    for man in ("/usr/share/man/man8/rowcast.8.gz", "/usr/share/man/man5/rowcast.conf.5.gz",
                "/usr/share/man/man7/rowcast-format.7.gz"):
        assert man in files, man
    # the conffile: never world-readable (group rowcast is set by postinst)
    assert files["/etc/rowcast/rowcast.conf"][0] == "-rw-r-----"
    # the unit (bookworm's debhelper: /lib; later ones: /usr/lib)
    units = find(files, r"(/usr)?/lib/systemd/system/rowcast\.service")
    assert units, "no systemd unit in the package"
    assert "/var/lib/rowcast" in files
    assert "/usr/share/doc/rowcast/copyright" in files
    # the program links the engine statically: no library inside
    assert not find(files, r".*\.so(\..*)?")


def test_rowcast_control():
    path = deb("rowcast")
    assert "adduser" in field(path, "Depends")
    conffiles = subprocess.run(["dpkg-deb", "-I", path, "conffiles"], check=True,
                               capture_output=True, text=True).stdout.split()
    assert "/etc/rowcast/rowcast.conf" in conffiles
    postinst = subprocess.run(["dpkg-deb", "-I", path, "postinst"], check=True,
                              capture_output=True, text=True).stdout
    assert "adduser --system --group --home /var/lib/rowcast --no-create-home" in postinst
    assert "dpkg-statoverride" in postinst


def test_library_packages():
    lib = contents(deb("librowcast0"))
    real = find(lib, r"/usr/lib/[^/]+/librowcast\.so\.0\.\d+\.\d+")
    assert len(real) == 1, sorted(lib)
    link = find(lib, r"/usr/lib/[^/]+/librowcast\.so\.0")
    assert link and lib[link[0]][2] == os.path.basename(real[0])
    assert field(deb("librowcast0"), "Multi-Arch") == "same"

    dev = contents(deb("librowcast-dev"))
    assert "/usr/include/rowcast/rowcast.h" in dev
    so = find(dev, r"/usr/lib/[^/]+/librowcast\.so")
    assert so and dev[so[0]][2] in ("librowcast.so.0", os.path.basename(real[0]))
    assert find(dev, r"/usr/lib/[^/]+/pkgconfig/rowcast\.pc")
    assert not find(dev, r".*\.la")
    version = field(deb("librowcast0"), "Version")
    assert "librowcast0 (= %s)" % version in field(deb("librowcast-dev"), "Depends")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """The rowcast package unpacked into a throwaway folder."""
    d = tmp_path_factory.mktemp("pkgroot")
    subprocess.run(["dpkg", "-x", deb("rowcast"), str(d)], check=True)
    return d


def test_unit_verifies(root, tmp_path):
    units = glob.glob(str(root / "lib/systemd/system/rowcast.service")) + \
        glob.glob(str(root / "usr/lib/systemd/system/rowcast.service"))
    assert units
    text = open(units[0]).read()
    for line in ("Type=notify", "ExecStart=/usr/sbin/rowcast -c /etc/rowcast/rowcast.conf",
                 "User=rowcast", "StateDirectory=rowcast", "WatchdogSec=30",
                 "RestartPreventExitStatus=76 78", "CapabilityBoundingSet=\n"):
        assert line in text, line
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (Debian package systemd): "
                    "the unit was checked by content only")
    # The unit names /usr/sbin/rowcast, which need not be installed here:
    # verify a copy that runs the unpacked program instead (the one change).
    # --man=no: the man pages it names need not be installed either.
    check = tmp_path / "rowcast.service"
    check.write_text(text.replace("ExecStart=/usr/sbin/rowcast ",
                                  "ExecStart=%s " % (root / "usr/sbin/rowcast"), 1))
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", str(check)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "rowcast.service" not in p.stdout + p.stderr, p.stdout + p.stderr


def run_bin(root, *args):
    return subprocess.run([str(root / "usr/sbin/rowcast")] + list(args),
                          capture_output=True, text=True, timeout=30)


def test_packaged_binary_version(root):
    p = run_bin(root, "--version")
    assert p.returncode == 0, p.stderr
    upstream = field(deb("rowcast"), "Version").split("-")[0]
    assert p.stdout.strip() == "rowcast " + upstream


def test_packaged_config(root, tmp_path):
    packaged = (root / "etc/rowcast/rowcast.conf").read_text()
    # as shipped it is all comments: user and server_id are missing
    bare = tmp_path / "bare.conf"
    bare.write_text(packaged)
    p = run_bin(root, "check-config", "-c", str(bare))
    assert p.returncode == 78, (p.returncode, p.stdout, p.stderr)

    adapted = re.sub(r"^\[source\]\n", "[source]\nuser = rowcast\nserver_id = 4242\n",
                     packaged, count=1, flags=re.M)
    # check-config checks the checkpoint folder (/var/lib/rowcast, made by
    # the package, is not there): one this user may write
    adapted = re.sub(r"^\[checkpoint\]\n", "[checkpoint]\npath = %s\n" % (tmp_path / "ckpt"),
                     adapted, count=1, flags=re.M)
    assert len(re.findall(r"^\w+ = ", adapted, flags=re.M)) == 3
    conf = tmp_path / "rowcast.conf"
    conf.write_text(adapted)
    p = run_bin(root, "check-config", "-c", str(conf))
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip() == "%s: ok" % conf


def test_packaged_binary_serves_metrics(root, tmp_path, svc, sql):
    """The unpacked program with the packaged config, adapted to the test
    servers: rows written move its /metrics counters."""
    import socket
    import time
    import urllib.request
    import uuid

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    table = "pkg_" + uuid.uuid4().hex[:8]
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY)" % table)
    packaged = (root / "etc/rowcast/rowcast.conf").read_text()
    settings = {
        ("source", "port"): svc["ROWCAST_MARIADB_PORT"], ("source", "user"): "rowcast",
        ("source", "password"): "rowcast", ("source", "server_id"): "4343",
        ("checkpoint", "path"): str(tmp_path / "checkpoint"),
        ("mqtt", "uri"): "tcp://127.0.0.1:%s" % svc["ROWCAST_MQTT_PORT"],
        ("mqtt", "topic_prefix"): "pkg", ("metrics", "listen"): "127.0.0.1:%d" % port,
    }
    out, section = [], ""
    for line in packaged.splitlines():
        m = re.match(r"^\[(\w+)\]$", line)
        if m:
            section = m.group(1)
        m = re.match(r"^#(\w+) = ", line)
        if m and (section, m.group(1)) in settings:
            line = "%s = %s" % (m.group(1), settings[(section, m.group(1))])
        out.append(line)
    conf = tmp_path / "rowcast.conf"
    conf.write_text("\n".join(out) + "\n")
    p = subprocess.Popen([str(root / "usr/sbin/rowcast"), "-c", str(conf)],
                         stderr=subprocess.PIPE, text=True)
    try:
        url = "http://127.0.0.1:%d/metrics" % port
        text = ""
        for _ in range(100):
            try:
                text = urllib.request.urlopen(url, timeout=2).read().decode()
                if "rowcast_source_connected 1" in text:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        sql.run("".join("INSERT INTO %s VALUES (%d);" % (table, i) for i in range(25)))
        want = 'rowcast_events_acked_total{db="rctest",table="%s",op="insert"} 25' % table
        for _ in range(100):
            text = urllib.request.urlopen(url, timeout=2).read().decode()
            if want in text:
                break
            time.sleep(0.1)
        assert want in text, text
    finally:
        p.send_signal(15)
        assert p.wait(30) == 0, p.stderr.read()
