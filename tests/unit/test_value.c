/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of value_decode(): one table of hand-built row-image bytes per
 * column type with the exact JSON expected, every truncation of every case,
 * and random bytes for every type (for the sanitizers).  The bytes are
 * derived in the comments from the documented storage formats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source/mysql/charset.h"
#include "source/mysql/jsonb.h"
#include "source/mysql/value.h"

#define B(...)                                                  \
	.in = (const uint8_t[]){ __VA_ARGS__ },                 \
	.n = sizeof((const uint8_t[]){ __VA_ARGS__ })

enum { M_NONE = 0, M_ABC, M_ODD };

struct vcase {
	const char *name;
	uint8_t type;
	uint8_t real_type;	/* 0: same as type */
	uint16_t meta;
	bool uns;
	uint32_t charset;
	int members;		/* M_* */
	const uint8_t *in;
	size_t n;
	const char *want;	/* NULL: must fail */
	const char *errsub;	/* for failures: part of the message */
	unsigned bad;		/* bad_chars expected */
	size_t used;		/* 0: n */
};

static const char *const abc[] = { "a", "b", "c" };
static const uint32_t abc_lens[] = { 1, 1, 1 };
static const char *const odd[] = { "x\"y", "\xc3\xa9t\xc3\xa9" };
static const uint32_t odd_lens[] = { 3, 5 };

static const struct vcase cases[] = {
	/* ---- integers, little-endian two's complement ---- */
	{ "tiny 0", COLT_TINY, B(0x00), .want = "0" },
	{ "tiny min", COLT_TINY, B(0x80), .want = "-128" },
	{ "tiny max", COLT_TINY, B(0x7f), .want = "127" },
	{ "tiny -1", COLT_TINY, B(0xff), .want = "-1" },
	{ "utiny max", COLT_TINY, .uns = true, B(0xff), .want = "255" },
	{ "short min", COLT_SHORT, B(0x00, 0x80), .want = "-32768" },
	{ "short max", COLT_SHORT, B(0xff, 0x7f), .want = "32767" },
	{ "ushort max", COLT_SHORT, .uns = true, B(0xff, 0xff),
	  .want = "65535" },
	{ "int24 min", COLT_INT24, B(0x00, 0x00, 0x80), .want = "-8388608" },
	{ "int24 max", COLT_INT24, B(0xff, 0xff, 0x7f), .want = "8388607" },
	{ "int24 -1", COLT_INT24, B(0xff, 0xff, 0xff), .want = "-1" },
	{ "uint24 max", COLT_INT24, .uns = true, B(0xff, 0xff, 0xff),
	  .want = "16777215" },
	{ "long min", COLT_LONG, B(0x00, 0x00, 0x00, 0x80),
	  .want = "-2147483648" },
	{ "long max", COLT_LONG, B(0xff, 0xff, 0xff, 0x7f),
	  .want = "2147483647" },
	{ "ulong max", COLT_LONG, .uns = true, B(0xff, 0xff, 0xff, 0xff),
	  .want = "4294967295" },
	/* 0x12345678 little-endian */
	{ "long 305419896", COLT_LONG, B(0x78, 0x56, 0x34, 0x12),
	  .want = "305419896" },
	{ "longlong min", COLT_LONGLONG,
	  B(0, 0, 0, 0, 0, 0, 0, 0x80), .want = "-9223372036854775808" },
	{ "longlong max", COLT_LONGLONG,
	  B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
	  .want = "9223372036854775807" },
	{ "longlong -1", COLT_LONGLONG,
	  B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), .want = "-1" },
	{ "ulonglong max", COLT_LONGLONG, .uns = true,
	  B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	  .want = "18446744073709551615" },
	/* 2^63 unsigned: would lose digits through a double */
	{ "ulonglong 2^63+1", COLT_LONGLONG, .uns = true,
	  B(0x01, 0, 0, 0, 0, 0, 0, 0x80), .want = "9223372036854775809" },
	/* trailing bytes belong to the next column: used stays 1 */
	{ "tiny then more", COLT_TINY, B(0x05, 0xaa, 0xbb), .want = "5",
	  .used = 1 },

	/* ---- YEAR: 0, else 1900 + byte ---- */
	{ "year 0", COLT_YEAR, B(0x00), .want = "0" },
	{ "year 2023", COLT_YEAR, B(123), .want = "2023" },
	{ "year 2155", COLT_YEAR, B(255), .want = "2155" },

	/*
	 * ---- NEWDECIMAL, meta = precision << 8 | scale ----
	 * Integer digits then fraction digits, 9 digits per 4 BE bytes,
	 * leftover digits in {0,1,1,2,2,3,3,4,4,4} bytes (integer leftover
	 * first, fraction leftover last); top bit of byte 0 set when >= 0;
	 * negatives are all bytes complemented.
	 */
	/* (10,4): intg 6 -> 3 bytes 001234 = 00 04 d2; frac 4 -> 2 bytes
	   5678 = 16 2e; sign bit: 80 04 d2 16 2e */
	{ "dec(10,4) 1234.5678", COLT_NEWDECIMAL, .meta = 10 << 8 | 4,
	  B(0x80, 0x04, 0xd2, 0x16, 0x2e), .want = "\"1234.5678\"" },
	/* negative: complement of the above: 7f fb 2d e9 d1 */
	{ "dec(10,4) -1234.5678", COLT_NEWDECIMAL, .meta = 10 << 8 | 4,
	  B(0x7f, 0xfb, 0x2d, 0xe9, 0xd1), .want = "\"-1234.5678\"" },
	/* (8,6) -12.5: intg 2 -> 1 byte 0c; frac 6 -> 3 bytes 500000 =
	   07 a1 20; positive 8c 07 a1 20, complemented 73 f8 5e df */
	{ "dec(8,6) -12.5", COLT_NEWDECIMAL, .meta = 8 << 8 | 6,
	  B(0x73, 0xf8, 0x5e, 0xdf), .want = "\"-12.500000\"" },
	/* (5,2) 0: intg 3 -> 2 bytes, frac 2 -> 1 byte: 80 00 00 */
	{ "dec(5,2) 0", COLT_NEWDECIMAL, .meta = 5 << 8 | 2,
	  B(0x80, 0x00, 0x00), .want = "\"0.00\"" },
	/* negative zero 7f ff ff prints without sign */
	{ "dec(5,2) -0", COLT_NEWDECIMAL, .meta = 5 << 8 | 2,
	  B(0x7f, 0xff, 0xff), .want = "\"0.00\"" },
	/* (5,2) -0.05: 80 00 05 -> complement 7f ff fa */
	{ "dec(5,2) -0.05", COLT_NEWDECIMAL, .meta = 5 << 8 | 2,
	  B(0x7f, 0xff, 0xfa), .want = "\"-0.05\"" },
	/* (3,3) 0.5: no integer bytes, 3 frac digits 500 = 01 f4 -> 81 f4 */
	{ "dec(3,3) 0.5", COLT_NEWDECIMAL, .meta = 3 << 8 | 3,
	  B(0x81, 0xf4), .want = "\"0.500\"" },
	{ "dec(3,3) -0.5", COLT_NEWDECIMAL, .meta = 3 << 8 | 3,
	  B(0x7e, 0x0b), .want = "\"-0.500\"" },
	/* (1,0) 7 -> 87; -7 -> 78 */
	{ "dec(1,0) 7", COLT_NEWDECIMAL, .meta = 1 << 8, B(0x87),
	  .want = "\"7\"" },
	{ "dec(1,0) -7", COLT_NEWDECIMAL, .meta = 1 << 8, B(0x78),
	  .want = "\"-7\"" },
	/* (18,9): one full group each side: 123456789 = 07 5b cd 15 */
	{ "dec(18,9)", COLT_NEWDECIMAL, .meta = 18 << 8 | 9,
	  B(0x87, 0x5b, 0xcd, 0x15, 0x07, 0x5b, 0xcd, 0x15),
	  .want = "\"123456789.123456789\"" },
	/* (20,0) max: leftover 2 digits 99 = 63 in 1 byte, then two groups
	   999999999 = 3b 9a c9 ff */
	{ "dec(20,0) max", COLT_NEWDECIMAL, .meta = 20 << 8,
	  B(0xe3, 0x3b, 0x9a, 0xc9, 0xff, 0x3b, 0x9a, 0xc9, 0xff),
	  .want = "\"99999999999999999999\"" },
	/* (12,2) 1000000000.01: intg 10 = leftover 1 digit (1 byte: 01)
	   + group 000000000; frac 01 in 1 byte */
	{ "dec(12,2) leading group zeros", COLT_NEWDECIMAL, .meta = 12 << 8 | 2,
	  B(0x81, 0x00, 0x00, 0x00, 0x00, 0x01),
	  .want = "\"1000000000.01\"" },
	/* (65,30): intg 35 = leftover 8 digits (4 bytes) + 3 groups; frac
	   30 = 3 groups + leftover 3 digits (2 bytes); 30 bytes.
	   max: 99999999 = 05 f5 e0 ff, groups 3b 9a c9 ff, 999 = 03 e7 */
	{ "dec(65,30) max", COLT_NEWDECIMAL, .meta = 65 << 8 | 30,
	  B(0x85, 0xf5, 0xe0, 0xff, 0x3b, 0x9a, 0xc9, 0xff,
	    0x3b, 0x9a, 0xc9, 0xff, 0x3b, 0x9a, 0xc9, 0xff,
	    0x3b, 0x9a, 0xc9, 0xff, 0x3b, 0x9a, 0xc9, 0xff,
	    0x3b, 0x9a, 0xc9, 0xff, 0x03, 0xe7),
	  .want = "\"99999999999999999999999999999999999."
		  "999999999999999999999999999999\"" },
	/* the same complemented */
	{ "dec(65,30) min", COLT_NEWDECIMAL, .meta = 65 << 8 | 30,
	  B(0x7a, 0x0a, 0x1f, 0x00, 0xc4, 0x65, 0x36, 0x00,
	    0xc4, 0x65, 0x36, 0x00, 0xc4, 0x65, 0x36, 0x00,
	    0xc4, 0x65, 0x36, 0x00, 0xc4, 0x65, 0x36, 0x00,
	    0xc4, 0x65, 0x36, 0x00, 0xfc, 0x18),
	  .want = "\"-99999999999999999999999999999999999."
		  "999999999999999999999999999999\"" },
	/* (65,30) 1.000...001: last integer group 1, frac leftover 001 */
	{ "dec(65,30) 1.0..01", COLT_NEWDECIMAL, .meta = 65 << 8 | 30,
	  B(0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01),
	  .want = "\"1.000000000000000000000000000001\"" },
	/* (2,0): 100 does not fit 2 digits */
	{ "dec(2,0) bad digits", COLT_NEWDECIMAL, .meta = 2 << 8, B(0xe4),
	  .errsub = "out of range" },
	{ "dec(66,0) bad precision", COLT_NEWDECIMAL, .meta = 66 << 8,
	  B(0x80), .errsub = "precision" },
	{ "dec(5,6) scale > precision", COLT_NEWDECIMAL, .meta = 5 << 8 | 6,
	  B(0x80, 0, 0, 0), .errsub = "precision" },

	/* ---- FLOAT / DOUBLE, IEEE little-endian, shortest round trip ---- */
	{ "float 1.5", COLT_FLOAT, .meta = 4, B(0x00, 0x00, 0xc0, 0x3f),
	  .want = "1.5" },
	/* 0.1f = 3dcccccd: shortest for the float, not the double */
	{ "float 0.1", COLT_FLOAT, .meta = 4, B(0xcd, 0xcc, 0xcc, 0x3d),
	  .want = "0.1" },
	{ "float -0", COLT_FLOAT, .meta = 4, B(0x00, 0x00, 0x00, 0x80),
	  .want = "-0" },
	{ "float max", COLT_FLOAT, .meta = 4, B(0xff, 0xff, 0x7f, 0x7f),
	  .want = "3.4028235e+38" },
	{ "float 2^24", COLT_FLOAT, .meta = 4, B(0x00, 0x00, 0x80, 0x4b),
	  .want = "16777216" },
	{ "float min denormal", COLT_FLOAT, .meta = 4,
	  B(0x01, 0x00, 0x00, 0x00), .want = "1e-45" },
	{ "float nan", COLT_FLOAT, .meta = 4, B(0x00, 0x00, 0xc0, 0x7f),
	  .want = "null" },
	{ "float inf", COLT_FLOAT, .meta = 4, B(0x00, 0x00, 0x80, 0x7f),
	  .want = "null" },
	{ "double 0.1", COLT_DOUBLE, .meta = 8,
	  B(0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f), .want = "0.1" },
	{ "double 0", COLT_DOUBLE, .meta = 8, B(0, 0, 0, 0, 0, 0, 0, 0),
	  .want = "0" },
	/* 1e20 = 0x4415af1d78b58c40: exponent form is valid JSON */
	{ "double 1e+20", COLT_DOUBLE, .meta = 8,
	  B(0x40, 0x8c, 0xb5, 0x78, 0x1d, 0xaf, 0x15, 0x44),
	  .want = "1e+20" },
	{ "double max", COLT_DOUBLE, .meta = 8,
	  B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0x7f),
	  .want = "1.7976931348623157e+308" },
	{ "double -2.5", COLT_DOUBLE, .meta = 8,
	  B(0, 0, 0, 0, 0, 0, 0x04, 0xc0), .want = "-2.5" },
	{ "double 1/3", COLT_DOUBLE, .meta = 8,
	  B(0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0xd5, 0x3f),
	  .want = "0.3333333333333333" },
	{ "double min denormal", COLT_DOUBLE, .meta = 8,
	  B(0x01, 0, 0, 0, 0, 0, 0, 0), .want = "5e-324" },
	{ "double 1e-7", COLT_DOUBLE, .meta = 8,
	  B(0x48, 0xaf, 0xbc, 0x9a, 0xf2, 0xd7, 0x7a, 0x3e),
	  .want = "1e-07" },
	{ "double nan", COLT_DOUBLE, .meta = 8,
	  B(0, 0, 0, 0, 0, 0, 0xf8, 0x7f), .want = "null" },
	{ "double -inf", COLT_DOUBLE, .meta = 8,
	  B(0, 0, 0, 0, 0, 0, 0xf0, 0xff), .want = "null" },

	/* ---- DATE: 3 bytes LE, day 5 bits | month 4 bits | year ---- */
	/* 2024<<9 | 2<<5 | 29 = 1036381 = 0x0fd05d */
	{ "date leap day", COLT_DATE, B(0x5d, 0xd0, 0x0f),
	  .want = "\"2024-02-29\"" },
	/* 9999<<9 | 12<<5 | 31 = 0x4e1f9f */
	{ "date max", COLT_DATE, B(0x9f, 0x1f, 0x4e),
	  .want = "\"9999-12-31\"" },
	{ "date zero", COLT_DATE, B(0, 0, 0), .want = "\"0000-00-00\"" },
	{ "date partial", COLT_DATE, B(0x00, 0xd0, 0x0f),
	  .want = "\"2024-00-00\"" },

	/* ---- DATETIME (old): 8 bytes LE integer YYYYMMDDhhmmss ---- */
	/* 20010203040506 = 0x1232fd0b4afa */
	{ "datetime", COLT_DATETIME,
	  B(0xfa, 0x4a, 0x0b, 0xfd, 0x32, 0x12, 0x00, 0x00),
	  .want = "\"2001-02-03 04:05:06\"" },
	/* 99991231235959 = 0x5af105d18777 */
	{ "datetime max", COLT_DATETIME,
	  B(0x77, 0x87, 0xd1, 0x05, 0xf1, 0x5a, 0x00, 0x00),
	  .want = "\"9999-12-31 23:59:59\"" },
	{ "datetime zero", COLT_DATETIME, B(0, 0, 0, 0, 0, 0, 0, 0),
	  .want = "\"0000-00-00 00:00:00\"" },

	/*
	 * ---- DATETIME2(fsp): 5 bytes BE = 0x8000000000 + (ymd << 17 | hms),
	 * ymd = (year * 13 + month) << 5 | day, hms = h << 12 | m << 6 | s;
	 * then (fsp + 1) / 2 BE fraction bytes (1/100, 1/10000, 1/1000000).
	 * 2015-01-15 23:24:25: ym = 26196, ymd = 838287, hms = 95769,
	 * 0x8000000000 + 838287 * 131072 + 95769 = 99 95 1f 76 19.
	 */
	{ "datetime2(0)", COLT_DATETIME2, .meta = 0,
	  B(0x99, 0x95, 0x1f, 0x76, 0x19),
	  .want = "\"2015-01-15 23:24:25\"" },
	/* .5 -> 50 = 32 */
	{ "datetime2(1)", COLT_DATETIME2, .meta = 1,
	  B(0x99, 0x95, 0x1f, 0x76, 0x19, 0x32),
	  .want = "\"2015-01-15 23:24:25.5\"" },
	/* .56 -> 56 = 38 */
	{ "datetime2(2)", COLT_DATETIME2, .meta = 2,
	  B(0x99, 0x95, 0x1f, 0x76, 0x19, 0x38),
	  .want = "\"2015-01-15 23:24:25.56\"" },
	/* .567 -> 5670 = 16 26 */
	{ "datetime2(3)", COLT_DATETIME2, .meta = 3,
	  B(0x99, 0x95, 0x1f, 0x76, 0x19, 0x16, 0x26),
	  .want = "\"2015-01-15 23:24:25.567\"" },
	/* .5678 -> 5678 = 16 2e */
	{ "datetime2(4)", COLT_DATETIME2, .meta = 4,
	  B(0x99, 0x95, 0x1f, 0x76, 0x19, 0x16, 0x2e),
	  .want = "\"2015-01-15 23:24:25.5678\"" },
	/* .56789 -> 567890 = 08 aa 52 */
	{ "datetime2(5)", COLT_DATETIME2, .meta = 5,
	  B(0x99, 0x95, 0x1f, 0x76, 0x19, 0x08, 0xaa, 0x52),
	  .want = "\"2015-01-15 23:24:25.56789\"" },
	/* .567891 -> 08 aa 53 */
	{ "datetime2(6)", COLT_DATETIME2, .meta = 6,
	  B(0x99, 0x95, 0x1f, 0x76, 0x19, 0x08, 0xaa, 0x53),
	  .want = "\"2015-01-15 23:24:25.567891\"" },
	{ "datetime2(6) zero", COLT_DATETIME2, .meta = 6,
	  B(0x80, 0, 0, 0, 0, 0, 0, 0),
	  .want = "\"0000-00-00 00:00:00.000000\"" },
	/* 9999-12-31 23:59:59: fe f3 ff 7e fb */
	{ "datetime2(0) max", COLT_DATETIME2, .meta = 0,
	  B(0xfe, 0xf3, 0xff, 0x7e, 0xfb),
	  .want = "\"9999-12-31 23:59:59\"" },
	{ "datetime2(2) fraction 100", COLT_DATETIME2, .meta = 2,
	  B(0x99, 0x95, 0x1f, 0x76, 0x19, 100), .errsub = "fraction" },
	{ "datetime2(7) bad fsp", COLT_DATETIME2, .meta = 7,
	  B(0x99, 0x95, 0x1f, 0x76, 0x19, 0, 0, 0, 0), .errsub = "fsp" },

	/* ---- TIMESTAMP (old): 4 bytes LE seconds, UTC ---- */
	/* 1700000000 = 0x6553f100 */
	{ "timestamp", COLT_TIMESTAMP, B(0x00, 0xf1, 0x53, 0x65),
	  .want = "\"2023-11-14 22:13:20Z\"" },
	/* 951782400 = 0x38bb0c00 */
	{ "timestamp leap day", COLT_TIMESTAMP, B(0x00, 0x0c, 0xbb, 0x38),
	  .want = "\"2000-02-29 00:00:00Z\"" },
	{ "timestamp max", COLT_TIMESTAMP, B(0xff, 0xff, 0xff, 0xff),
	  .want = "\"2106-02-07 06:28:15Z\"" },
	{ "timestamp zero", COLT_TIMESTAMP, B(0, 0, 0, 0),
	  .want = "\"0000-00-00 00:00:00\"" },

	/* ---- TIMESTAMP2(fsp): 4 bytes BE seconds + fraction ---- */
	{ "timestamp2(0)", COLT_TIMESTAMP2, .meta = 0,
	  B(0x65, 0x53, 0xf1, 0x00), .want = "\"2023-11-14 22:13:20Z\"" },
	/* .7 -> 70 = 46 */
	{ "timestamp2(1)", COLT_TIMESTAMP2, .meta = 1,
	  B(0x65, 0x53, 0xf1, 0x00, 0x46),
	  .want = "\"2023-11-14 22:13:20.7Z\"" },
	/* .99 -> 99 = 63 */
	{ "timestamp2(2)", COLT_TIMESTAMP2, .meta = 2,
	  B(0x65, 0x53, 0xf1, 0x00, 0x63),
	  .want = "\"2023-11-14 22:13:20.99Z\"" },
	/* .123 -> 1230 = 04 ce */
	{ "timestamp2(3)", COLT_TIMESTAMP2, .meta = 3,
	  B(0x65, 0x53, 0xf1, 0x00, 0x04, 0xce),
	  .want = "\"2023-11-14 22:13:20.123Z\"" },
	/* .0001 -> 1 = 00 01 */
	{ "timestamp2(4)", COLT_TIMESTAMP2, .meta = 4,
	  B(0x65, 0x53, 0xf1, 0x00, 0x00, 0x01),
	  .want = "\"2023-11-14 22:13:20.0001Z\"" },
	/* .12345 -> 123450 = 01 e2 3a */
	{ "timestamp2(5)", COLT_TIMESTAMP2, .meta = 5,
	  B(0x65, 0x53, 0xf1, 0x00, 0x01, 0xe2, 0x3a),
	  .want = "\"2023-11-14 22:13:20.12345Z\"" },
	/* .999999 -> 0f 42 3f */
	{ "timestamp2(6)", COLT_TIMESTAMP2, .meta = 6,
	  B(0x65, 0x53, 0xf1, 0x00, 0x0f, 0x42, 0x3f),
	  .want = "\"2023-11-14 22:13:20.999999Z\"" },
	{ "timestamp2(3) zero", COLT_TIMESTAMP2, .meta = 3,
	  B(0, 0, 0, 0, 0, 0), .want = "\"0000-00-00 00:00:00.000\"" },
	{ "timestamp2(0) epoch+1", COLT_TIMESTAMP2, .meta = 0,
	  B(0, 0, 0, 1), .want = "\"1970-01-01 00:00:01Z\"" },
	/* 0 seconds but a fraction: not the zero timestamp */
	{ "timestamp2(1) epoch.5", COLT_TIMESTAMP2, .meta = 1,
	  B(0, 0, 0, 0, 50), .want = "\"1970-01-01 00:00:00.5Z\"" },

	/* ---- TIME (old): 3 bytes LE signed, integer HHMMSS ---- */
	/* 123456 = 0x01e240 */
	{ "time", COLT_TIME, B(0x40, 0xe2, 0x01), .want = "\"12:34:56\"" },
	/* 8385959 = 0x7ff5a7 */
	{ "time max", COLT_TIME, B(0xa7, 0xf5, 0x7f),
	  .want = "\"838:59:59\"" },
	/* -8385959 = 2^24 - 8385959 = 0x800a59 */
	{ "time min", COLT_TIME, B(0x59, 0x0a, 0x80),
	  .want = "\"-838:59:59\"" },
	{ "time -1s", COLT_TIME, B(0xff, 0xff, 0xff),
	  .want = "\"-00:00:01\"" },
	{ "time zero", COLT_TIME, B(0, 0, 0), .want = "\"00:00:00\"" },

	/*
	 * ---- TIME2(fsp): 3 bytes BE = 0x800000 + int part of the packed
	 * value (hms = h << 12 | m << 6 | s, packed = hms << 24 + usec,
	 * negated when negative); fsp 1-4: int part is packed >> 24
	 * (floor) and the fraction the truncated remainder in 1 or 2
	 * bytes, two's complement; fsp 5-6: 6 bytes BE 0x800000000000 +
	 * packed.
	 */
	/* 12:34:56: hms 51384 = 0xc8b8 -> 80 c8 b8 */
	{ "time2(0)", COLT_TIME2, .meta = 0, B(0x80, 0xc8, 0xb8),
	  .want = "\"12:34:56\"" },
	/* 838:59:59: hms 3436283 = 0x346efb -> b4 6e fb */
	{ "time2(0) max", COLT_TIME2, .meta = 0, B(0xb4, 0x6e, 0xfb),
	  .want = "\"838:59:59\"" },
	/* -838:59:59: 0x800000 - 3436283 = 0x4b9105 */
	{ "time2(0) min", COLT_TIME2, .meta = 0, B(0x4b, 0x91, 0x05),
	  .want = "\"-838:59:59\"" },
	/* 100:00:00: 100 << 12 = 0x64000 -> 86 40 00 */
	{ "time2(0) 100h", COLT_TIME2, .meta = 0, B(0x86, 0x40, 0x00),
	  .want = "\"100:00:00\"" },
	{ "time2(0) zero", COLT_TIME2, .meta = 0, B(0x80, 0x00, 0x00),
	  .want = "\"00:00:00\"" },
	/* -00:00:00.5: packed -500000, int part -1 -> 7f ff ff, fraction
	   -50 -> ce */
	{ "time2(1) -0.5", COLT_TIME2, .meta = 1, B(0x7f, 0xff, 0xff, 0xce),
	  .want = "\"-00:00:00.5\"" },
	{ "time2(2) -0.50", COLT_TIME2, .meta = 2, B(0x7f, 0xff, 0xff, 0xce),
	  .want = "\"-00:00:00.50\"" },
	/* -00:00:00.01: fraction -1 -> ff */
	{ "time2(2) -0.01", COLT_TIME2, .meta = 2, B(0x7f, 0xff, 0xff, 0xff),
	  .want = "\"-00:00:00.01\"" },
	/* -00:00:01.0: packed -(1 << 24): int part -1, fraction 0 */
	{ "time2(1) -1.0", COLT_TIME2, .meta = 1, B(0x7f, 0xff, 0xff, 0x00),
	  .want = "\"-00:00:01.0\"" },
	/* 00:00:01.001: 80 00 01, 10 = 00 0a */
	{ "time2(3) 1.001", COLT_TIME2, .meta = 3,
	  B(0x80, 0x00, 0x01, 0x00, 0x0a), .want = "\"00:00:01.001\"" },
	/* -00:00:01.001: int part -2 -> 7f ff fe, fraction -10 -> ff f6 */
	{ "time2(3) -1.001", COLT_TIME2, .meta = 3,
	  B(0x7f, 0xff, 0xfe, 0xff, 0xf6), .want = "\"-00:00:01.001\"" },
	/* -12:34:56.789: hms 51384, int part -51385 = 7f 37 47, fraction
	   -7890 = e1 2e */
	{ "time2(3) -12:34:56.789", COLT_TIME2, .meta = 3,
	  B(0x7f, 0x37, 0x47, 0xe1, 0x2e), .want = "\"-12:34:56.789\"" },
	/* -01:02:03.4567: hms 4227, int part -4228 = 7f ef 7c, fraction
	   -4567 = ee 29 */
	{ "time2(4) -01:02:03.4567", COLT_TIME2, .meta = 4,
	  B(0x7f, 0xef, 0x7c, 0xee, 0x29), .want = "\"-01:02:03.4567\"" },
	/* -00:00:00.00001: packed -10 -> 7f ff ff ff ff f6 */
	{ "time2(5) -0.00001", COLT_TIME2, .meta = 5,
	  B(0x7f, 0xff, 0xff, 0xff, 0xff, 0xf6),
	  .want = "\"-00:00:00.00001\"" },
	/* -00:00:00.000001: packed -1 */
	{ "time2(6) -0.000001", COLT_TIME2, .meta = 6,
	  B(0x7f, 0xff, 0xff, 0xff, 0xff, 0xff),
	  .want = "\"-00:00:00.000001\"" },
	/* -838:59:59.000000: 0x800000000000 - 3436283 << 24 */
	{ "time2(6) min", COLT_TIME2, .meta = 6,
	  B(0x4b, 0x91, 0x05, 0x00, 0x00, 0x00),
	  .want = "\"-838:59:59.000000\"" },
	/* 838:59:59.999999: b4 6e fb then 999999 = 0f 42 3f */
	{ "time2(6) max", COLT_TIME2, .meta = 6,
	  B(0xb4, 0x6e, 0xfb, 0x0f, 0x42, 0x3f),
	  .want = "\"838:59:59.999999\"" },

	/* ---- VARCHAR: 1-byte length when meta < 256, else 2 ---- */
	{ "varchar utf8mb4", COLT_VARCHAR, .meta = 40, .charset = 45,
	  B(6, 'h', 0xc3, 0xa9, 'l', 'l', 'o'), .want = "\"h\xc3\xa9llo\"" },
	{ "varchar empty", COLT_VARCHAR, .meta = 40, .charset = 255, B(0),
	  .want = "\"\"" },
	{ "varchar 2-byte length", COLT_VARCHAR, .meta = 300, .charset = 255,
	  B(3, 0, 'a', 'b', 'c'), .want = "\"abc\"" },
	{ "varchar escapes", COLT_VARCHAR, .meta = 40, .charset = 33,
	  B(5, '"', '\\', '\n', 0x01, 0x7f),
	  .want = "\"\\\"\\\\\\n\\u0001\x7f\"" },
	{ "varchar invalid utf8", COLT_VARCHAR, .meta = 40, .charset = 45,
	  B(3, 'a', 0xff, 'b'), .want = "\"a\xef\xbf\xbd" "b\"", .bad = 1 },
	/* truncated 3-byte sequence e2 82 then end */
	{ "varchar truncated utf8", COLT_VARCHAR, .meta = 40, .charset = 45,
	  B(2, 0xe2, 0x82), .want = "\"\xef\xbf\xbd\xef\xbf\xbd\"", .bad = 2 },
	{ "varchar 4-byte utf8", COLT_VARCHAR, .meta = 40, .charset = 255,
	  B(4, 0xf0, 0x9f, 0x98, 0x80), .want = "\"\xf0\x9f\x98\x80\"" },
	{ "varchar charset 0 is utf8", COLT_VARCHAR, .meta = 40,
	  B(2, 0xc3, 0xa9), .want = "\"\xc3\xa9\"" },
	{ "varchar length past end", COLT_VARCHAR, .meta = 40,
	  .charset = 45, B(5, 'a', 'b'), .errsub = "needs 6 bytes, 3 left" },
	/* latin1 is cp1252: 80 = U+20AC, e9 = U+00E9, 81 = U+0081 (C1),
	   9f = U+0178, ff = U+00FF */
	{ "latin1 cp1252", COLT_VARCHAR, .meta = 40, .charset = 8,
	  B(5, 0x80, 0xe9, 0x81, 0x9f, 0xff),
	  .want = "\"\xe2\x82\xac\xc3\xa9\xc2\x81\xc5\xb8\xc3\xbf\"" },
	{ "latin1 bin high C1 holes", COLT_VARCHAR, .meta = 40, .charset = 47,
	  B(5, 0x8d, 0x8f, 0x90, 0x9d, 0x8a),
	  .want = "\"\xc2\x8d\xc2\x8f\xc2\x90\xc2\x9d\xc5\xa0\"" },
	{ "ascii high byte", COLT_VARCHAR, .meta = 40, .charset = 11,
	  B(2, 'A', 0xc0), .want = "\"A\xef\xbf\xbd\"", .bad = 1 },
	/* ucs2 BE: 0041 20ac; a surrogate code unit is invalid in UCS-2 */
	{ "ucs2", COLT_VARCHAR, .meta = 80, .charset = 35,
	  B(4, 0x00, 0x41, 0x20, 0xac), .want = "\"A\xe2\x82\xac\"" },
	{ "ucs2 surrogate", COLT_VARCHAR, .meta = 80, .charset = 90,
	  B(4, 0xd8, 0x3d, 0xde, 0x00),
	  .want = "\"\xef\xbf\xbd\xef\xbf\xbd\"", .bad = 2 },
	{ "ucs2 odd length", COLT_VARCHAR, .meta = 80, .charset = 35,
	  B(3, 0x00, 0x41, 0x00), .want = "\"A\xef\xbf\xbd\"", .bad = 1 },
	{ "ucs2 nul", COLT_VARCHAR, .meta = 80, .charset = 35,
	  B(2, 0x00, 0x00), .want = "\"\\u0000\"" },
	/* utf16 BE: d83d de00 = U+1F600 */
	{ "utf16 pair", COLT_VARCHAR, .meta = 80, .charset = 54,
	  B(6, 0x00, 0x41, 0xd8, 0x3d, 0xde, 0x00),
	  .want = "\"A\xf0\x9f\x98\x80\"" },
	{ "utf16 lone high", COLT_VARCHAR, .meta = 80, .charset = 55,
	  B(4, 0xd8, 0x3d, 0x00, 0x41), .want = "\"\xef\xbf\xbd" "A\"",
	  .bad = 1 },
	{ "utf16 lone low", COLT_VARCHAR, .meta = 80, .charset = 54,
	  B(2, 0xde, 0x00), .want = "\"\xef\xbf\xbd\"", .bad = 1 },
	{ "utf16 high at end", COLT_VARCHAR, .meta = 80, .charset = 54,
	  B(2, 0xd8, 0x3d), .want = "\"\xef\xbf\xbd\"", .bad = 1 },
	{ "utf16le pair", COLT_VARCHAR, .meta = 80, .charset = 56,
	  B(4, 0x3d, 0xd8, 0x00, 0xde), .want = "\"\xf0\x9f\x98\x80\"" },
	/* utf32 BE */
	{ "utf32", COLT_VARCHAR, .meta = 80, .charset = 60,
	  B(8, 0x00, 0x01, 0xf6, 0x00, 0x00, 0x00, 0x00, 0xe9),
	  .want = "\"\xf0\x9f\x98\x80\xc3\xa9\"" },
	{ "utf32 beyond U+10FFFF", COLT_VARCHAR, .meta = 80, .charset = 61,
	  B(4, 0x00, 0x11, 0x00, 0x00), .want = "\"\xef\xbf\xbd\"", .bad = 1 },
	{ "utf32 partial", COLT_VARCHAR, .meta = 80, .charset = 60,
	  B(2, 0x00, 0x00), .want = "\"\xef\xbf\xbd\"", .bad = 1 },
	/* MariaDB nopad and uca1400 ids map to their charsets */
	{ "utf16 uca1400", COLT_VARCHAR, .meta = 80, .charset = 2816,
	  B(2, 0x00, 0xe9), .want = "\"\xc3\xa9\"" },
	{ "latin1 nopad bin", COLT_VARCHAR, .meta = 40, .charset = 1071,
	  B(1, 0x80), .want = "\"\xe2\x82\xac\"" },
	/* iconv charsets: cp1250 8a = U+0160, koi8r c1 = U+0430,
	   sjis 82 a0 = U+3042, gbk c4 e3 = U+4F60 */
	{ "cp1250", COLT_VARCHAR, .meta = 40, .charset = 26,
	  B(2, 0x8a, 'x'), .want = "\"\xc5\xa0x\"" },
	{ "koi8r", COLT_VARCHAR, .meta = 40, .charset = 7, B(1, 0xc1),
	  .want = "\"\xd0\xb0\"" },
	{ "sjis", COLT_VARCHAR, .meta = 40, .charset = 13,
	  B(3, 0x82, 0xa0, '"'), .want = "\"\xe3\x81\x82\\\"\"" },
	{ "sjis truncated", COLT_VARCHAR, .meta = 40, .charset = 13,
	  B(2, 'a', 0x82), .want = "\"a\xef\xbf\xbd\"", .bad = 1 },
	{ "gbk", COLT_VARCHAR, .meta = 40, .charset = 28,
	  B(2, 0xc4, 0xe3), .want = "\"\xe4\xbd\xa0\"" },
	{ "keybcs2 no converter", COLT_VARCHAR, .meta = 40, .charset = 37,
	  B(2, 'a', 0x80), .want = "\"a\xef\xbf\xbd\"", .bad = 1 },
	{ "varbinary base64", COLT_VARCHAR, .meta = 40, .charset = 63,
	  B(3, 0x00, 0x01, 0xff), .want = "\"AAH/\"" },

	/*
	 * ---- CHAR: meta = byte0 << 8 | byte1, byte0 = real type with
	 * bits 4-5 xored by bits 8-9 of the max length, byte1 = its low
	 * byte.  CHAR(10) utf8mb4: fe 28 (40 bytes).  CHAR(255) utf8mb4:
	 * 1020 = 0x3fc -> byte0 fe ^ 30 = ce, byte1 fc: 2-byte length.
	 */
	{ "char", COLT_STRING, .meta = 0xfe28, .charset = 255,
	  B(2, 'h', 'i'), .want = "\"hi\"" },
	{ "char 2-byte length", COLT_STRING, .meta = 0xcefc, .charset = 255,
	  B(3, 0, 'x', 'y', 'z'), .want = "\"xyz\"" },
	/* BINARY(4) 'ab\0\0': the server strips the trailing zeros */
	{ "binary re-padded", COLT_STRING, .meta = 0xfe04, .charset = 63,
	  B(2, 'a', 'b'), .want = "\"YWIAAA==\"" },
	{ "char latin1", COLT_STRING, .meta = 0xfe0a, .charset = 8,
	  B(1, 0xe9), .want = "\"\xc3\xa9\"" },

	/* ---- ENUM / SET (as STRING with byte0 f7 / f8) ---- */
	{ "enum b", COLT_STRING, COLT_ENUM, .meta = 0xf701, .members = M_ABC,
	  B(2), .want = "\"b\"" },
	{ "enum 0 is empty", COLT_STRING, COLT_ENUM, .meta = 0xf701,
	  .members = M_ABC, B(0), .want = "\"\"" },
	{ "enum 2 bytes", COLT_STRING, COLT_ENUM, .meta = 0xf702,
	  .members = M_ABC, B(3, 0), .want = "\"c\"" },
	{ "enum out of range", COLT_STRING, COLT_ENUM, .meta = 0xf701,
	  .members = M_ABC, B(4), .errsub = "index" },
	{ "enum no members", COLT_STRING, COLT_ENUM, .meta = 0xf701, B(2),
	  .want = "2" },
	{ "enum escaped member", COLT_STRING, COLT_ENUM, .meta = 0xf701,
	  .members = M_ODD, B(1), .want = "\"x\\\"y\"" },
	{ "enum by meta only", COLT_STRING, .meta = 0xf701, .members = M_ABC,
	  B(1), .want = "\"a\"" },
	{ "set a,c", COLT_STRING, COLT_SET, .meta = 0xf801, .members = M_ABC,
	  B(0x05), .want = "\"a,c\"" },
	{ "set all", COLT_STRING, COLT_SET, .meta = 0xf801, .members = M_ABC,
	  B(0x07), .want = "\"a,b,c\"" },
	{ "set empty", COLT_STRING, COLT_SET, .meta = 0xf801,
	  .members = M_ABC, B(0x00), .want = "\"\"" },
	{ "set utf8 members", COLT_STRING, COLT_SET, .meta = 0xf801,
	  .members = M_ODD, B(0x03), .want = "\"x\\\"y,\xc3\xa9t\xc3\xa9\"" },
	{ "set bit beyond members", COLT_STRING, COLT_SET, .meta = 0xf801,
	  .members = M_ABC, B(0x08), .errsub = "SET" },
	{ "set no members", COLT_STRING, COLT_SET, .meta = 0xf801, B(0x05),
	  .want = "5" },
	{ "set 8 bytes no members", COLT_STRING, COLT_SET, .meta = 0xf808,
	  B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	  .want = "18446744073709551615" },
	{ "enum type itself", COLT_ENUM, .meta = 0x0001, .members = M_ABC,
	  B(3), .want = "\"c\"" },
	{ "set bad size", COLT_STRING, COLT_SET, .meta = 0xf809,
	  B(0, 0, 0, 0, 0, 0, 0, 0, 0), .errsub = "storage" },

	/* ---- BIT: meta = (bits % 8) << 8 | bits / 8, BE bytes ---- */
	{ "bit(1)", COLT_BIT, .meta = 0x0100, B(0x01), .want = "1" },
	{ "bit(10)", COLT_BIT, .meta = 0x0201, B(0x03, 0xff), .want = "1023" },
	{ "bit(64)", COLT_BIT, .meta = 0x0008,
	  B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	  .want = "18446744073709551615" },
	{ "bit(16) BE", COLT_BIT, .meta = 0x0002, B(0x01, 0x02),
	  .want = "258" },
	{ "bit bad meta", COLT_BIT, .meta = 0x0009, B(0, 0, 0, 0, 0, 0, 0, 0, 0),
	  .errsub = "BIT" },

	/* ---- BLOB / TEXT: meta = length bytes (LE) ---- */
	{ "text", COLT_BLOB, .meta = 2, .charset = 255,
	  B(5, 0, 'h', 'e', 'l', 'l', 'o'), .want = "\"hello\"" },
	{ "tinytext latin1", COLT_BLOB, .meta = 1, .charset = 8,
	  B(4, 'c', 'a', 'f', 0xe9), .want = "\"caf\xc3\xa9\"" },
	{ "mediumtext", COLT_BLOB, .meta = 3, .charset = 45,
	  B(1, 0, 0, 'x'), .want = "\"x\"" },
	{ "longtext", COLT_BLOB, .meta = 4, .charset = 45,
	  B(1, 0, 0, 0, 'x'), .want = "\"x\"" },
	{ "blob", COLT_BLOB, .meta = 2, .charset = 63, B(3, 0, 1, 2, 3),
	  .want = "\"AQID\"" },
	{ "blob charset unknown", COLT_BLOB, .meta = 2, B(3, 0, 1, 2, 3),
	  .want = "\"AQID\"" },
	{ "longblob empty", COLT_BLOB, .meta = 4, .charset = 63,
	  B(0, 0, 0, 0), .want = "\"\"" },
	{ "blob bad meta", COLT_BLOB, .meta = 5, B(0, 0, 0, 0, 0),
	  .errsub = "length size" },

	/* ---- JSON column: length then MySQL binary JSON ---- */
	{ "json empty is null", COLT_JSON, .meta = 4, B(0, 0, 0, 0),
	  .want = "null" },
	{ "json literal true", COLT_JSON, .meta = 4, B(2, 0, 0, 0, 0x04, 0x01),
	  .want = "true" },
	/* [1,"ab"]: count 2, size 13, entries 05 0100, 0c 0a00, "ab" at 10 */
	{ "json array", COLT_JSON, .meta = 4,
	  B(14, 0, 0, 0, 0x02, 0x02, 0x00, 0x0d, 0x00, 0x05, 0x01, 0x00,
	    0x0c, 0x0a, 0x00, 0x02, 'a', 'b'),
	  .want = "[1,\"ab\"]" },
	{ "json bad", COLT_JSON, .meta = 4, B(2, 0, 0, 0, 0x04, 0x07),
	  .errsub = "JSON" },

	/* ---- GEOMETRY: SRID 0 + WKB POINT(1 2), base64 ---- */
	{ "geometry point", COLT_GEOMETRY, .meta = 4,
	  B(25, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x01, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40),
	  .want = "\"AAAAAAEBAAAAAAAAAAAA8D8AAAAAAAAAQA==\"" },

	/* ---- VECTOR: float32 LE each ---- */
	{ "vector", COLT_VECTOR, .meta = 4,
	  B(8, 0, 0, 0, 0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0),
	  .want = "[1.5,-2]" },
	{ "vector empty", COLT_VECTOR, .meta = 4, B(0, 0, 0, 0),
	  .want = "[]" },
	{ "vector ragged", COLT_VECTOR, .meta = 4, B(3, 0, 0, 0, 1, 2, 3),
	  .errsub = "VECTOR" },

	/* ---- unsupported types name the number ---- */
	{ "typed array", COLT_TYPED_ARRAY, B(0, 0, 0, 0),
	  .errsub = "type 20" },
	{ "null type", COLT_NULL, B(0), .errsub = "type 6" },
	{ "old decimal", COLT_DECIMAL, B(0), .errsub = "type 0" },
	{ "type 200", 200, B(0), .errsub = "type 200" },
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static void make_col(const struct vcase *c, struct dec_column *col)
{
	memset(col, 0, sizeof(*col));
	col->type = c->type;
	col->real_type = c->real_type ? c->real_type : c->type;
	col->meta = c->meta;
	col->is_unsigned = c->uns;
	col->charset = c->charset;
	col->name = "c";
	col->name_len = 1;
	if (c->members == M_ABC) {
		col->members = abc;
		col->member_lens = abc_lens;
		col->n_members = 3;
	} else if (c->members == M_ODD) {
		col->members = odd;
		col->member_lens = odd_lens;
		col->n_members = 2;
	}
}

/* Decode from a heap copy of exactly n bytes, so overreads are caught. */
static bool run(const struct dec_column *col, const uint8_t *in, size_t n,
		size_t *used, struct rc_buf *out, struct dec_value_stats *st,
		char *err, size_t errlen)
{
	uint8_t *copy = malloc(n ? n : 1);
	bool ok;

	assert_non_null(copy);
	if (n)
		memcpy(copy, in, n);
	ok = value_decode(col, copy, n, used, out, st, err, errlen);
	free(copy);
	return ok;
}

static void test_table(void **state)
{
	struct rc_buf out = { 0 };
	unsigned failures = 0;

	(void)state;
	for (size_t i = 0; i < N_CASES; i++) {
		const struct vcase *c = &cases[i];
		struct dec_column col;
		struct dec_value_stats st = { 0 };
		char err[160] = "";
		size_t used = 12345;
		bool ok;

		make_col(c, &col);
		buf_reset(&out);
		buf_puts(&out, "<");
		ok = run(&col, c->in, c->n, &used, &out, &st, err, sizeof(err));
		if (c->want) {
			size_t want_used = c->used ? c->used : c->n;

			if (!ok || strcmp(out.data + 1, c->want) != 0 ||
			    used != want_used || st.bad_chars != c->bad) {
				print_error("FAIL %s: ok=%d out=[%s] want=[%s] used=%zu/%zu bad=%u/%u err=%s\n",
					    c->name, ok, out.data + 1, c->want,
					    used, want_used, st.bad_chars,
					    c->bad, err);
				failures++;
			}
		} else {
			if (ok || out.len != 1 || strcmp(out.data, "<") != 0 ||
			    err[0] == '\0' ||
			    (c->errsub && !strstr(err, c->errsub))) {
				print_error("FAIL %s: should fail with '%s': ok=%d out=[%s] err=%s\n",
					    c->name, c->errsub ? c->errsub : "",
					    ok, out.data, err);
				failures++;
			}
		}
	}
	buf_free(&out);
	assert_int_equal(failures, 0);
}

/* Every strict prefix of every good case must fail cleanly. */
static void test_truncated(void **state)
{
	struct rc_buf out = { 0 };
	unsigned failures = 0, tried = 0;

	(void)state;
	for (size_t i = 0; i < N_CASES; i++) {
		const struct vcase *c = &cases[i];
		size_t full = c->used ? c->used : c->n;
		struct dec_column col;

		if (c->want == NULL)
			continue;
		make_col(c, &col);
		for (size_t k = 0; k < full; k++) {
			char err[160] = "";
			size_t used = 0;
			bool ok;

			buf_reset(&out);
			buf_puts(&out, "<");
			ok = run(&col, c->in, k, &used, &out, NULL, err,
				 sizeof(err));
			tried++;
			if (ok || out.len != 1 || err[0] == '\0') {
				print_error("FAIL %s truncated to %zu: ok=%d out=[%s]\n",
					    c->name, k, ok, out.data);
				failures++;
			}
		}
	}
	buf_free(&out);
	assert_true(tried > 500);
	assert_int_equal(failures, 0);
}

/* Exact error text for a short temporal value. */
static void test_error_text(void **state)
{
	struct dec_column col = { .type = COLT_DATETIME2, .real_type = COLT_DATETIME2,
				  .meta = 6, .name = "c", .name_len = 1 };
	static const uint8_t in[3] = { 0x99, 0x95, 0x1f };
	struct rc_buf out = { 0 };
	char err[100];
	size_t used;

	(void)state;
	assert_false(value_decode(&col, in, 3, &used, &out, NULL, err,
				  sizeof(err)));
	assert_string_equal(err, "DATETIME2(6): needs 8 bytes, 3 left");
	/* a tiny err buffer is truncated, not overrun */
	assert_false(value_decode(&col, in, 3, &used, &out, NULL, err, 5));
	assert_string_equal(err, "DATE");
	/* no err buffer at all */
	assert_false(value_decode(&col, in, 3, &used, &out, NULL, NULL, 0));
	buf_free(&out);
}

/* Long values: 2-byte VARCHAR lengths, MEDIUMBLOB, iconv chunking. */
static void test_long_values(void **state)
{
	struct dec_column col = { .type = COLT_VARCHAR, .real_type = COLT_VARCHAR,
				  .meta = 1000, .charset = 45, .name = "c",
				  .name_len = 1 };
	struct dec_value_stats st = { 0 };
	struct rc_buf out = { 0 };
	size_t n = 70000, used;
	uint8_t *in = malloc(n + 3);
	char err[100];

	(void)state;
	assert_non_null(in);
	/* VARCHAR(1000) of 600 'a': length 600 = 58 02 */
	in[0] = 600 & 0xff;
	in[1] = 600 >> 8;
	memset(in + 2, 'a', 600);
	assert_true(value_decode(&col, in, 602, &used, &out, &st, err,
				 sizeof(err)));
	assert_int_equal(used, 602);
	assert_int_equal(out.len, 602);
	assert_int_equal(out.data[0], '"');
	assert_int_equal(out.data[601], '"');
	for (size_t i = 1; i < 601; i++)
		assert_int_equal(out.data[i], 'a');

	/* MEDIUMBLOB of 70000 bytes of 0xff: base64 "////..." */
	col.type = col.real_type = COLT_BLOB;
	col.meta = 3;
	col.charset = 63;
	in[0] = n & 0xff;
	in[1] = (n >> 8) & 0xff;
	in[2] = (uint8_t)(n >> 16);
	memset(in + 3, 0xff, n);
	buf_reset(&out);
	assert_true(value_decode(&col, in, n + 3, &used, &out, &st, err,
				 sizeof(err)));
	assert_int_equal(used, n + 3);
	assert_int_equal(out.len, 2 + (n + 2) / 3 * 4);
	assert_memory_equal(out.data, "\"////", 5);

	/* MEDIUMTEXT cp1250 of 70000 bytes of 0x8a: many iconv chunks */
	col.charset = 26;
	memset(in + 3, 0x8a, n);
	buf_reset(&out);
	assert_true(value_decode(&col, in, n + 3, &used, &out, &st, err,
				 sizeof(err)));
	assert_int_equal(out.len, 2 + 2 * n);
	for (size_t i = 1; i + 1 < out.len; i += 2)
		assert_memory_equal(out.data + i, "\xc5\xa0", 2);
	assert_int_equal(st.bad_chars, 0);

	/* ... and latin1 */
	col.charset = 8;
	memset(in + 3, 0x80, n);
	buf_reset(&out);
	assert_true(value_decode(&col, in, n + 3, &used, &out, &st, err,
				 sizeof(err)));
	assert_int_equal(out.len, 2 + 3 * n);
	free(in);
	buf_free(&out);
	charset_release();
}

/* Collation table spot checks. */
static void test_charset_names(void **state)
{
	static const struct { uint32_t id; const char *name; } t[] = {
		{ 8, "latin1" }, { 47, "latin1" }, { 33, "utf8mb3" },
		{ 83, "utf8mb3" }, { 45, "utf8mb4" }, { 46, "utf8mb4" },
		{ 255, "utf8mb4" }, { 309, "utf8mb4" }, { 323, "utf8mb4" },
		{ 224, "utf8mb4" }, { 192, "utf8mb3" }, { 63, "binary" },
		{ 35, "ucs2" }, { 54, "utf16" }, { 56, "utf16le" },
		{ 60, "utf32" }, { 11, "ascii" }, { 119, "utf16" },
		{ 248, "gb18030" }, { 1069, "utf8mb4" }, { 1033, "latin2" },
		{ 2048, "utf8mb3" }, { 2304, "utf8mb4" }, { 2560, "ucs2" },
		{ 2816, "utf16" }, { 3072, "utf32" }, { 28, "gbk" },
		{ 95, "cp932" }, { 576, "utf8mb3" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *n = charset_name(t[i].id);

		if (n == NULL || strcmp(n, t[i].name) != 0)
			fail_msg("collation %u: %s, want %s", t[i].id,
				 n ? n : "NULL", t[i].name);
	}
	assert_null(charset_name(0));
	assert_null(charset_name(100));
	assert_null(charset_name(5000));
	assert_true(charset_is_binary(63));
	assert_false(charset_is_binary(45));
}

static void test_to_utf8_raw(void **state)
{
	struct rc_buf out = { 0 };
	unsigned bad = 0;

	(void)state;
	charset_to_utf8(8, (const uint8_t *)"\x80\"", 2, &out, &bad);
	assert_string_equal(out.data, "\xe2\x82\xac\"");
	buf_reset(&out);
	charset_to_utf8(45, (const uint8_t *)"a\xffq", 3, &out, &bad);
	assert_string_equal(out.data, "a\xef\xbf\xbdq");
	assert_int_equal(bad, 1);
	buf_reset(&out);
	charset_to_utf8(28, (const uint8_t *)"\xc4\xe3", 2, &out, &bad);
	assert_string_equal(out.data, "\xe4\xbd\xa0");
	buf_free(&out);
	charset_release();
}

/*
 * buf_put_double() and buf_put_float() directly, on the paths of the
 * shortest-digit code: carries, ties, 15/16/17 (6..9) digits, the
 * exponent-form boundaries, midpoints, integers, subnormals.  The texts
 * come from the printf-based implementation it replaced.
 */
static const struct {
	uint64_t bits;
	const char *want;
} double_texts[] = {
	/* 1e23 is a midpoint: even mantissa */
	{ 0x44b52d02c7e14af6, "1e+23" },
	/* next above 1e23 */
	{ 0x44b52d02c7e14af7, "1.0000000000000001e+23" },
	/* 9.258e21: on a midpoint too */
	{ 0x447f5e08f3d03866, "9.258e+21" },
	/* below 1: 16 nines */
	{ 0x3fefffffffffffff, "0.9999999999999999" },
	/* 1e-6 is below 10^-6: carries at 15 digits */
	{ 0x3eb0c6f7a0b5ed8d, "1e-06" },
	/* 1e-7 likewise */
	{ 0x3e7ad7f29abcaf48, "1e-07" },
	/* carries to 1e-4 at 15 digits, which fails */
	{ 0x3f1a36e2eb1c432c, "9.999999999999999e-05" },
	/* carries to 1e+16 at 15 digits, which fails */
	{ 0x4341c37937e07fff, "9999999999999998" },
	/* tie at 15 digits: 123456789012345.5 */
	{ 0x42dc12218377de60, "123456789012345.5" },
	/* tie at 16 digits */
	{ 0x4320000000000003, "2251799813685249.5" },
	/* tie at 15 digits, even integer */
	{ 0x4345ee2a2eb5a5bb, "1.234567890123455e+16" },
	/* 0.1: 15 digits */
	{ 0x3fb999999999999a, "0.1" },
	/* 2/3: 16 digits */
	{ 0x3fe5555555555555, "0.6666666666666666" },
	/* 0.1 + 0.2: 17 digits */
	{ 0x3fd3333333333334, "0.30000000000000004" },
	/* a short decimal */
	{ 0xc05edccccccccccd, "-123.45" },
	/* 1e-5: exponent form */
	{ 0x3ee4f8b588e368f1, "1e-05" },
	/* 1.2345e-5 */
	{ 0x3ee9e3abe16fc70d, "1.2345e-05" },
	/* 1e-4: fixed */
	{ 0x3f1a36e2eb1c432d, "0.0001" },
	/* X = -4: fixed, 17 digits */
	{ 0x3f202e85be180b74, "0.00012345678901234567" },
	/* 1e15: X = 15 = P, exponent form */
	{ 0x430c6bf526340000, "1e+15" },
	/* X = 14 < P = 15: fixed */
	{ 0x430c6bf52633fff8, "999999999999999" },
	/* 1e16 */
	{ 0x4341c37937e08000, "1e+16" },
	/* 16 digits, X = 15: fixed */
	{ 0x43118b54f22aeb00, "1234567890123456" },
	/* 12345678901234568: fixed at 17 */
	{ 0x4345ee2a2eb5a5c4, "12345678901234568" },
	/* 1e17 */
	{ 0x4376345785d8a000, "1e+17" },
	/* 17 digits, X = 17: exponent form */
	{ 0x437b69b4ba630f35, "1.2345678901234568e+17" },
	/* 2^60: integer path */
	{ 0x43b0000000000000, "1.152921504606847e+18" },
	/* largest below 2^64 */
	{ 0x43efffffffffffff, "1.844674407370955e+19" },
	/* 2^64: scaled again */
	{ 0x43f0000000000000, "1.8446744073709552e+19" },
	/* 2^-1022 = DBL_MIN */
	{ 0x0010000000000000, "2.2250738585072014e-308" },
	/* above DBL_MIN */
	{ 0x0010000000000001, "2.225073858507202e-308" },
	/* largest subnormal */
	{ 0x000fffffffffffff, "2.225073858507201e-308" },
	/* -DBL_MAX */
	{ 0xffefffffffffffff, "-1.7976931348623157e+308" },
	/* 2^-30: long exact expansion */
	{ 0x3e10000000000000, "9.313225746154785e-10" },
	/* power of two below 1e-5: closer lower neighbour */
	{ 0x3ee0000000000000, "7.62939453125e-06" },
	/* 1e-300: far end of the table */
	{ 0x01a56e1fc2f8f359, "1e-300" },
	/* 6.02214076e23: scaled, q < 0 */
	{ 0x44dfe185ca57c517, "6.02214076e+23" },
	/* -0 */
	{ 0x8000000000000000, "-0" },
	/* 1.852051828816e19 is a midpoint, this mantissa is even: taken */
	{ 0x43f01061941d5e70, "1.852051828816e+19" },
	/* ... and odd: strtod goes the other way */
	{ 0x43f01061941d5e71, "1.8520518288160002e+19" },
	/* integers below 2^64 on a midpoint at 16 digits: even, odd */
	{ 0x43672138fcde922e, "5.208362486940094e+16" },
	{ 0x435775b8bd28900b, "26413443089317932" },
};

static const struct {
	uint32_t bits;
	const char *want;
} float_texts[] = {
	/* 0.3f */
	{ 0x3e99999a, "0.3" },
	/* 1/3f: 9 digits */
	{ 0x3eaaaaab, "0.33333334" },
	/* 2/3f */
	{ 0x3f2aaaab, "0.6666667" },
	/* 123456.789f */
	{ 0x47f12065, "123456.79" },
	/* 1e10f */
	{ 0x501502f9, "1e+10" },
	/* 16777215 */
	{ 0x4b7fffff, "16777215" },
	/* 2^33: integer path */
	{ 0x50000000, "8.589935e+09" },
	/* FLT_MIN */
	{ 0x00800000, "1.1754944e-38" },
	/* 1e-5f */
	{ 0x3727c5ac, "1e-05" },
	/* 1e-4f */
	{ 0x38d1b717, "0.0001" },
	/* 1234567f: 7 digits */
	{ 0x4996b438, "1234567" },
	/* 12345678f: 8 digits */
	{ 0x4b3c614e, "12345678" },
	/* 3.14159274f */
	{ 0x40490fdb, "3.1415927" },
	/* float below 1 */
	{ 0x3f7fffff, "0.99999994" },
	/* -1e38f */
	{ 0xfe967699, "-1e+38" },
	/* 7e22f: above 2^64 */
	{ 0x656d2b52, "7e+22" },
	/* tie at 6 digits */
	{ 0x4996b428, "1234565" },
	/* tie at 7 digits */
	{ 0x4affffff, "8388607.5" },
	/* 1e-6f below 10^-6 */
	{ 0x358637bd, "1e-06" },
	/* float integers on a midpoint at 7 digits: even, odd */
	{ 0x4c0f76a2, "3.760807e+07" },
	{ 0x4c2ef91d, "45868148" },
	/* 2^25: the float below is closer, 3.355443e+07 is too far */
	{ 0x4c000000, "33554432" },
	/* float 2^-127 subnormal */
	{ 0x00400000, "5.877472e-39" },
};

static void test_float_texts(void **state)
{
	struct rc_buf out = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(double_texts) / sizeof(double_texts[0]);
	     i++) {
		double d;

		memcpy(&d, &double_texts[i].bits, sizeof(d));
		buf_reset(&out);
		buf_put_double(&out, d);
		if (strcmp(out.data, double_texts[i].want) != 0)
			fail_msg("double %016" PRIx64 ": [%s], want [%s]",
				 double_texts[i].bits, out.data,
				 double_texts[i].want);
	}
	for (size_t i = 0; i < sizeof(float_texts) / sizeof(float_texts[0]);
	     i++) {
		float f;

		memcpy(&f, &float_texts[i].bits, sizeof(f));
		buf_reset(&out);
		buf_put_float(&out, f);
		if (strcmp(out.data, float_texts[i].want) != 0)
			fail_msg("float %08" PRIx32 ": [%s], want [%s]",
				 float_texts[i].bits, out.data,
				 float_texts[i].want);
	}
	buf_free(&out);
}

/* Random bytes for every column of the table: no crash, no overread. */
static void test_garbage(void **state)
{
	struct rc_buf out = { 0 };
	uint32_t seed = 12345;
	uint8_t buf[64];

	(void)state;
	for (size_t i = 0; i < N_CASES; i++) {
		struct dec_column col;

		make_col(&cases[i], &col);
		for (int it = 0; it < 300; it++) {
			size_t n, used;
			char err[120];

			for (size_t k = 0; k < sizeof(buf); k++) {
				seed = seed * 1103515245u + 12345u;
				buf[k] = (uint8_t)(seed >> 16);
			}
			if (it % 3 == 0)
				buf[0] &= 0x0f;	/* short length prefixes */
			n = (seed >> 8) % sizeof(buf);
			buf_reset(&out);
			if (run(&col, buf, n, &used, &out, NULL, err,
				sizeof(err)))
				assert_true(used <= n);
			else
				assert_int_equal(out.len, 0);
		}
	}
	buf_free(&out);
	charset_release();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_error_text),
		cmocka_unit_test(test_long_values),
		cmocka_unit_test(test_charset_names),
		cmocka_unit_test(test_to_utf8_raw),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_float_texts),
	};

	printf("value cases: %zu\n", N_CASES);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
