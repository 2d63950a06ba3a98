# SPDX-License-Identifier: MIT
"""Live oracle test of the PostgreSQL value renderer (issue 16).

Uses the private PostgreSQL 15 cluster of scripts/services (scripts/test and
scripts/itest start it: wal_level=logical, 127.0.0.1, port ROWCAST_PG_PORT
or the data folder's own), in a database of this module's own made afresh
(the `pg` fixture, which test_pg_source.py uses too), fills a table with a
column of every built-in type with random values (seed printed;
ROWCAST_PG_SEED repeats a run), reads the changes as binary pgoutput messages through
pg_logical_slot_get_binary_changes, parses and renders them with
tests/pg/pg_render_check (pgoutput.c + pgvalue.c), and compares every value
to the server's own SELECT of the same rows.  The change stream is read in a
session with TimeZone Asia/Kolkata and IntervalStyle postgres, the oracle in
UTC with IntervalStyle iso_8601, so time zone and interval conversion are
checked against the server, not against a second implementation.
"""
import decimal
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import TOP, services_env  # noqa: E402

SERVICES = os.path.join(TOP, "scripts", "services")
ENV = services_env()
PGBIN = ENV["ROWCAST_PGBIN"]
PORT = int(ENV["ROWCAST_PG_PORT"])
DRIVER = os.environ.get("ROWCAST_PG_DRIVER",
                        os.path.join(os.environ.get("ROWCAST_BUILDDIR", os.path.join(TOP, "build")),
                                     "tests", "pg", "pg_render_check"))
ROWS = 60


def _skip_reason():
    if not os.path.exists(os.path.join(PGBIN, "postgres")):
        return ("PostgreSQL 15 server binaries absent (%s/postgres); apt-get install postgresql-15"
                % PGBIN)
    if not shutil.which("psql"):
        return "psql absent; apt-get install postgresql-client-15"
    if not os.path.exists(DRIVER):
        return "driver %s not built (make -C build check)" % DRIVER
    st = subprocess.run([SERVICES, "status", "postgresql"], capture_output=True, text=True)
    if st.returncode != 0:
        return ("the private PostgreSQL is not running (scripts/test and scripts/itest start "
                "it; by hand: scripts/services start postgresql): " + st.stdout.strip())
    return None


SKIP = _skip_reason()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=str(SKIP))


def dbname(module):
    """The database of a test module in the shared cluster."""
    return "rc_" + module.rsplit(".", 1)[-1].replace("test_", "")


class Cluster:
    """scripts/services' cluster, seen from one database of it."""

    def __init__(self, db):
        self.db = db
        self.port = PORT

    def psql(self, sql, settings="", db=None):
        p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                            "-p", str(PORT), "-U", "postgres", "-d", db or self.db],
                           input=settings + sql, capture_output=True, text=True)
        if p.returncode != 0:
            raise AssertionError("psql failed: %s\n%s" % (p.stderr, sql[:2000]))
        return p.stdout

    def restart(self, extra_args=""):
        """Stop and start the server, with postgres flags for this start only."""
        env = dict(os.environ, ROWCAST_PG_EXTRA_ARGS=extra_args)
        p = subprocess.run([SERVICES, "restart", "postgresql"], env=env, capture_output=True,
                           text=True)
        if p.returncode != 0:
            raise AssertionError("scripts/services restart postgresql failed:\n%s%s"
                                 % (p.stdout, p.stderr))

    def drop(self):
        """Drop the database, and with it its slots; a walsender that is still
        ending may hold one for a moment."""
        deadline = time.time() + 20
        while True:
            try:
                self.psql("DROP DATABASE IF EXISTS %s WITH (FORCE);" % self.db, db="postgres")
                return
            except AssertionError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)

    def reset(self):
        """A fresh database; what an earlier run, stopped halfway, may have
        left in the cluster (settings, a server started with other flags,
        this database and its slots) is undone first."""
        if self.psql("SHOW wal_level;", db="postgres").strip() != "logical":
            self.restart()
        self.psql("ALTER SYSTEM RESET ALL;\nSELECT pg_reload_conf();", db="postgres")
        self.drop()
        self.psql("CREATE DATABASE %s;" % self.db, db="postgres")


@pytest.fixture(scope="module")
def pg(request):
    c = Cluster(dbname(request.module.__name__))
    c.reset()
    yield c
    c.drop()


# ---- random values, as SQL literals ----

def q(s):
    return "'" + s.replace("'", "''") + "'"


def rnd_text(r, maxlen=12):
    alphabet = "abc XYZ,{}\"\\'()[];:=-\n\té€😀NULL"
    return "".join(r.choice(alphabet) for _ in range(r.randint(0, maxlen)))


def rnd_int(r, bits):
    lim = 1 << (bits - 1)
    return r.choice([-lim, lim - 1, 0, -1, 1, r.randint(-lim, lim - 1), r.randint(-1000, 1000)])


def rnd_date(r, bc_ok=True):
    y = r.randint(1900, 2100) if r.random() < 0.6 else r.randint(1, 9999)
    s = "%04d-%02d-%02d" % (y, r.randint(1, 12), r.randint(1, 28))
    if bc_ok and r.random() < 0.15:
        s = "%04d%s BC" % (r.randint(1, 4700), s[4:])
    return s


def rnd_time(r):
    s = "%02d:%02d:%02d" % (r.randint(0, 23), r.randint(0, 59), r.randint(0, 59))
    if r.random() < 0.6:
        s += "." + "".join(r.choice("0123456789") for _ in range(r.randint(1, 6)))
    return s


def rnd_ts(r):
    d = rnd_date(r, bc_ok=False)
    s = d + " " + rnd_time(r)
    if r.random() < 0.1:
        s = "%04d%s BC" % (r.randint(1, 4700), s[4:])
    return s


def rnd_tz(r):
    return r.choice(["+00", "+05:30", "-08", "+14", "-03:30", "+01"])


def rnd_interval(r):
    parts = []
    for unit in ("years", "mons", "days"):
        if r.random() < 0.5:
            parts.append("%d %s" % (r.randint(-300, 300), unit))
    if r.random() < 0.7:
        parts.append("%d hours %d minutes %s seconds" % (r.randint(-1000, 1000), r.randint(-59, 59),
                                                         "%d.%06d" % (r.randint(-59, 59), r.randint(0, 999999))))
    return " ".join(parts) or "0"


def rnd_float(r, single=False):
    v = r.choice(["NaN", "Infinity", "-Infinity", "0", "-0", None, None, None, None])
    if v is not None:
        return v
    x = r.uniform(-1, 1) * 10 ** r.randint(-30 if single else -300, 30 if single else 300)
    return repr(x)


def rnd_numeric(r, scale=None):
    if scale is None and r.random() < 0.2:
        return r.choice(["NaN", "Infinity", "-Infinity"])
    ip = str(r.randint(0, 10 ** r.randint(0, 12)))
    fp = "".join(r.choice("0123456789") for _ in range(r.randint(0, 8 if scale is None else scale)))
    s = ("-" if r.random() < 0.4 else "") + ip + ("." + fp if fp else "")
    return s


def rnd_json(r, depth=0):
    k = r.randint(0, 5 if depth < 2 else 3)
    if k == 0:
        return r.choice([None, True, False])
    if k == 1:
        return r.choice([r.randint(-10**15, 10**15), 1.5, -0.25, 1e20])
    if k in (2, 3):
        return rnd_text(r).replace("\x00", "")
    if k == 4:
        return [rnd_json(r, depth + 1) for _ in range(r.randint(0, 3))]
    return {rnd_text(r, 5): rnd_json(r, depth + 1) for _ in range(r.randint(0, 3))}


def arr(vals):
    return "ARRAY[" + ",".join(vals) + "]"


def rnd_range(r, sub):
    if r.random() < 0.1:
        return "'empty'"
    gen = {"int4": lambda: str(r.randint(-1000, 1000)), "int8": lambda: str(rnd_int(r, 63)),
           "numeric": lambda: rnd_numeric(r, 3), "date": lambda: rnd_date(r, False),
           "timestamp": lambda: rnd_ts(r).replace(" BC", ""),
           "timestamptz": lambda: rnd_ts(r).replace(" BC", "") + rnd_tz(r)}[sub]
    a, b = gen(), gen()
    lo = "" if r.random() < 0.15 else a
    hi = "" if r.random() < 0.15 else b
    return "%srange(%s,%s,%s)" % (sub if sub != "timestamp" else "ts",
                                  ("NULL" if lo == "" else q(lo) + "::" + sub),
                                  ("NULL" if hi == "" else q(hi) + "::" + sub),
                                  q(r.choice(["[)", "[]", "(]", "()"])))


def range_lit(r, sub):
    """A range value that is valid: order the bounds by the server."""
    name = {"int4": "int4range", "int8": "int8range", "numeric": "numrange", "date": "daterange",
            "timestamp": "tsrange", "timestamptz": "tstzrange"}[sub]
    e = rnd_range(r, sub)
    if e == "'empty'":
        return "'empty'::" + name
    # build with least/greatest so lower <= upper
    m = re.match(r"^\w+\((.*),(.*),('.*')\)$", e)
    a, b, inc = m.group(1), m.group(2), m.group(3)
    if a != "NULL" and b != "NULL":
        return "%s(least(%s,%s),greatest(%s,%s),%s)" % (name, a, b, a, b, inc)
    return "%s(%s,%s,%s)" % (name, a, b, inc)


# (column name, SQL type, generator, oracle kind)
def columns():
    return [
        ("c_bool", "bool", lambda r: r.choice(["true", "false"]), "json"),
        ("c_int2", "int2", lambda r: str(rnd_int(r, 16)), "json"),
        ("c_int4", "int4", lambda r: str(rnd_int(r, 32)), "json"),
        ("c_int8", "int8", lambda r: str(rnd_int(r, 64)), "json"),
        ("c_oid", "oid", lambda r: str(r.choice([0, 4294967295, r.randint(0, 4294967295)])), "int"),
        ("c_num", "numeric", lambda r: q(rnd_numeric(r)) + "::numeric", "numeric"),
        ("c_num62", "numeric(14,4)", lambda r: q("%d.%04d" % (r.randint(-10**9, 10**9), r.randint(0, 9999))) + "::numeric(14,4)", "numeric"),
        ("c_f4", "float4", lambda r: q(rnd_float(r, True)) + "::float4", "float"),
        ("c_f8", "float8", lambda r: q(rnd_float(r)) + "::float8", "float"),
        ("c_text", "text", lambda r: q(rnd_text(r, 40)), "json"),
        ("c_varchar", "varchar(20)", lambda r: q(rnd_text(r, 20)), "json"),
        ("c_bpchar", "char(5)", lambda r: q(rnd_text(r, 5)), "json"),
        ("c_name", "name", lambda r: q(rnd_text(r, 10)), "json"),
        ("c_char", '"char"', lambda r: q(r.choice("aZ\\ 0")), "text"),
        ("c_bytea", "bytea", lambda r: "'\\x%s'::bytea" % r.randbytes(r.randint(0, 40)).hex(), "bytea"),
        ("c_json", "json", lambda r: q(json.dumps(rnd_json(r), ensure_ascii=r.random() < 0.5)) + "::json", "jsontext"),
        ("c_jsonb", "jsonb", lambda r: q(json.dumps(rnd_json(r))) + "::jsonb", "json"),
        ("c_date", "date", lambda r: q(r.choice([rnd_date(r)] * 8 + ["infinity", "-infinity"])) + "::date", "date"),
        ("c_ts", "timestamp", lambda r: q(r.choice([rnd_ts(r)] * 8 + ["infinity"])) + "::timestamp", "ts"),
        ("c_ts3", "timestamp(3)", lambda r: q(rnd_ts(r)) + "::timestamp(3)", "ts"),
        ("c_tstz", "timestamptz", lambda r: q(r.choice([rnd_ts(r) + " " + rnd_tz(r)] * 8 + ["-infinity"])) + "::timestamptz", "ts"),
        ("c_tstz0", "timestamptz(0)", lambda r: q(rnd_ts(r) + " " + rnd_tz(r)) + "::timestamptz(0)", "ts"),
        ("c_time", "time", lambda r: q(rnd_time(r)) + "::time", "time"),
        ("c_time2", "time(2)", lambda r: q(rnd_time(r)) + "::time(2)", "time"),
        ("c_timetz", "timetz", lambda r: q(rnd_time(r) + rnd_tz(r)) + "::timetz", "timetz"),
        ("c_interval", "interval", lambda r: q(rnd_interval(r)) + "::interval", "text"),
        ("c_uuid", "uuid", lambda r: q(str(__import__("uuid").UUID(int=r.getrandbits(128)))) + "::uuid", "text"),
        ("c_inet", "inet", lambda r: q(r.choice(["10.1.2.3/8", "::1", "192.168.0.1", "2001:db8::ff/64"])) + "::inet", "text"),
        ("c_cidr", "cidr", lambda r: q(r.choice(["10.0.0.0/8", "2001:db8::/32"])) + "::cidr", "text"),
        ("c_macaddr", "macaddr", lambda r: q(":".join("%02x" % r.randint(0, 255) for _ in range(6))) + "::macaddr", "text"),
        ("c_macaddr8", "macaddr8", lambda r: q(":".join("%02x" % r.randint(0, 255) for _ in range(8))) + "::macaddr8", "text"),
        ("c_money", "money", lambda r: q("%d.%02d" % (r.randint(-10**9, 10**9), r.randint(0, 99))) + "::money", "text"),
        ("c_bit", "bit(8)", lambda r: "B'" + "".join(r.choice("01") for _ in range(8)) + "'", "text"),
        ("c_varbit", "varbit", lambda r: "B'" + "".join(r.choice("01") for _ in range(r.randint(0, 20))) + "'", "text"),
        ("c_tsvector", "tsvector", lambda r: "to_tsvector('simple', %s)" % q(rnd_text(r, 30)), "text"),
        ("c_tsquery", "tsquery", lambda r: q(r.choice(["a & b", "x | !y", "'a b':*"])) + "::tsquery", "text"),
        ("c_point", "point", lambda r: "point(%s,%s)" % (rnd_float(r).replace("NaN", "1").replace("Infinity", "2"), r.randint(-9, 9)), "text"),
        ("c_box", "box", lambda r: "box(point(%d,%d),point(%d,%d))" % tuple(r.randint(-50, 50) for _ in range(4)), "text"),
        ("c_circle", "circle", lambda r: "circle(point(%d,%d),%d)" % (r.randint(-9, 9), r.randint(-9, 9), r.randint(0, 9)), "text"),
        ("c_xml", "xml", lambda r: q("<a x=\"1\">%s</a>" % r.choice(["t", "&amp;", ""])) + "::xml", "text"),
        ("c_jsonpath", "jsonpath", lambda r: q(r.choice(["$.a[*] ? (@ > 1)", "$.\"x y\"", "strict $"])) + "::jsonpath", "text"),
        ("c_lsn", "pg_lsn", lambda r: q("%X/%X" % (r.getrandbits(32), r.getrandbits(32))) + "::pg_lsn", "text"),
        ("c_int2vec", "int2vector", lambda r: q(" ".join(str(r.randint(-9, 99)) for _ in range(r.randint(0, 4)))) + "::int2vector", "vector"),
        ("a_int4", "int4[]", lambda r: arr([r.choice(["NULL", str(rnd_int(r, 32))]) for _ in range(r.randint(1, 5))]) + "::int4[]", "json"),
        ("a_int4_2d", "int4[]", lambda r: r.choice(["'{{1,2},{3,NULL}}'::int4[]", "'[0:1]={7,8}'::int4[]", "'{}'::int4[]",
                                                    "'[-2:-1][3:4]={{1,2},{3,4}}'::int4[]"]), "json"),
        ("a_text", "text[]", lambda r: arr([r.choice(["NULL", q(rnd_text(r)), "'NULL'", "''"]) for _ in range(r.randint(1, 5))]) + "::text[]", "json"),
        ("a_num", "numeric[]", lambda r: arr([q(rnd_numeric(r)) for _ in range(r.randint(1, 4))]) + "::numeric[]", "numeric"),
        ("a_f8", "float8[]", lambda r: arr([q(rnd_float(r)) for _ in range(r.randint(1, 4))]) + "::float8[]", "float"),
        ("a_bool", "bool[]", lambda r: arr([r.choice(["true", "false", "NULL"]) for _ in range(r.randint(1, 4))]) + "::bool[]", "json"),
        ("a_bytea", "bytea[]", lambda r: arr(["'\\x%s'::bytea" % r.randbytes(r.randint(0, 9)).hex() for _ in range(r.randint(1, 3))]), "bytea"),
        ("a_tstz", "timestamptz[]", lambda r: arr([q(rnd_ts(r) + rnd_tz(r)) + "::timestamptz" for _ in range(r.randint(1, 3))]), "ts"),
        ("a_date", "date[]", lambda r: arr([q(rnd_date(r)) + "::date" for _ in range(r.randint(1, 3))]), "date"),
        ("a_interval", "interval[]", lambda r: arr([q(rnd_interval(r)) + "::interval" for _ in range(r.randint(1, 3))]), "text"),
        ("a_jsonb", "jsonb[]", lambda r: arr([q(json.dumps(rnd_json(r))) + "::jsonb" for _ in range(r.randint(1, 3))]), "json"),
        ("a_box", "box[]", lambda r: arr(["box(point(%d,%d),point(1,1))" % (r.randint(-9, 9), r.randint(-9, 9)) for _ in range(r.randint(1, 3))]), "text"),
        ("a_uuid", "uuid[]", lambda r: arr([q(str(__import__("uuid").UUID(int=r.getrandbits(128)))) + "::uuid" for _ in range(2)]), "text"),
        ("r_int4", "int4range", lambda r: range_lit(r, "int4"), "range:json"),
        ("r_int8", "int8range", lambda r: range_lit(r, "int8"), "range:json"),
        ("r_num", "numrange", lambda r: range_lit(r, "numeric"), "range:numeric"),
        ("r_date", "daterange", lambda r: range_lit(r, "date"), "range:date"),
        ("r_ts", "tsrange", lambda r: range_lit(r, "timestamp"), "range:ts"),
        ("r_tstz", "tstzrange", lambda r: range_lit(r, "timestamptz"), "range:ts"),
        ("m_int4", "int4multirange", lambda r: "int4multirange(%s)" % ",".join(range_lit(r, "int4") for _ in range(r.randint(0, 3))), "multirange:json"),
        ("m_tstz", "tstzmultirange", lambda r: "tstzmultirange(%s)" % ",".join(range_lit(r, "timestamptz") for _ in range(r.randint(0, 2))), "multirange:ts"),
        ("ar_date", "daterange[]", lambda r: arr([range_lit(r, "date") for _ in range(r.randint(1, 2))]), "rangearr:date"),
        ("c_enum", "mood", lambda r: q(r.choice(["sad", "ok", "happy, very"])), "fallback"),
        ("c_domain", "posint", lambda r: str(r.randint(1, 10**6)), "fallback"),
        ("c_big", "text", lambda r: "repeat(md5(%s), 400)" % q(str(r.random())), "json"),
    ]


def oracle_expr(kind, x):
    """SQL giving the oracle of expression x, as json."""
    if kind == "json":
        return "to_jsonb(%s)" % x
    if kind == "text":
        # format() prints through the type's output function (inet keeps no /32)
        return "CASE WHEN %s IS NOT NULL THEN to_jsonb(format('%%s', %s)) END" % (x, x)
    if kind in ("numeric", "fallback", "vector", "int"):
        return "to_jsonb((%s)::text)" % x
    if kind == "jsontext":
        return "to_jsonb((%s)::text)" % x
    if kind == "float":
        return "to_jsonb((%s)::text)" % x
    if kind == "bytea":
        return "to_jsonb(translate(encode(%s, 'base64'), E'\\n', ''))" % x
    if kind == "date":
        return ("to_jsonb(CASE WHEN isfinite(%s) THEN ((%s) - date '1970-01-01')::text "
                "ELSE (%s)::text END)" % (x, x, x))
    if kind == "ts":
        return ("to_jsonb(CASE WHEN isfinite(%s) THEN extract(epoch from %s)::text "
                "ELSE (%s)::text END)" % (x, x, x))
    if kind == "time":
        return "to_jsonb(extract(epoch from %s)::text)" % x
    if kind == "timetz":
        return ("to_jsonb(extract(epoch from %s)::text || ' ' || extract(timezone from %s)::text)"
                % (x, x))
    raise ValueError(kind)


def column_oracle(name, kind):
    if kind.startswith("range:"):
        sub = kind.split(":")[1]
        return range_oracle(name, sub)
    if kind.startswith("multirange:"):
        sub = kind.split(":")[1]
        return ("CASE WHEN %s IS NOT NULL THEN (SELECT coalesce(jsonb_agg(%s ORDER BY k), '[]') "
                "FROM unnest(%s) WITH ORDINALITY u(rr, k)) END" % (name, range_oracle("rr", sub), name))
    if kind.startswith("rangearr:"):
        sub = kind.split(":")[1]
        return ("CASE WHEN %s IS NOT NULL THEN jsonb_build_object('dims', array_dims(%s), 'elems', "
                "(SELECT jsonb_agg(%s ORDER BY k) FROM unnest(%s) WITH ORDINALITY u(rr, k))) END"
                % (name, name, range_oracle("rr", sub), name))
    return oracle_expr(kind, name)


def range_oracle(x, sub):
    return ("CASE WHEN %s IS NULL THEN NULL WHEN isempty(%s) THEN jsonb_build_object('empty', true) "
            "ELSE jsonb_build_object('lower', CASE WHEN lower_inf(%s) THEN NULL ELSE %s END, "
            "'upper', CASE WHEN upper_inf(%s) THEN NULL ELSE %s END, "
            "'lower_inc', lower_inc(%s), 'upper_inc', upper_inc(%s)) END"
            % (x, x, x, oracle_expr(sub, "lower(%s)" % x), x, oracle_expr(sub, "upper(%s)" % x), x, x))


def array_oracle(name, kind):
    """Arrays: flat elements (by unnest) and dims, compared to our nested array."""
    return ("CASE WHEN %s IS NOT NULL THEN jsonb_build_object('dims', array_dims(%s), 'elems', "
            "(SELECT jsonb_agg(%s ORDER BY k) FROM unnest(%s) WITH ORDINALITY u(e, k))) END"
            % (name, name, oracle_expr(kind, "e"), name))


# ---- comparison ----

def days_from_civil(y, m, d):
    y -= m <= 2
    era = y // 400  # floor division: no adjustment for negative years
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


DATE_RE = r"(-?\d{4,})-(\d\d)-(\d\d)"


def check_frac(frac, typmod_digits, what):
    if typmod_digits is not None:
        assert len(frac) == typmod_digits, "%s: want %d fractional digits" % (what, typmod_digits)
    else:
        assert not frac.endswith("0"), "%s: trailing zero in the fraction" % what


def compare(kind, ours, want, what, typmod_digits=None):
    if want is None:
        assert ours is None, what
        return
    if kind == "json":
        assert ours == want and type(ours) == type(want), "%s: %r != %r" % (what, ours, want)
    elif kind == "int":
        assert type(ours) == int and ours == int(want), "%s: %r != %r" % (what, ours, want)
    elif kind in ("numeric", "text"):
        assert ours == want, "%s: %r != %r" % (what, ours, want)
    elif kind == "fallback":
        assert ours == want, "%s: %r != %r" % (what, ours, want)
    elif kind == "jsontext":
        assert ours == json.loads(want), "%s: %r != %r" % (what, ours, want)
    elif kind == "vector":
        assert ours == [int(v) for v in want.split()], "%s: %r != %r" % (what, ours, want)
    elif kind == "float":
        if want in ("NaN", "Infinity", "-Infinity"):
            assert ours == want, "%s: %r != %r" % (what, ours, want)
        else:
            assert isinstance(ours, (int, float)) and float(ours) == float(want), \
                "%s: %r != %r" % (what, ours, want)
            if float(want) == 0 and isinstance(ours, float):  # json.loads reads -0 as int 0
                assert str(ours).startswith("-") == want.startswith("-"), what
    elif kind == "bytea":
        assert ours == want, "%s: %r != %r" % (what, ours, want)
    elif kind == "date":
        if want in ("infinity", "-infinity"):
            assert ours == want, what
            return
        m = re.fullmatch(DATE_RE, ours)
        assert m, "%s: %r" % (what, ours)
        assert days_from_civil(int(m[1]), int(m[2]), int(m[3])) == int(want), \
            "%s: %r is not day %s" % (what, ours, want)
    elif kind == "ts":
        if want in ("infinity", "-infinity"):
            assert ours == want, what
            return
        m = re.fullmatch(DATE_RE + r" (\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z?)", ours)
        assert m, "%s: %r" % (what, ours)
        check_frac(m[7] or "", typmod_digits, what)
        secs = (days_from_civil(int(m[1]), int(m[2]), int(m[3])) * 86400 + int(m[4]) * 3600
                + int(m[5]) * 60 + int(m[6]))
        got = decimal.Decimal(secs) + decimal.Decimal("0." + (m[7] or "0"))
        assert got == decimal.Decimal(want), "%s: %r is %s, want %s" % (what, ours, got, want)
    elif kind == "time":
        m = re.fullmatch(r"(\d\d):(\d\d):(\d\d)(?:\.(\d+))?", ours)
        assert m, "%s: %r" % (what, ours)
        check_frac(m[4] or "", typmod_digits, what)
        got = decimal.Decimal(int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])) + decimal.Decimal("0." + (m[4] or "0"))
        assert got == decimal.Decimal(want), "%s: %r != %s" % (what, ours, want)
    elif kind == "timetz":
        m = re.fullmatch(r"(\d\d):(\d\d):(\d\d)(?:\.(\d+))?([+-])(\d\d):(\d\d)(?::(\d\d))?", ours)
        assert m, "%s: %r" % (what, ours)
        off = (int(m[6]) * 3600 + int(m[7]) * 60 + int(m[8] or 0)) * (1 if m[5] == "+" else -1)
        local = decimal.Decimal(int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])) + decimal.Decimal("0." + (m[4] or "0"))
        epoch, tz = want.split(" ")
        assert int(tz) == off and local - off == decimal.Decimal(epoch), "%s: %r vs %s" % (what, ours, want)
    else:
        raise ValueError(kind)


def flatten(v, depth):
    """The elements of a depth-dimensional nested list (elements may be lists: jsonb)."""
    if depth == 0:
        return [v]
    out = []
    for e in v:
        out.extend(flatten(e, depth - 1))
    return out


def check_shape(v, dims, what):
    assert isinstance(v, list) and len(v) == dims[0], "%s: %r not of dims %r" % (what, v, dims)
    if len(dims) > 1:
        for e in v:
            check_shape(e, dims[1:], what)


def compare_array(kind, ours, want, what, typmod_digits=None):
    if want is None:
        assert ours is None, what
        return
    dims = [int(b) - int(a) + 1 for a, b in re.findall(r"\[(-?\d+):(-?\d+)\]", want["dims"] or "")]
    if not dims:
        assert ours == [], "%s: %r for an empty array" % (what, ours)
        return
    check_shape(ours, dims, what)
    flat = flatten(ours, len(dims))
    elems = want["elems"] or []
    assert len(flat) == len(elems), what
    for i, (o, w) in enumerate(zip(flat, elems)):
        if kind.startswith("range:"):
            compare_range(kind.split(":")[1], o, w, "%s[%d]" % (what, i))
        else:
            compare(kind, o, w, "%s[%d]" % (what, i), typmod_digits)


def compare_range(sub, ours, want, what):
    if want is None:
        assert ours is None, what
        return
    if want.get("empty"):
        assert ours == {"empty": True}, what
        return
    assert set(ours) == {"lower", "upper", "lower_inc", "upper_inc"}, "%s: %r" % (what, ours)
    assert ours["lower_inc"] == want["lower_inc"] and ours["upper_inc"] == want["upper_inc"], what
    compare(sub, ours["lower"], want["lower"], what + ".lower")
    compare(sub, ours["upper"], want["upper"], what + ".upper")


def typmod_digits(sqltype):
    m = re.search(r"(?:timestamptz|timestamp|time)\((\d)\)", sqltype)
    return int(m[1]) if m else None


def check_rows(cols, changes, oracle_rows, op):
    by_id = {row[0]: row[1:] for row in oracle_rows}
    seen = 0
    for ch in changes:
        if ch["op"] != op:
            continue
        new = ch["new"]
        rid = new["id"]
        want = by_id[rid]
        assert sorted(ch["inexact"]) == sorted(
            c[0] for c in cols if c[3] == "fallback" and new.get(c[0]) is not None), ch["inexact"]
        for (name, sqltype, _, kind), w in zip(cols, want):
            what = "row %d %s %s (%s)" % (rid, op, name, sqltype)
            if name in ch["unchanged"]:
                continue
            ours = new[name]
            td = typmod_digits(sqltype)
            if kind.startswith("range:"):
                compare_range(kind.split(":")[1], ours, w, what)
            elif kind.startswith("multirange:") and w is None:
                assert ours is None, what
            elif kind.startswith("multirange:"):
                assert isinstance(ours, list) and len(ours) == len(w), "%s: %r vs %r" % (what, ours, w)
                for i, (o, x) in enumerate(zip(ours, w)):
                    compare_range(kind.split(":")[1], o, x, "%s[%d]" % (what, i))
            elif kind.startswith("rangearr:"):
                compare_array("range:" + kind.split(":")[1], ours, w, what)
            elif sqltype.endswith("[]"):
                compare_array(kind, ours, w, what, td)
            else:
                compare(kind, ours, w, what, td)
        seen += 1
    return seen


def read_changes(pg):
    # the change stream's session: not UTC, postgres IntervalStyle
    hexes = pg.psql("SELECT encode(data, 'hex') FROM pg_logical_slot_get_binary_changes("
                    "'rc_slot', NULL, NULL, 'proto_version', '1', 'publication_names', 'rc_pub', "
                    "'messages', 'true');",
                    settings="SET TimeZone = 'Asia/Kolkata'; SET IntervalStyle = postgres;\n")
    p = subprocess.run([DRIVER], input=hexes, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


def oracle(pg, cols):
    """[id, oracle of each column...] for every row of t, by id."""
    exprs = []
    for name, sqltype, _, kind in cols:
        if sqltype.endswith("[]") and not kind.startswith("rangearr:"):
            exprs.append(array_oracle(name, kind))
        else:
            exprs.append(column_oracle(name, kind))
    rows = None
    # jsonb_build_array takes at most 100 arguments: ask in chunks
    for i in range(0, len(exprs), 90):
        sql = ("SELECT jsonb_agg(jsonb_build_array(%s) ORDER BY id) FROM t;"
               % ", ".join(["id"] + exprs[i:i + 90]))
        out = json.loads(pg.psql(sql, settings="SET TimeZone = 'UTC'; SET IntervalStyle = iso_8601;\n")
                         or "[]") or []
        rows = out if rows is None else [a + b[1:] for a, b in zip(rows, out)]
    return rows


def test_values_against_server(pg):
    seed = int(os.environ.get("ROWCAST_PG_SEED", random.randrange(1 << 30)))
    print("seed %d (ROWCAST_PG_SEED=%d repeats this run)" % (seed, seed), file=sys.stderr)
    r = random.Random(seed)
    cols = columns()
    pg.psql("DROP TABLE IF EXISTS t; DROP TYPE IF EXISTS mood; DROP DOMAIN IF EXISTS posint;"
            "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy, very');"
            "CREATE DOMAIN posint AS int CHECK (VALUE > 0);"
            "CREATE TABLE t (id int PRIMARY KEY, %s);"
            "ALTER TABLE t ALTER c_big SET STORAGE EXTERNAL;"  # out of line, uncompressed
            "CREATE PUBLICATION rc_pub FOR TABLE t;"
            "SELECT 'x' FROM pg_create_logical_replication_slot('rc_slot', 'pgoutput');"
            % ", ".join("%s %s" % (c[0], c[1]) for c in cols))

    # inserts: every column random, some NULL
    stmts = []
    for i in range(1, ROWS + 1):
        vals = [str(i)] + [("NULL" if r.random() < 0.05 else c[2](r)) for c in cols]
        stmts.append("INSERT INTO t VALUES (%s);" % ", ".join(vals))
    pg.psql("BEGIN;" + "\n".join(stmts) + "COMMIT;")
    want = oracle(pg, cols)
    changes = read_changes(pg)
    assert check_rows(cols, changes, want, "I") == ROWS

    # updates that leave the TOASTed column alone: it must come as unchanged,
    # never as null
    stmts = []
    for i in range(1, ROWS + 1, 2):
        sets = []
        for c in r.sample(cols[:-1], 8):
            sets.append("%s = %s" % (c[0], c[2](r)))
        stmts.append("UPDATE t SET %s WHERE id = %d;" % (", ".join(sets), i))
    pg.psql("BEGIN;" + "\n".join(stmts) + "COMMIT;"
            "SELECT 'x' FROM pg_logical_emit_message(true, 'rowcast.test', 'hello');")
    want = oracle(pg, cols)
    changes = read_changes(pg)
    ups = [c for c in changes if c["op"] == "U"]
    assert len(ups) == len(range(1, ROWS + 1, 2))
    toasted = [c for c in ups if "c_big" in c["unchanged"]]
    assert toasted, "no update carried the unchanged TOAST marker"
    for c in ups:
        assert ("c_big" in c["unchanged"]) != ("c_big" in c["new"]), c["unchanged"]
        if "c_big" in c["new"]:
            assert c["new"]["c_big"] is None or len(c["new"]["c_big"]) == 32 * 400
    assert check_rows(cols, changes, want, "U") == len(ups)
    assert changes[-1] == {"op": "M", "prefix": "rowcast.test", "content": "hello"}

    # deletes send the key
    pg.psql("DELETE FROM t WHERE id <= 3; TRUNCATE t;")
    changes = read_changes(pg)
    dels = [c for c in changes if c["op"] == "D"]
    assert sorted(c["old"]["id"] for c in dels) == [1, 2, 3]
    assert all(c["old_kind"] == "K" for c in dels)
    assert changes[-1] == {"op": "T", "nrels": 1}
    pg.psql("SELECT pg_drop_replication_slot('rc_slot'); DROP PUBLICATION rc_pub;")
