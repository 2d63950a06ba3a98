# SPDX-License-Identifier: MIT
"""`rowcast decode` against real binlog files and oracles it did not produce.

Files: ../shared/fixtures/binlog/ (MySQL 8 and MariaDB binlogs) and the
binlogs Debian's mariadb-test-data package ships.  Oracles: the
`mysqlbinlog -vv` dumps stored beside the fixtures, and `mariadb-binlog -vv`
run here.  Row by row, column by column, values must agree.
"""
import glob
import json
import os
import re
import shutil
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("ROWCAST_FIXTURES",
                        os.path.join(os.path.dirname(TOP), "shared", "fixtures", "binlog"))
STD_DATA = "/usr/share/mysql/mysql-test/std_data"
BIN = os.environ.get("ROWCAST_BIN", os.path.join(TOP, "build", "rowcast"))

# stored mysqlbinlog -vv dumps for some fixtures
STORED = {
    "rustus_8.2.0_19_30_write_rows_v2.binlog.000018": "rustus_19_30_Table_map_event_Write_rows_log_event.mysqlbinlog_vv.txt",
    "rustus_8.2.0_31_update_rows_v2.binlog.000001": "rustus_31_update_rows_v2.mysqlbinlog_vv.txt",
    "rustus_8.2.0_32_delete_rows_v2.binlog.000001": "rustus_32_delete_rows_v2.mysqlbinlog_vv.txt",
}


# Fixtures the generic oracle cannot judge, with the reason shown as SKIP.
PENDING = {
    "mdev35643_mysql_80_binlog.000001":
        "mariadb-binlog stops at its TRANSACTION_PAYLOAD: checked against its SQL by "
        "test_mdev35643_compressed_and_partial_json instead",
}


def mdev35643_expected():
    """The row changes of mdev35643_mysql_80_binlog.000001, from the SQL that
    made it (in the comment of mariadb-test-data's rpl_from_mysql80.test)."""
    rows = [("insert", "t1", None, [1, 0, ""]),
            ("insert", "t1", None, [2, 0, "hulu"]),
            ("insert", "t1", None, [3, 0, "bulu"]),
            ("insert", "t1", None, [4, 0, "skip"])]
    # one compressed transaction (TRANSACTION_PAYLOAD, zstd)
    rows += [("insert", "t1", None, [1000 + i, i, "--%d--%s--" % (i, "/" * 100)]) for i in range(100)]
    rows.append(("insert", "t1", None, [5, 0, "after compressed"]))
    # the INSERT into t2 is statement-based (a warning, no row); then a
    # PARTIAL_UPDATE_ROWS with JSON_REPLACE(b, '$.b', REPEAT("oOo", 50))
    before = {"a": "hulu", "b": "[zyzzy]" * 100, "c": "bulu"}
    after = dict(before, b="oOo" * 50)
    rows.append(("update", "t2", [1, before], [1, after]))
    return rows


def test_mdev35643_compressed_and_partial_json():
    path = os.path.join(SHARED, "mysql8", "mdev35643_mysql_80_binlog.000001")
    if not os.path.exists(path):
        path = os.path.join(STD_DATA, "mdev35643_mysql_80_binlog.000001")
    if not os.path.exists(path):
        pytest.skip("mdev35643_mysql_80_binlog.000001 is absent (shared fixtures and mariadb-test-data)")
    p, rows = decode(path)
    assert p.returncode == 0, p.stderr
    assert "statement-based DML is not decoded: INSERT INTO t2" in p.stderr
    got = [(r["op"], r["table"], None if r["before"] is None else list(r["before"].values()),
            list(r["after"].values())) for r in rows]
    assert got == mdev35643_expected()


def fixture_files():
    files = sorted(glob.glob(os.path.join(SHARED, "mysql8", "*")) +
                   glob.glob(os.path.join(SHARED, "mariadb", "*")))
    for name in ("mdev35643_mysql_80_binlog.000001", "rpl/mysql-8.0.13-stm-temporal-round-binlog.000001",
                 "rpl/master-bin-seq_10.3.36.000001", "mdev6020-mysql-bin.000001",
                 "mdev29078-mysql-bin.000001"):
        p = os.path.join(STD_DATA, name)
        if os.path.exists(p) and os.path.basename(p) not in [os.path.basename(f) for f in files]:
            files.append(p)
    return files


FILES = fixture_files()


def parse_vv(text):
    """Row changes from mysqlbinlog -vv text: (op, table, before, after) with values as text."""
    changes, cur, image = [], None, None
    for line in text.splitlines():
        if not line.startswith("### "):
            continue
        body = line[4:]
        m = re.match(r"(INSERT INTO|UPDATE|DELETE FROM) `([^`]*)`\.`([^`]*)`", body)
        if m:
            op = {"INSERT INTO": "insert", "UPDATE": "update", "DELETE FROM": "delete"}[m.group(1)]
            cur = {"op": op, "table": m.group(2) + "." + m.group(3), "before": [], "after": []}
            changes.append(cur)
            image = None
            continue
        if body.strip() == "WHERE":
            image = cur["before"]
            continue
        if body.strip() == "SET":
            image = cur["after"]
            continue
        m = re.match(r"\s+@(\d+)=(.*?)( /\* .* \*/)?$", body)
        if m and image is not None:
            image.append(m.group(2))
    return changes


def unquote(v):
    if len(v) >= 2 and v[0] == "'" and v[-1] == "'":
        return v[1:-1]
    return v


def same(ours, theirs):
    """Our JSON value against mysqlbinlog's text for it."""
    if ours is None:
        return theirs == "NULL"
    if isinstance(ours, bool):
        return False
    if isinstance(ours, int):
        # unsigned values print as "-1 (4294967295)"
        m = re.match(r"(-?\d+)( \((\d+)\))?$", theirs)
        return bool(m) and (str(ours) == m.group(1) or str(ours) == (m.group(3) or ""))
    if isinstance(ours, float):
        try:
            return abs(float(theirs) - ours) <= 1e-6 * max(1.0, abs(ours))
        except ValueError:
            return False
    if isinstance(ours, str):
        t = unquote(theirs)
        if t == ours:
            return True
        # mysqlbinlog writes DATE as 'YYYY:MM:DD'
        if re.match(r"^\d{4}:\d{2}:\d{2}$", t) and t.replace(":", "-") == ours:
            return True
        # DECIMAL prints unquoted; temporal types quoted
        return theirs == ours
    return json.dumps(ours) == theirs


def decode(path):
    p = subprocess.run([BIN, "decode", path], capture_output=True, text=True, timeout=120)
    return p, [json.loads(l) for l in p.stdout.splitlines()]


def oracle_for(path):
    stored = STORED.get(os.path.basename(path))
    if stored:
        with open(os.path.join(SHARED, "oracles", stored), encoding="utf-8") as f:
            return parse_vv(f.read()), "stored mysqlbinlog -vv"
    if not shutil.which("mariadb-binlog"):
        return None, "mariadb-binlog is not installed"
    p = subprocess.run(["mariadb-binlog", "--no-defaults", "-vv", "--base64-output=decode-rows", path],
                       capture_output=True, text=True, errors="replace", timeout=120)
    return parse_vv(p.stdout), "mariadb-binlog -vv"


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(f) for f in FILES])
def test_decode_matches_oracle(path):
    if not os.path.exists(path):
        pytest.skip("fixture absent: " + path)
    if os.path.basename(path) in PENDING:
        pytest.skip(PENDING[os.path.basename(path)])
    p, rows = decode(path)
    assert p.returncode == 0, p.stderr
    oracle, what = oracle_for(path)
    if oracle is None:
        pytest.skip(what)
    assert len(rows) == len(oracle), "%s: %d row changes, %s has %d" % (
        os.path.basename(path), len(rows), what, len(oracle))
    for i, (r, o) in enumerate(zip(rows, oracle)):
        assert r["op"] == o["op"], i
        assert "%s.%s" % (r["db"], r["table"]) == o["table"], i
        for side in ("before", "after"):
            img = r[side]
            vals = [] if img is None else list(img.values())
            assert len(vals) == len(o[side]), (i, side)
            for k, (ours, theirs) in enumerate(zip(vals, o[side])):
                assert same(ours, theirs), "%s row %d %s column %d: ours %r, %s %r" % (
                    os.path.basename(path), i, side, k + 1, ours, what, theirs)


def test_fixtures_present():
    if not os.path.isdir(SHARED):
        pytest.skip("../shared/fixtures/binlog is absent: the shared fixtures are not laid out here")
    assert len(glob.glob(os.path.join(SHARED, "mysql8", "*"))) >= 1
