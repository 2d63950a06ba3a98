# SPDX-License-Identifier: MIT
"""Big data: a 20 MB LONGBLOB row (the protocol splits packets over 16 MB)
arrives whole; one transaction of many rows streams with bounded memory
(rowcast's peak RSS does not grow with the transaction).  ROWCAST_LONG=1
makes the transaction 1,000,000 rows."""
import base64
import hashlib
import json
import os
import time
import uuid

LONG = os.environ.get("ROWCAST_LONG") == "1"


def file_sink(rc, path):
    conf = open(rc.conf).read().replace("[mqtt]", "[sink]\ntype = file\npath = %s\n[mqtt]" % path, 1)
    open(rc.conf, "w").write(conf)


def wait_lines(path, n, timeout):
    deadline = time.time() + timeout
    count = 0
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path, "rb") as f:
                count = sum(1 for _ in f)
            if count >= n:
                return count
        time.sleep(0.5)
    return count


def peak_rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def test_20mb_longblob(sql, rowcast_factory, tmp_path):
    table = "blob_" + uuid.uuid4().hex[:8]
    out = str(tmp_path / "out.jsonl")
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, b LONGBLOB)" % table)
    rc = rowcast_factory("it/big")
    file_sink(rc, out)
    rc.start()
    # 20 MB of bytes that are not all alike: RANDOM_BYTES is capped, so repeat a block
    sql.run("INSERT INTO %s VALUES (1, REPEAT(UNHEX(SHA2('rowcast', 512)), 327680))" % table)
    assert wait_lines(out, 1, 120) >= 1
    assert rc.stop() == 0
    m = json.loads(open(out).readline())
    blob = base64.b64decode(m["after"]["b"])
    assert len(blob) == 64 * 327680 == 20971520
    want = sql.value("SELECT SHA2(b, 256) FROM %s WHERE id = 1" % table)
    assert hashlib.sha256(blob).hexdigest() == want


def test_huge_transaction_bounded_memory(sql, rowcast_factory, tmp_path):
    table = "huge_" + uuid.uuid4().hex[:8]
    out = str(tmp_path / "out.jsonl")
    n_small, n_big = 20000, (1000000 if LONG else 200000)
    sql.run("CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(40))" % table)
    rss = {}
    for n in (n_small, n_big):
        rc = rowcast_factory("it/huge")
        file_sink(rc, out + str(n))
        rc.start()
        base = 10000000 * (1 if n == n_small else 2)
        sql.run("INSERT INTO %s SELECT seq + %d, CONCAT('row ', seq) FROM seq_1_to_%d"
                % (table, base, n))
        got = wait_lines(out + str(n), n, 600)
        rss[n] = peak_rss_kb(rc.p.pid)
        assert rc.stop() == 0
        assert got == n, "%d of %d rows" % (got, n)
    print("\npeak RSS: %d kB for %d rows, %d kB for %d rows in one transaction"
          % (rss[n_small], n_small, rss[n_big], n_big))
    # independent of the transaction's size: not more than 16 MB apart
    assert rss[n_big] - rss[n_small] < 16 * 1024, rss
