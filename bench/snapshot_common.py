# SPDX-License-Identifier: MIT
"""What bench/snapshot_bench and bench/snapshot_live share: the MariaDB they
use (one already running, or a private one they start and stop), the
snapbench tables filled from the sequence engine, rowcast configs, the
processes they start (and only those: each ended by its own pid), and the
readings of /proc (peak RSS, CPU seconds).  Not a test: nothing here
asserts a time.
"""
import os
import signal
import statistics
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(TOP, "bench")
WORK = os.path.join(BENCH, "work")
BIN = os.environ.get("ROWCAST_BIN", os.path.join(TOP, "build", "rowcast"))
SERVICES = os.path.join(TOP, "scripts", "services")

CHILDREN = []       # every process started here and not yet ended


def log(msg):
    sys.stderr.write("[%s %s] %s\n" % (os.path.basename(sys.argv[0]), time.strftime("%H:%M:%S"),
                                       msg))
    sys.stderr.flush()


class Failed(Exception):
    pass


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, **kw)
    CHILDREN.append(p)
    return p


def end(p, sig=signal.SIGTERM, wait=15):
    """End one process started here (by its pid) and reap it; its exit status."""
    if p is None:
        return None
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(wait)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        except ProcessLookupError:
            pass
    if p in CHILDREN:
        CHILDREN.remove(p)
    return p.returncode


def reap(p, wait=120):
    """Wait for a process started here to exit by itself; its exit status."""
    try:
        p.wait(wait)
    except subprocess.TimeoutExpired:
        end(p, signal.SIGKILL)
        raise Failed("%s did not exit within %d s" % (os.path.basename(str(p.args[0])), wait))
    if p in CHILDREN:
        CHILDREN.remove(p)
    return p.returncode


def vm_hwm_kb(pid):
    """Peak resident set size of a live process, in KiB, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """User + system CPU seconds of a live process (all its threads), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError, TypeError):
        return None


def median(v):
    return statistics.median(v) if v else float("nan")


def host_note():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return "%d CPUs (%s), load average %s" % (os.cpu_count() or 0, model,
                                               open("/proc/loadavg").read().split()[0])


class Server:
    """The MariaDB the bench uses: the one `scripts/services env` names when
    it answers, else a private one in ROWCAST_TEST_DIR (default
    bench/work/snapsvc: ports of its own, derived from that folder) with a
    1 GB buffer pool, started here and stopped by stop()."""

    def __init__(self):
        self.started = False
        env = dict(os.environ)
        if not env.get("ROWCAST_MARIADB_CNF"):
            env.setdefault("ROWCAST_TEST_DIR", os.path.join(WORK, "snapsvc"))
            env.setdefault("ROWCAST_MARIADB_EXTRA_ARGS",
                           "--innodb-buffer-pool-size=1G --innodb-log-file-size=512M "
                           "--innodb-flush-log-at-trx-commit=2 --sync-binlog=0")
            st = subprocess.run([SERVICES, "status", "mariadb"], env=env, capture_output=True)
            if st.returncode != 0:
                log("starting a private MariaDB in %s" % env["ROWCAST_TEST_DIR"])
                p = subprocess.run([SERVICES, "start", "mariadb"], env=env, capture_output=True,
                                   text=True, timeout=300)
                if p.returncode != 0:
                    raise Failed("scripts/services start mariadb: %s" % p.stderr.strip()[-800:])
                self.started = True
            out = subprocess.run([SERVICES, "env"], env=env, capture_output=True, text=True,
                                 check=True).stdout
            for line in out.splitlines():
                if line.startswith("export ") and "=" in line:
                    k, v = line[7:].split("=", 1)
                    env[k] = v.strip("'\"")
        self.env = env
        self.cnf = env["ROWCAST_MARIADB_CNF"]
        self.sock = env["ROWCAST_MARIADB_SOCKET"]
        self.port = int(env["ROWCAST_MARIADB_PORT"])
        self.dir = env.get("ROWCAST_TEST_DIR", "")
        self.sql("SELECT 1")

    def pid(self):
        try:
            return int(open(os.path.join(self.dir, "mariadb", "mariadbd.pid")).read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        if self.started:
            subprocess.run([SERVICES, "stop", "mariadb"], env=self.env, capture_output=True,
                           timeout=180)
            self.started = False

    def client(self):
        return ["mariadb", "--defaults-file=" + self.cnf, "--batch", "--skip-column-names"]

    def sql(self, text, timeout=1800):
        p = subprocess.run(self.client(), input=text.encode(), capture_output=True,
                           timeout=timeout)
        if p.returncode:
            raise Failed("mariadb: %s" % p.stderr.decode(errors="replace").strip())
        return p.stdout.decode()


TABLE = """CREATE TABLE snapbench.{name} (
  id INT NOT NULL PRIMARY KEY,
  t1 TINYINT, su SMALLINT UNSIGNED, mi MEDIUMINT, i4 INT, i8 BIGINT, u8 BIGINT UNSIGNED,
  d1 DECIMAL(10,2), d2 DECIMAL(30,10), f4 FLOAT, f8 DOUBLE,
  dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), yr YEAR,
  cl CHAR(10) CHARACTER SET latin1, vc VARCHAR(100) CHARACTER SET utf8mb4,
  tx TEXT CHARACTER SET utf8mb4, bl BLOB, vb VARBINARY(64),
  en ENUM('red','green','blue','\u00e9t\u00e9'), st SET('a','b','c','d'), bt BIT(12), js JSON
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""

# Deterministic values from the sequence number (CRC32 for spread).
FILL = """INSERT INTO snapbench.{name}
SELECT seq,
  CRC32(seq) % 256 - 128, CRC32(seq) % 65536, CRC32(seq+1) % 16777216 - 8388608,
  CAST(CRC32(seq+2) AS SIGNED) - 2147483648, CAST(CRC32(seq) * CRC32(seq+3) DIV 2 AS SIGNED) - 4000000000000000000,
  CRC32(seq+4) * 4294967296 + CRC32(seq+5),
  (CRC32(seq+6) % 100000000) / 100, (CRC32(seq+7) * 1000003) / 10000000,
  CRC32(seq+8) / 7.3, CRC32(seq+9) / 3.7e3,
  DATE('1970-01-01') + INTERVAL CRC32(seq+10) % 30000 DAY,
  TIMESTAMP('1990-01-01') + INTERVAL CRC32(seq+11) SECOND + INTERVAL seq % 1000000 MICROSECOND,
  FROM_UNIXTIME(1 + CRC32(seq+12) % 2000000000) + INTERVAL seq % 999999 MICROSECOND,
  SEC_TO_TIME(CRC32(seq+13) % 3000000 - 1500000),
  1901 + CRC32(seq+14) % 255,
  LEFT(MD5(seq), 1 + seq % 10),
  CONCAT('r\u00e9sum\u00e9 ', seq, ' \u6f22\u5b57 \U0001F600 ', LEFT(SHA1(seq), seq % 40)),
  IF(seq % 5 = 0, NULL, REPEAT(CONCAT(MD5(seq), ' \u00e0\u00e9 '), 1 + seq % 6)),
  IF(seq % 7 = 0, NULL, UNHEX(REPEAT(SHA1(seq), 1 + seq % 4))),
  UNHEX(MD5(seq)),
  1 + seq % 4, 1 + seq % 15, seq % 4096,
  IF(seq % 3 = 0, NULL, JSON_OBJECT('n', seq, 's', MD5(seq), 'a', JSON_ARRAY(1, 2.5, 'x')))
FROM seq_{lo}_to_{hi}"""


def fill(server, rows, name="wide"):
    """snapbench.NAME with exactly rows rows (25 columns of the common types),
    written once and kept while its count matches."""
    server.sql("CREATE DATABASE IF NOT EXISTS snapbench")
    have = server.sql("SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                      "TABLE_SCHEMA='snapbench' AND TABLE_NAME='%s'" % name).strip()
    if have == "1" and server.sql("SELECT COUNT(*) FROM snapbench.%s" % name).strip() == str(rows):
        log("snapbench.%s: %d rows already there" % (name, rows))
        return
    t0 = time.time()
    server.sql("DROP TABLE IF EXISTS snapbench.%s; " % name + TABLE.format(name=name))
    step = 100000
    for lo in range(1, rows + 1, step):
        hi = min(rows, lo + step - 1)
        server.sql("USE snapbench; SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,"
                   "NO_UNSIGNED_SUBTRACTION'; " + FILL.format(name=name, lo=lo, hi=hi))
    server.sql("ANALYZE TABLE snapbench.%s" % name)
    log("snapbench.%s: %d rows written in %.1f s" % (name, rows, time.time() - t0))


_server_id = [0]


def rowcast_conf(path, server, include, mode, snap_opts="", extra=""):
    """A rowcast config at path: stdout sink, [snapshot] mode (and the
    options of snap_opts, "key = value; key = value"), the included tables
    with read rows published, a fresh checkpoint beside it; extra: more
    sections."""
    ck = path + ".ckpt"
    for f in (ck, ck + ".lock"):
        if os.path.exists(f):
            os.unlink(f)
    _server_id[0] += 1
    with open(path, "w") as f:
        f.write("[log]\nlevel = info\n"
                "[source]\nhost = 127.0.0.1\nport = %d\nuser = rowcast\npassword = rowcast\n"
                "server_id = %d\n"
                "[checkpoint]\npath = %s\n"
                "[sink]\ntype = stdout\n"
                "[snapshot]\nmode = %s\n%s"
                "[filter]\ninclude = %s\nops = insert,update,delete,read\n%s"
                % (server.port, 30000 + os.getpid() % 20000 + _server_id[0], ck, mode,
                   "".join(l.strip() + "\n" for l in snap_opts.split(";") if l.strip()),
                   include, extra))
    return path


def exit_on_sigterm():
    """SIGTERM ends the harness like Ctrl-C: through its finally clauses,
    which end what it started."""
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(128 + sig))


def end_all():
    for p in list(CHILDREN):
        end(p, wait=5)
