# SPDX-License-Identifier: MIT
"""Helpers for test_types_live.py: column catalogue, random values, the
server-side oracle (a SELECT in an unambiguous form per type) and the
value-by-value comparison of a replayed table image with it.

Every generated value is an SQL expression in plain ASCII (strings and bytes
as hex literals with a charset introducer), so the SQL text never depends on
the client's own conversions.
"""
import base64
import json
import math
import os
import struct
import subprocess
import time

# ------------------------------------------------------------------ client


class Client:
    """mariadb command-line client with a large packet size (big BLOBs)."""

    def __init__(self, cnf):
        self.cnf = cnf

    def _args(self, db):
        return ["mariadb", "--defaults-file=" + self.cnf, "--batch", "--raw",
                "--skip-column-names", "--max-allowed-packet=1G", db]

    def run(self, sql, db="rctest"):
        p = subprocess.run(self._args(db), input=sql.encode("utf-8"), capture_output=True)
        if p.returncode != 0:
            raise RuntimeError("mariadb failed: %s\n%s" % (p.stderr.decode(errors="replace"),
                                                           sql[:1000]))
        return p.stdout.decode("utf-8")

    def rows(self, sql, db="rctest"):
        return [line.split("\t") for line in self.run(sql, db).splitlines()]


# ------------------------------------------------------------------ helpers


def hexlit(b, cs=None):
    """Bytes as an SQL literal; with cs a string of that character set."""
    lit = "X'%s'" % b.hex().upper()
    return ("_%s %s" % (cs, lit)) if cs else lit


def sql_utf8(s):
    return hexlit(s.encode("utf-8"), "utf8mb4")


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def sig_digits(text):
    """Significant digits of a decimal number written in text."""
    t = text.strip().lstrip("+-").lower()
    mant = t.split("e")[0].replace(".", "").lstrip("0").rstrip("0")
    return max(len(mant), 1)


def shortest_digits_f64(x):
    return sig_digits(repr(x))


def shortest_digits_f32(x):
    if x == 0:
        return 1
    for p in range(1, 10):
        s = "%.*g" % (p, x)
        try:
            if f32(float(s)) == x:
                return p
        except OverflowError:
            continue
    return 9


class Num(float):
    """A JSON floating-point number that remembers its text."""

    def __new__(cls, text):
        o = float.__new__(cls, text)
        o.text = text
        return o


class Int(int):
    def __new__(cls, text):
        o = int.__new__(cls, text)
        o.text = text
        return o


def parse_message(line):
    return json.loads(line, parse_float=Num, parse_int=Int)


def num_text(v):
    return getattr(v, "text", repr(v))


# ------------------------------------------------------------------ text


# Unicode pools; sampled per character by weight.
def _rand_cp(rng, maxcp):
    r = rng.random()
    if r < 0.45:
        return rng.randint(0x20, 0x7E)
    if r < 0.5:
        return rng.choice([0x00, 0x09, 0x0A, 0x0D, 0x27, 0x5C, 0x22, 0x25, 0x5F, 0x20])
    if r < 0.62:
        return rng.randint(0xA0, 0x17F)
    if r < 0.72:
        return rng.randint(0x4E00, 0x9FFF)
    if r < 0.8 and maxcp > 0xFFFF:
        return rng.choice([0x1F600, 0x1F680, 0x10000, 0x10FFFF, 0x1D11E, 0x20BB7])
    if r < 0.9 and maxcp > 0xFFFF:
        return rng.randint(0x10000, maxcp)
    while True:
        c = rng.randint(0x80, min(maxcp, 0xFFFF))
        if not 0xD800 <= c <= 0xDFFF:
            return c


CHARSETS = {
    # MariaDB charset: (python codec for the bytes we send, highest code point)
    "utf8mb4": ("utf-8", 0x10FFFF),
    "utf8mb3": ("utf-8", 0xFFFF),
    "ucs2": ("utf-16-be", 0xFFFF),
    "utf16": ("utf-16-be", 0x10FFFF),
    "utf32": ("utf-32-be", 0x10FFFF),
}


def gen_text_bytes(rng, cs, nchars, maxbytes=None):
    """Random text of up to nchars characters as bytes in charset cs."""
    if cs == "latin1":
        # MariaDB's latin1 is cp1252 with the 5 holes mapped through: every
        # byte is a character.  Bias towards the interesting 0x80..0x9F.
        out = bytearray()
        for _ in range(nchars):
            r = rng.random()
            if r < 0.5:
                out.append(rng.randint(0x20, 0x7E))
            elif r < 0.7:
                out.append(rng.randint(0x80, 0x9F))
            else:
                out.append(rng.randint(0, 0xFF))
        b = bytes(out)
    else:
        codec, maxcp = CHARSETS[cs]
        b = "".join(chr(_rand_cp(rng, maxcp)) for _ in range(nchars)).encode(codec)
    if maxbytes is not None and len(b) > maxbytes:
        b = trim_bytes(b[:maxbytes], cs)
    return b


def trim_bytes(b, cs):
    """Cut b back to a whole number of characters of cs."""
    if cs == "latin1":
        return b
    codec = CHARSETS[cs][0]
    while b:
        try:
            b.decode(codec)
            return b
        except UnicodeDecodeError:
            b = b[:-1]
    return b


def text_edges(cs, nchars, maxbytes=None):
    """Edge strings for a text column, as bytes in cs."""
    codec = None if cs == "latin1" else CHARSETS[cs][0]
    maxcp = 0xFF if cs == "latin1" else CHARSETS[cs][1]

    def enc(s):
        if cs == "latin1":
            return s.encode("latin-1")
        return s.encode(codec)
    edges = [b"", enc(" "), enc("a  "), enc("  a"), enc("\x00"), enc("a\x00"), enc("'\\\"%_\t\n\r")]
    if cs == "latin1":
        edges += [bytes(range(0x80, 0xA0))[:nchars], bytes([0xFF] * nchars),
                  bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D])[:nchars]]
    else:
        edges += [enc("\u00e9\u00df\u20ac"), enc("\uFFFD\uFEFF\u00A0"), enc("\u6f22" * nchars)]
        if maxcp > 0xFFFF:
            edges += [enc("\U0001F600" * nchars), enc("\U0010FFFF\U00010000")]
    edges.append(enc("z" * nchars))
    out = []
    for e in edges:
        if maxbytes is not None and len(e) > maxbytes:
            e = trim_bytes(e[:maxbytes], cs)
        n = len(e) if cs == "latin1" else len(e.decode(codec))
        if n > nchars:
            e = enc((e.decode("latin-1") if cs == "latin1" else e.decode(codec))[:nchars])
        out.append(e)
    return out


# ------------------------------------------------------------------ columns


class Col:
    """One column: name, DDL type, kind and a generator of SQL values."""

    def __init__(self, name, ddl, kind, **kw):
        self.name = name
        self.ddl = ddl
        self.kind = kind
        self.kw = kw
        self.nullable = kw.get("nullable", True)

    @property
    def is_blob(self):
        """A BLOB/TEXT type: left out of NOBLOB images (JSON is LONGTEXT)."""
        return self.kind in ("blob", "json") or (self.kind == "text" and self.kw.get("blob"))

    # ---- generation

    def gen(self, rng, edge_bias=0.25, null_p=0.08):
        if self.nullable and rng.random() < null_p:
            return "NULL"
        edge = rng.random() < edge_bias
        return getattr(self, "_gen_" + self.kind)(rng, edge)

    def edges(self):
        """All edge values of the column as SQL expressions."""
        return getattr(self, "_edges_" + self.kind)()

    def _gen_int(self, rng, edge):
        if edge:
            return rng.choice(self._edges_int())
        lo, hi = self._int_range()
        bits = rng.randint(1, self.kw["bits"])
        v = rng.getrandbits(bits)
        if lo < 0 and rng.random() < 0.5:
            v = -v
        return str(max(lo, min(hi, v)))

    def _int_range(self):
        b = self.kw["bits"]
        return (0, 2 ** b - 1) if self.kw.get("unsigned") else (-2 ** (b - 1), 2 ** (b - 1) - 1)

    def _edges_int(self):
        lo, hi = self._int_range()
        return [str(v) for v in sorted({lo, lo + 1, hi, hi - 1, 0, 1, -1 if lo else 2, 127, 128, 255, 256,
                                         32767, 32768, 65535, 65536, 2 ** 23, 2 ** 31, 2 ** 32}) if lo <= v <= hi]

    def _gen_dec(self, rng, edge):
        if edge:
            return rng.choice(self._edges_dec())
        m, d = self.kw["m"], self.kw["d"]
        ni = rng.randint(0, m - d)
        ip = "".join(rng.choice("0123456789") for _ in range(ni)) or "0"
        fp = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, d)))
        s = ip + ("." + fp if fp else "")
        if not self.kw.get("unsigned") and rng.random() < 0.5:
            s = "-" + s
        return s

    def _edges_dec(self):
        m, d = self.kw["m"], self.kw["d"]
        big = "9" * (m - d) + ("." + "9" * d if d else "")
        tiny = ("0." + "0" * (d - 1) + "1") if d else "1"
        out = [big, tiny, "0", "-0" + (".0" if d else ""), "1", "10", "0." + "5" * d if d else "5"]
        if not self.kw.get("unsigned"):
            out += ["-" + big, "-" + tiny, "-1"]
        if m - d > 9:
            out += ["1" + "0" * 9, "999999999"]
            if not self.kw.get("unsigned"):
                out.append("-" + "1" + "0" * (m - d - 1))
        if d > 9:
            out += ["0." + "0" * 9 + "1", "0." + "9" * 9, "0.000000001" + "0" * (d - 9)]
        # only what fits: DECIMAL(10,10) has no integer digits
        return [v for v in out if len(v.lstrip("-").split(".")[0].lstrip("0")) <= m - d]

    def _gen_float(self, rng, edge):
        if edge:
            return rng.choice(self._edges_float())
        if rng.random() < 0.5:
            while True:
                x = struct.unpack("<f", struct.pack("<I", rng.getrandbits(32)))[0]
                if math.isfinite(x):
                    break
        else:
            x = f32(round(rng.uniform(-1e4, 1e4), rng.randint(0, 6)))
        return repr(x) + ("" if "e" in repr(x) else "e0")

    def _edges_float(self):
        return ["0e0", "-0e0", "3.4028234663852886e38", "-3.4028234663852886e38", "1.1754943508222875e-38",
                "1.401298464324817e-45", "-1.401298464324817e-45", "1.1e0", "0.1e0", "1e0", "16777216e0",
                "16777217e0", "100e0", "1e10", "-2.5e0", "3.3333333e0", "0.3e0"]

    def _gen_double(self, rng, edge):
        if edge:
            return rng.choice(self._edges_double())
        if rng.random() < 0.5:
            while True:
                x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
                if math.isfinite(x):
                    break
        else:
            x = round(rng.uniform(-1e9, 1e9), rng.randint(0, 9))
        r = repr(x)
        return r + ("" if "e" in r else "e0")

    def _edges_double(self):
        return ["0e0", "-0e0", "1.7976931348623157e308", "-1.7976931348623157e308", "5e-324", "-5e-324",
                "2.2250738585072014e-308", "2.225073858507201e-308", "0.1e0", "0.30000000000000004e0",
                "1e23", "9007199254740993e0", "9007199254740992e0", "123456789012345680e0", "1e-7", "1e21",
                "1e15", "1e16", "-1e0", "100e0"]

    def _gen_date(self, rng, edge):
        if edge:
            return rng.choice(self._edges_date())
        return "'%s'" % _rand_date(rng)

    def _edges_date(self):
        return ["'%s'" % v for v in ("0000-00-00", "1000-01-01", "9999-12-31", "0001-01-01", "2024-02-29",
                                     "1970-01-01", "2020-00-00", "2020-05-00", "1900-02-28")]

    def _gen_datetime(self, rng, edge):
        if edge:
            return rng.choice(self._edges_datetime())
        return "'%s %s.%06d'" % (_rand_date(rng), _rand_hms(rng), rng.randint(0, 999999))

    def _edges_datetime(self):
        return ["'%s'" % v for v in ("0000-00-00 00:00:00", "1000-01-01 00:00:00", "9999-12-31 23:59:59.999999",
                                     "0001-01-01 00:00:00.000001", "2024-02-29 12:00:00.5",
                                     "1970-01-01 00:00:00", "2020-00-00 00:00:00", "1999-12-31 23:59:59.100000",
                                     "2000-01-01 00:00:00.000009")]

    def _gen_timestamp(self, rng, edge):
        if edge:
            return rng.choice(self._edges_timestamp())
        t = rng.randint(1, 2 ** 31 - 2)
        return "'%s.%06d'" % (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)), rng.randint(0, 999999))

    def _edges_timestamp(self):
        return ["'%s'" % v for v in ("0000-00-00 00:00:00", "1970-01-01 00:00:01", "2038-01-19 03:14:07.999999",
                                     "2038-01-19 03:14:07", "1970-01-01 00:00:01.000001", "2000-02-29 23:59:59.5",
                                     "2026-03-29 01:30:00")]

    def _gen_time(self, rng, edge):
        if edge:
            return rng.choice(self._edges_time())
        h = rng.choice([rng.randint(0, 23), rng.randint(0, 838)])
        m, s = rng.randint(0, 59), rng.randint(0, 59)
        frac = rng.randint(0, 999999) if (h, m, s) != (838, 59, 59) else 0
        sign = "-" if rng.random() < 0.4 else ""
        return "'%s%d:%02d:%02d.%06d'" % (sign, h, m, s, frac)

    def _edges_time(self):
        return ["'%s'" % v for v in ("-838:59:59", "838:59:59", "00:00:00", "-00:00:00.000001", "-00:00:01",
                                     "-00:59:59.5", "23:59:59.999999", "-837:59:59.999999", "00:00:00.000001",
                                     "-01:00:00", "100:00:00.100000", "-12:34:56.654321")]

    def _gen_year(self, rng, edge):
        if edge:
            return rng.choice(self._edges_year())
        return str(rng.randint(1901, 2155))

    def _edges_year(self):
        return ["0", "1901", "2155", "2000", "1999", "'0'", "'00'", "69", "70"]

    def _gen_text(self, rng, edge):
        cs, n, maxb = self.kw["cs"], self.kw["n"], self.kw.get("maxbytes")
        if edge:
            return hexlit(rng.choice(text_edges(cs, n, maxb)), cs)
        r = rng.random()
        k = rng.randint(0, min(n, 12)) if r < 0.5 else rng.randint(0, min(n, 80)) if r < 0.9 \
            else rng.randint(0, n)
        return hexlit(gen_text_bytes(rng, cs, k, maxb), cs)

    def _edges_text(self):
        return [hexlit(e, self.kw["cs"]) for e in text_edges(self.kw["cs"], self.kw["n"], self.kw.get("maxbytes"))]

    def max_value(self, rng):
        """An SQL value of the column's full length (text: in characters
        or bytes, whichever is the limit), or None."""
        k = self.kind
        if k in ("binary", "blob"):
            return hexlit(rng.randbytes(self.kw["n"]))
        if k == "text":
            cs, n, maxb = self.kw["cs"], self.kw["n"], self.kw.get("maxbytes")
            if maxb:   # fill the bytes: 4-byte characters, then ASCII
                unit = "\U0001F600" if cs in ("utf8mb4", "utf16", "utf32") else "\u6f22"
                s = unit * (maxb // len(unit.encode(CHARSETS[cs][0])))
                b = s.encode(CHARSETS[cs][0])
                pad = maxb - len(b)
                b += ("z" * (pad // len("z".encode(CHARSETS[cs][0])))).encode(CHARSETS[cs][0])
                return hexlit(b, cs)
            return hexlit(gen_text_bytes(rng, cs, n), cs)
        return None

    def _gen_binary(self, rng, edge):
        n = self.kw["n"]
        if edge:
            return rng.choice(self._edges_binary())
        r = rng.random()
        k = rng.randint(0, min(n, 16)) if r < 0.5 else rng.randint(0, min(n, 300)) if r < 0.97 \
            else rng.randint(0, n)
        return hexlit(rng.randbytes(k))

    def _edges_binary(self):
        n = min(self.kw["n"], 300)
        e = [b"", b"\x00", b"a\x00", b"a ", b" ", b"\x00" * n, b"\xff" * n, b"\x20" * n, b"ab\x00\x00",
             bytes(range(min(n, 256)))]
        return [hexlit(x[:n]) for x in e]

    _gen_blob = _gen_binary
    _edges_blob = _edges_binary

    def _gen_enum(self, rng, edge):
        return sql_utf8(rng.choice(self.kw["members"]))

    def _edges_enum(self):
        return [sql_utf8(m) for m in self.kw["members"][:3] + self.kw["members"][-2:]]

    def _gen_set(self, rng, edge):
        ms = self.kw["members"]
        if edge:
            return rng.choice(self._edges_set())
        pick = [m for m in ms if rng.random() < 0.3]
        rng.shuffle(pick)
        if pick and rng.random() < 0.2:
            pick.append(pick[0])  # a duplicate member is folded by the server
        return sql_utf8(",".join(pick))

    def _edges_set(self):
        ms = self.kw["members"]
        return [sql_utf8(""), sql_utf8(",".join(ms)), sql_utf8(ms[0]), sql_utf8(ms[-1]),
                sql_utf8(",".join(reversed(ms)))]

    def _gen_bit(self, rng, edge):
        if edge:
            return rng.choice(self._edges_bit())
        return str(rng.getrandbits(self.kw["bits"]))

    def _edges_bit(self):
        b = self.kw["bits"]
        return [str(v) for v in sorted({0, 1, 2 ** b - 1, 2 ** (b - 1), 2 ** (b - 1) - 1, (2 ** b - 1) ^ 1})]

    def _gen_json(self, rng, edge):
        if edge:
            return rng.choice(self._edges_json())
        doc = rand_json(rng, rng.randint(0, 5))
        return sql_utf8(json.dumps(doc, ensure_ascii=rng.random() < 0.3,
                                   indent=rng.choice([None, None, 1]), sort_keys=False))

    def _edges_json(self):
        deep = {"k": 1}
        for i in range(30):
            deep = [deep] if i % 2 else {"d%d" % i: deep}
        docs = ['{}', '[]', '""', 'null', 'true', '0', '-0', '1e308', '-1.5e-300', '18446744073709551615',
                '-9223372036854775808', '12345678901234567890123456789', '"\\u0000\\n\\t\\"\\\\\\/"',
                json.dumps({"emoji": "\U0001F600\U0010FFFF", "cjk": "\u6f22\u5b57", "e": "\u00e9"},
                           ensure_ascii=False),
                json.dumps({"emoji": "\U0001F600"}, ensure_ascii=True),
                json.dumps(deep), "[" * 31 + "]" * 31, ' { "a" : [ 1 , 2 ] , "b" : { } } ',
                json.dumps({"dup": 1, "x": [None, True, False, 1.25, "s"]})]
        return [sql_utf8(d) for d in docs]

    def _gen_geom(self, rng, edge):
        if edge:
            return rng.choice(self._edges_geom())
        kinds = self.kw.get("geoms", ["POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "GEOMETRYCOLLECTION"])
        return "ST_GeomFromText('%s', %d)" % (rand_wkt(rng, rng.choice(kinds)),
                                              rng.choice([0, 0, 4326, 3857, 4294967295]))

    def _edges_geom(self):
        kinds = self.kw.get("geoms", ["POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "GEOMETRYCOLLECTION"])
        out = ["ST_GeomFromText('POINT(0 0)', 0)", "ST_GeomFromText('POINT(-0 -0)', 4326)",
               "ST_GeomFromText('POINT(1.7976931348623157e308 -5e-324)', 4294967295)",
               "ST_GeomFromText('POINT(-1.5 2.25)', 1)"]
        if "POLYGON" in kinds:
            out += ["ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0),(1 1,2 1,2 2,1 1))', 0)",
                    "ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))', 0)",
                    "ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))', 0)"]
        return out

    # ---- the oracle

    def select_expr(self):
        """How the server shows the column for an exact comparison."""
        c = "`%s`" % self.name
        k = self.kind
        if k in ("int",):
            return c
        if k == "dec" or k in ("date", "datetime", "timestamp", "time"):
            return "CAST(%s AS CHAR)" % c
        if k == "float":
            return "CAST(%s AS DOUBLE)" % c
        if k == "double":
            return c
        if k in ("year", "bit"):
            return "%s+0" % c
        if k in ("text", "enum", "set", "json"):
            # the server's own conversion to UTF-8 (latin1 is cp1252 here),
            # and the stored bytes for the report
            return "HEX(CONVERT(%s USING utf8mb4)), HEX(%s)" % (c, c)
        if k in ("binary", "blob", "geom"):
            return "HEX(%s)" % c
        raise AssertionError(k)

    def ncols(self):
        return 2 if self.kind in ("text", "enum", "set", "json") else 1

    def expected(self, fields):
        """The server's fields for this column -> (value, description)."""
        f = fields[0]
        if f == "NULL":
            return None, "NULL"
        k = self.kind
        if k in ("int", "year", "bit"):
            return int(f), f
        if k in ("dec", "date", "datetime", "time"):
            return f, f
        if k == "timestamp":
            return (f if f.startswith("0000-00-00 00:00:00") else f + "Z"), f
        if k in ("float", "double"):
            return float(f), f
        if k in ("text", "enum", "set", "json"):
            return bytes.fromhex(f).decode("utf-8"), "hex %s" % _short(fields[1])
        if k in ("binary", "blob", "geom"):
            return bytes.fromhex(f), "hex %s" % _short(f)
        raise AssertionError(k)

    def compare(self, ours, want):
        """None when ours (the decoded JSON value) is right, else why not."""
        k = self.kind
        if want is None:
            return None if ours is None else "expected null"
        if ours is None:
            return "got null"
        if k in ("int", "year", "bit"):
            if type(ours) not in (int, Int):
                return "not a JSON integer"
            return None if ours == want else "value"
        if k in ("dec", "date", "datetime", "time", "timestamp", "text", "enum", "set"):
            if not isinstance(ours, str):
                return "not a JSON string"
            return None if ours == want else "value"
        if k in ("float", "double"):
            if isinstance(ours, bool) or not isinstance(ours, (int, float)):
                return "not a JSON number"
            try:
                v = float(num_text(ours))
                got = f32(v) if k == "float" else v
            except (OverflowError, ValueError):
                return "does not read back"
            if got != want or math.copysign(1, got) != math.copysign(1, want):
                return "value"
            need = shortest_digits_f32(want) if k == "float" else shortest_digits_f64(want)
            if sig_digits(num_text(ours)) != need:
                return "not the shortest round-trip form (%d digits, shortest has %d)" % (
                    sig_digits(num_text(ours)), need)
            return None
        if k in ("binary", "blob", "geom"):
            if not isinstance(ours, str):
                return "not a JSON string"
            try:
                b = base64.b64decode(ours, validate=True)
            except Exception:
                return "not base64"
            return None if b == want else "value"
        if k == "json":
            if isinstance(ours, str):
                return None if ours == want else "value (as text)"
            return None if ours == json.loads(want) else "value (as JSON)"
        raise AssertionError(k)


def _short(s, n=80):
    return s if len(s) <= n else "%s...(%d chars)" % (s[:n], len(s))


def show(v, n=120):
    t = json.dumps(v, ensure_ascii=True) if not isinstance(v, bytes) else "bytes " + v.hex()
    if isinstance(v, (Num, Int)):
        t = v.text
    return _short(t, n)


def _rand_date(rng):
    y = rng.choice([rng.randint(1000, 9999), rng.randint(1900, 2100), rng.randint(1, 999)])
    m = rng.randint(1, 12)
    d = rng.randint(1, [31, 29 if (y % 4 == 0 and (y % 100 or y % 400 == 0)) else 28, 31, 30, 31, 30,
                        31, 31, 30, 31, 30, 31][m - 1])
    return "%04d-%02d-%02d" % (y, m, d)


def _rand_hms(rng):
    return "%02d:%02d:%02d" % (rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))


def rand_json(rng, depth):
    r = rng.random()
    if depth <= 0 or r < 0.35:
        s = rng.random()
        if s < 0.1:
            return None
        if s < 0.2:
            return rng.random() < 0.5
        if s < 0.45:
            return rng.choice([0, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 64 - 1, rng.randint(-10 ** 12, 10 ** 12)])
        if s < 0.6:
            return rng.choice([0.5, -1.25e-10, 1e300, rng.uniform(-1e6, 1e6)])
        return "".join(chr(_rand_cp(rng, 0x10FFFF)) for _ in range(rng.randint(0, 20)))
    if r < 0.65:
        return [rand_json(rng, depth - 1) for _ in range(rng.randint(0, 5))]
    return {"".join(chr(_rand_cp(rng, 0x10FFFF)) for _ in range(rng.randint(0, 6))): rand_json(rng, depth - 1)
            for _ in range(rng.randint(0, 5))}


def _coord(rng):
    return repr(rng.choice([rng.uniform(-180, 180), float(rng.randint(-1000, 1000)), rng.uniform(-1e9, 1e9)]))


def rand_wkt(rng, kind):
    def pts(n):
        return ",".join("%s %s" % (_coord(rng), _coord(rng)) for _ in range(n))
    if kind == "POINT":
        return "POINT(%s %s)" % (_coord(rng), _coord(rng))
    if kind == "LINESTRING":
        return "LINESTRING(%s)" % pts(rng.randint(2, 8))
    if kind == "POLYGON":
        x, y = rng.uniform(-100, 100), rng.uniform(-100, 100)
        w = rng.uniform(0.1, 50)
        return "POLYGON((%r %r,%r %r,%r %r,%r %r))" % (x, y, x + w, y, x + w, y + w, x, y)
    if kind == "MULTIPOINT":
        return "MULTIPOINT(%s)" % ",".join("(%s %s)" % (_coord(rng), _coord(rng))
                                           for _ in range(rng.randint(1, 6)))
    if kind == "GEOMETRYCOLLECTION":
        return "GEOMETRYCOLLECTION(%s,%s)" % (rand_wkt(rng, "POINT"), rand_wkt(rng, "LINESTRING"))
    raise AssertionError(kind)


# ------------------------------------------------------------------ catalogue


def all_columns():
    cols = []
    for name, bits in (("tinyint", 8), ("smallint", 16), ("mediumint", 24), ("int", 32), ("bigint", 64)):
        cols.append(Col("i_" + name, name.upper(), "int", bits=bits))
        cols.append(Col("u_" + name, name.upper() + " UNSIGNED", "int", bits=bits, unsigned=True))
    cols += [Col("dec5_2", "DECIMAL(5,2)", "dec", m=5, d=2),
             Col("dec65_30", "DECIMAL(65,30)", "dec", m=65, d=30),
             Col("dec18_0", "DECIMAL(18,0)", "dec", m=18, d=0),
             Col("dec10_4u", "DECIMAL(10,4) UNSIGNED", "dec", m=10, d=4, unsigned=True),
             Col("dec38_9", "DECIMAL(38,9)", "dec", m=38, d=9),
             Col("dec10_10", "DECIMAL(10,10)", "dec", m=10, d=10),
             Col("dec65_0", "DECIMAL(65,0)", "dec", m=65, d=0),
             Col("dec1_0", "DECIMAL(1,0)", "dec", m=1, d=0),
             Col("flt", "FLOAT", "float"),
             Col("dbl", "DOUBLE", "double"),
             Col("dt", "DATE", "date")]
    for n in range(7):
        cols.append(Col("dtm%d" % n, "DATETIME(%d)" % n, "datetime", fsp=n))
    for n in range(7):
        cols.append(Col("ts%d" % n, "TIMESTAMP(%d) NULL DEFAULT NULL" % n, "timestamp", fsp=n))
    for n in range(7):
        cols.append(Col("tm%d" % n, "TIME(%d)" % n, "time", fsp=n))
    cols.append(Col("yr", "YEAR", "year"))
    for cs, vlen in (("latin1", 255), ("utf8mb4", 255), ("utf8mb3", 100), ("ucs2", 100), ("utf16", 100),
                     ("utf32", 60)):
        cols.append(Col("c_" + cs, "CHAR(10) CHARACTER SET " + cs, "text", cs=cs, n=10))
        cols.append(Col("v_" + cs, "VARCHAR(%d) CHARACTER SET %s" % (vlen, cs), "text", cs=cs, n=vlen))
    cols += [
        # CHAR whose byte length is over 255 (its binlog metadata differs)
        Col("cbig_utf8mb4", "CHAR(100) CHARACTER SET utf8mb4", "text", cs="utf8mb4", n=100),
        Col("cbig_utf32", "CHAR(255) CHARACTER SET utf32", "text", cs="utf32", n=255),
        Col("cbig_latin1", "CHAR(255) CHARACTER SET latin1", "text", cs="latin1", n=255),
        Col("vlong_latin1", "VARCHAR(300) CHARACTER SET latin1", "text", cs="latin1", n=300),
        Col("vlong_utf32", "VARCHAR(100) CHARACTER SET utf32", "text", cs="utf32", n=100),
        Col("bin8", "BINARY(8)", "binary", n=8),
        Col("vbin", "VARBINARY(300)", "binary", n=300),
        Col("tblob", "TINYBLOB", "blob", n=255),
        Col("blb", "BLOB", "blob", n=65535),
        Col("mblob", "MEDIUMBLOB", "blob", n=70000),
        Col("lblob", "LONGBLOB", "blob", n=70000),
        Col("ttext", "TINYTEXT CHARACTER SET latin1", "text", cs="latin1", n=255, blob=True),
        Col("ttext4", "TINYTEXT CHARACTER SET utf8mb4", "text", cs="utf8mb4", n=255, maxbytes=255, blob=True),
        Col("txt", "TEXT CHARACTER SET utf8mb4", "text", cs="utf8mb4", n=2000, maxbytes=65535, blob=True),
        Col("txt_ucs2", "TEXT CHARACTER SET ucs2", "text", cs="ucs2", n=500, maxbytes=65535, blob=True),
        Col("mtext", "MEDIUMTEXT CHARACTER SET utf16", "text", cs="utf16", n=3000, blob=True),
        Col("ltext", "LONGTEXT CHARACTER SET utf8mb4", "text", cs="utf8mb4", n=3000, blob=True),
        Col("en", "ENUM('', 'a', 'b c', '\u00fc', '\U0001F600', 'x,y', 'zz')", "enum",
            members=["", "a", "b c", "\u00fc", "\U0001F600", "x,y", "zz"]),
        # over 255 members: two bytes in the row
        Col("en300", "ENUM(%s)" % ",".join("'m%d'" % i for i in range(300)), "enum",
            members=["m%d" % i for i in range(300)]),
        Col("st", "SET('a', 'b', '\u00e9', '\U0001F600', 'z z')", "set",
            members=["a", "b", "\u00e9", "\U0001F600", "z z"]),
        Col("st12", "SET(%s)" % ",".join("'s%d'" % i for i in range(12)), "set",
            members=["s%d" % i for i in range(12)]),
        Col("st64", "SET(%s)" % ",".join("'s%d'" % i for i in range(64)), "set",
            members=["s%d" % i for i in range(64)]),
        # ENUM/SET names are stored in the column's character set
        Col("en_latin1", "ENUM('', 'a', '\u00e9', '\u20ac', '\u00ff') CHARACTER SET latin1", "enum",
            members=["", "a", "\u00e9", "\u20ac", "\u00ff"]),
        Col("en_utf16", "ENUM('q', '\u00e9', '\U0001F600') CHARACTER SET utf16", "enum",
            members=["q", "\u00e9", "\U0001F600"]),
        Col("st_ucs2", "SET('x', '\u00e9', '\u6f22') CHARACTER SET ucs2", "set",
            members=["x", "\u00e9", "\u6f22"]),
        Col("bit1", "BIT(1)", "bit", bits=1),
        Col("bit8", "BIT(8)", "bit", bits=8),
        Col("bit9", "BIT(9)", "bit", bits=9),
        Col("bit13", "BIT(13)", "bit", bits=13),
        Col("bit64", "BIT(64)", "bit", bits=64),
        Col("js", "JSON", "json"),
        Col("geo", "GEOMETRY", "geom"),
        Col("pt", "POINT", "geom", geoms=["POINT"]),
    ]
    return cols


def compressed_columns():
    """MariaDB's COMPRESSED column attribute (its own binlog column types)."""
    return [
        Col("vc_latin1", "VARCHAR(1000) COMPRESSED CHARACTER SET latin1", "text", cs="latin1", n=1000),
        Col("vc_utf8mb4", "VARCHAR(300) COMPRESSED CHARACTER SET utf8mb4", "text", cs="utf8mb4", n=300),
        Col("vc_utf16", "VARCHAR(200) COMPRESSED CHARACTER SET utf16", "text", cs="utf16", n=200),
        Col("vb", "VARBINARY(1000) COMPRESSED", "binary", n=1000),
        Col("tb", "TINYBLOB COMPRESSED", "blob", n=254, blob=True),
        Col("bc", "BLOB COMPRESSED", "blob", n=5000),
        Col("mbc", "MEDIUMBLOB COMPRESSED", "blob", n=5000),
        Col("tc", "TEXT COMPRESSED CHARACTER SET utf8mb4", "text", cs="utf8mb4", n=2000, maxbytes=65000,
            blob=True),
        Col("ltc", "LONGTEXT COMPRESSED CHARACTER SET ucs2", "text", cs="ucs2", n=3000, blob=True),
    ]


def create_table(client, table, pk_cols, cols, extra_cols=""):
    """pk_cols: list of (name, ddl); cols: Col list (all NULL DEFAULT NULL)."""
    parts = ["`%s` %s NOT NULL" % (n, d) for n, d in pk_cols]
    parts += [extra_cols] if extra_cols else []
    for c in cols:
        ddl = c.ddl
        if "DEFAULT" not in ddl:
            ddl += " NULL DEFAULT NULL"
        parts.append("`%s` %s" % (c.name, ddl))
    parts.append("PRIMARY KEY (%s)" % ",".join("`%s`" % n for n, _ in pk_cols))
    client.run("CREATE TABLE `%s` (%s) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4"
               % (table, ",\n".join(parts)))


# ------------------------------------------------------------------ rowcast


class StdoutRowcast:
    """rowcast with the stdout sink; its stdout (JSON lines) kept apart."""

    def __init__(self, svc, tmp_path, binary):
        self.bin = binary
        self.conf = str(tmp_path / "rowcast-types.conf")
        self.ckpt = str(tmp_path / "checkpoint-types")
        self.out = str(tmp_path / "rowcast.out")
        self.log = str(tmp_path / "rowcast.err")
        with open(self.conf, "w") as f:
            f.write("[source]\nhost = 127.0.0.1\nport = %s\nuser = rowcast\npassword = rowcast\n"
                    "server_id = %d\nheartbeat_period = 1\nstart_position = current\n"
                    "[checkpoint]\npath = %s\ninterval_ms = 100\n"
                    "[sink]\ntype = stdout\nmax_inflight = 100000\n"
                    % (svc["ROWCAST_MARIADB_PORT"], 60000 + os.getpid() % 50000, self.ckpt))
        self.p = None

    def start(self):
        self.outf = open(self.out, "wb")
        self.errf = open(self.log, "ab")
        self.p = subprocess.Popen([self.bin, "-c", self.conf], stdout=self.outf, stderr=self.errf)
        deadline = time.time() + 20
        while time.time() < deadline:
            if b"streaming from" in open(self.log, "rb").read():
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("rowcast did not start:\n%s" % open(self.log).read())

    def lines(self):
        """Complete lines of stdout so far."""
        with open(self.out, "rb") as f:
            data = f.read()
        return data.split(b"\n")[:-1]

    def wait_for(self, n, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.lines()) >= n:
                time.sleep(0.5)   # let any extra message show up
                break
            if self.p.poll() is not None:
                break
            time.sleep(0.1)
        return self.lines()

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        for f in (getattr(self, "outf", None), getattr(self, "errf", None)):
            if f:
                f.close()


# ------------------------------------------------------------------ compare


def server_image(client, table, pk_cols, cols):
    """{pk tuple: {col name: (value, description)}} from the server's SELECT."""
    exprs = [pk_select(n, d) for n, d in pk_cols] + [c.select_expr() for c in cols]
    rows = client.rows("SET time_zone = '+00:00';\nSELECT %s FROM `%s`" % (", ".join(exprs), table))
    out = {}
    for r in rows:
        npk = len(pk_cols)
        key = tuple(_pk_value(v, d) for v, (_, d) in zip(r[:npk], pk_cols))
        i = npk
        rec = {}
        for c in cols:
            rec[c.name] = c.expected(r[i:i + c.ncols()])
            i += c.ncols()
        assert i == len(r), (i, len(r))
        out[key] = rec
    return out


def _pk_value(text, ddl):
    return int(text) if "INT" in ddl.upper() else bytes.fromhex(text).decode("utf-8")


def pk_select(name, ddl):
    return "`%s`" % name if "INT" in ddl.upper() else "HEX(`%s`)" % name


def before_differences(before, known):
    """Why a before image disagrees with the row as last published."""
    return ["before image %s=%s differs from the row as last published %s" % (n, show(v), show(known[n]))
            for n, v in before.items() if n in known and known[n] != v]


def compare_images(got, want, cols, table):
    """Value-by-value differences between the replayed and the server's table."""
    diffs = []
    for key in sorted(set(want) - set(got), key=repr):
        diffs.append("%s %r: row missing from the replayed image" % (table, key))
    for key in sorted(set(got) - set(want), key=repr):
        diffs.append("%s %r: row in the replayed image but not on the server" % (table, key))
    bycol = {}
    for key in sorted(set(got) & set(want), key=repr):
        g, w = got[key], want[key]
        for c in cols:
            if c.name not in g:
                why = "column absent from the replayed row"
                ours = "<absent>"
            else:
                ours = g[c.name]
                why = c.compare(ours, w[c.name][0])
            if why:
                bycol[c.name] = bycol.get(c.name, 0) + 1
                diffs.append("%s pk=%r col %s [%s]: %s; ours=%s server=%s (%s)" % (
                    table, key, c.name, c.ddl.split(" NULL")[0][:40], why,
                    ours if isinstance(ours, str) and ours == "<absent>" else show(ours),
                    show(w[c.name][0]), w[c.name][1]))
    return diffs, bycol


def report(diffs, bycol, label):
    if not diffs:
        return ""
    lines = ["%s: %d differences; per column: %s" % (label, len(diffs), bycol)]
    lines += diffs[:20]
    return "\n".join(lines)
