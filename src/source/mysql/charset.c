/* SPDX-License-Identifier: MIT */
/*
 * Collation id -> charset table for MySQL 8 and MariaDB 10.11 / 11.x, and
 * the decoders that turn column text into UTF-8 (see charset.h).  Decodes
 * code point by code point straight into the caller's buffer, with no
 * allocation; iconv descriptors are opened once per thread and charset.
 * Does no collation (sorting, comparing) and no conversion out of UTF-8.
 */
#include "source/mysql/charset.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>

enum cs_kind {
	K_UTF8 = 0,	/* utf8mb4, utf8mb3, unknown: validated UTF-8 */
	K_LATIN1,	/* MySQL latin1 = cp1252 with the 5 holes as C1 */
	K_ASCII,
	K_UCS2,		/* big-endian, no surrogates */
	K_UTF16,	/* big-endian */
	K_UTF16LE,
	K_UTF32,	/* big-endian */
	K_BINARY,
	K_ICONV,	/* through glibc iconv by name */
	K_NONE,		/* no converter: ASCII kept, the rest U+FFFD */
};

enum cs_id {
	CS_UNKNOWN = 0,
	CS_UTF8MB4, CS_UTF8MB3, CS_LATIN1, CS_ASCII, CS_UCS2, CS_UTF16,
	CS_UTF16LE, CS_UTF32, CS_BINARY, CS_FILENAME,
	CS_BIG5, CS_LATIN2, CS_DEC8, CS_CP850, CS_HP8, CS_KOI8R, CS_SWE7,
	CS_UJIS, CS_SJIS, CS_CP1251, CS_HEBREW, CS_TIS620, CS_EUCKR,
	CS_LATIN7, CS_KOI8U, CS_GB2312, CS_GREEK, CS_CP1250, CS_GBK,
	CS_CP1257, CS_LATIN5, CS_ARMSCII8, CS_CP866, CS_KEYBCS2, CS_MACCE,
	CS_MACROMAN, CS_CP852, CS_CP1256, CS_GEOSTD8, CS_CP932, CS_EUCJPMS,
	CS_GB18030,
	CS_COUNT
};

static const struct cs_info {
	const char *name;	/* MySQL's name */
	uint8_t kind;		/* enum cs_kind */
	const char *iconv;	/* glibc iconv name for K_ICONV */
} cs_info[CS_COUNT] = {
	[CS_UNKNOWN] = { NULL, K_UTF8, NULL },
	[CS_UTF8MB4] = { "utf8mb4", K_UTF8, NULL },
	[CS_UTF8MB3] = { "utf8mb3", K_UTF8, NULL },
	[CS_LATIN1] = { "latin1", K_LATIN1, NULL },
	[CS_ASCII] = { "ascii", K_ASCII, NULL },
	[CS_UCS2] = { "ucs2", K_UCS2, NULL },
	[CS_UTF16] = { "utf16", K_UTF16, NULL },
	[CS_UTF16LE] = { "utf16le", K_UTF16LE, NULL },
	[CS_UTF32] = { "utf32", K_UTF32, NULL },
	[CS_BINARY] = { "binary", K_BINARY, NULL },
	[CS_FILENAME] = { "filename", K_UTF8, NULL },
	[CS_BIG5] = { "big5", K_ICONV, "BIG5" },
	[CS_LATIN2] = { "latin2", K_ICONV, "ISO-8859-2" },
	[CS_DEC8] = { "dec8", K_ICONV, "DEC-MCS" },
	[CS_CP850] = { "cp850", K_ICONV, "CP850" },
	[CS_HP8] = { "hp8", K_ICONV, "HP-ROMAN8" },
	[CS_KOI8R] = { "koi8r", K_ICONV, "KOI8-R" },
	[CS_SWE7] = { "swe7", K_ICONV, "ISO646-SE" },
	[CS_UJIS] = { "ujis", K_ICONV, "EUC-JP" },
	[CS_SJIS] = { "sjis", K_ICONV, "SHIFT_JIS" },
	[CS_CP1251] = { "cp1251", K_ICONV, "CP1251" },
	[CS_HEBREW] = { "hebrew", K_ICONV, "ISO-8859-8" },
	[CS_TIS620] = { "tis620", K_ICONV, "TIS-620" },
	[CS_EUCKR] = { "euckr", K_ICONV, "EUC-KR" },
	[CS_LATIN7] = { "latin7", K_ICONV, "ISO-8859-13" },
	[CS_KOI8U] = { "koi8u", K_ICONV, "KOI8-U" },
	[CS_GB2312] = { "gb2312", K_ICONV, "EUC-CN" },
	[CS_GREEK] = { "greek", K_ICONV, "ISO-8859-7" },
	[CS_CP1250] = { "cp1250", K_ICONV, "CP1250" },
	[CS_GBK] = { "gbk", K_ICONV, "GBK" },
	[CS_CP1257] = { "cp1257", K_ICONV, "CP1257" },
	[CS_LATIN5] = { "latin5", K_ICONV, "ISO-8859-9" },
	[CS_ARMSCII8] = { "armscii8", K_ICONV, "ARMSCII-8" },
	[CS_CP866] = { "cp866", K_ICONV, "CP866" },
	[CS_KEYBCS2] = { "keybcs2", K_NONE, NULL },
	[CS_MACCE] = { "macce", K_ICONV, "MAC-CENTRALEUROPE" },
	[CS_MACROMAN] = { "macroman", K_ICONV, "MACINTOSH" },
	[CS_CP852] = { "cp852", K_ICONV, "CP852" },
	[CS_CP1256] = { "cp1256", K_ICONV, "CP1256" },
	[CS_GEOSTD8] = { "geostd8", K_NONE, NULL },
	[CS_CP932] = { "cp932", K_ICONV, "CP932" },
	[CS_EUCJPMS] = { "eucjpms", K_ICONV, "EUC-JP-MS" },
	[CS_GB18030] = { "gb18030", K_ICONV, "GB18030" },
};

/* Collation ids 1..99: the classic ones, the same in MySQL and MariaDB. */
static const uint8_t cs_low[100] = {
	[1] = CS_BIG5, [84] = CS_BIG5,
	[2] = CS_LATIN2, [9] = CS_LATIN2, [21] = CS_LATIN2, [27] = CS_LATIN2,
	[77] = CS_LATIN2,
	[3] = CS_DEC8, [69] = CS_DEC8,
	[4] = CS_CP850, [80] = CS_CP850,
	[5] = CS_LATIN1, [8] = CS_LATIN1, [15] = CS_LATIN1, [31] = CS_LATIN1,
	[47] = CS_LATIN1, [48] = CS_LATIN1, [49] = CS_LATIN1,
	[94] = CS_LATIN1,
	[6] = CS_HP8, [72] = CS_HP8,
	[7] = CS_KOI8R, [74] = CS_KOI8R,
	[10] = CS_SWE7, [82] = CS_SWE7,
	[11] = CS_ASCII, [65] = CS_ASCII,
	[12] = CS_UJIS, [91] = CS_UJIS,
	[13] = CS_SJIS, [88] = CS_SJIS,
	[14] = CS_CP1251, [23] = CS_CP1251, [50] = CS_CP1251,
	[51] = CS_CP1251, [52] = CS_CP1251,
	[16] = CS_HEBREW, [71] = CS_HEBREW,
	[17] = CS_FILENAME,
	[18] = CS_TIS620, [89] = CS_TIS620,
	[19] = CS_EUCKR, [85] = CS_EUCKR,
	[20] = CS_LATIN7, [41] = CS_LATIN7, [42] = CS_LATIN7, [79] = CS_LATIN7,
	[22] = CS_KOI8U, [75] = CS_KOI8U,
	[24] = CS_GB2312, [86] = CS_GB2312,
	[25] = CS_GREEK, [70] = CS_GREEK,
	[26] = CS_CP1250, [34] = CS_CP1250, [44] = CS_CP1250, [66] = CS_CP1250,
	[99] = CS_CP1250,
	[28] = CS_GBK, [87] = CS_GBK,
	[29] = CS_CP1257, [58] = CS_CP1257, [59] = CS_CP1257,
	[30] = CS_LATIN5, [78] = CS_LATIN5,
	[32] = CS_ARMSCII8, [64] = CS_ARMSCII8,
	[33] = CS_UTF8MB3, [76] = CS_UTF8MB3, [83] = CS_UTF8MB3,
	[35] = CS_UCS2, [90] = CS_UCS2,
	[36] = CS_CP866, [68] = CS_CP866,
	[37] = CS_KEYBCS2, [73] = CS_KEYBCS2,
	[38] = CS_MACCE, [43] = CS_MACCE,
	[39] = CS_MACROMAN, [53] = CS_MACROMAN,
	[40] = CS_CP852, [81] = CS_CP852,
	[45] = CS_UTF8MB4, [46] = CS_UTF8MB4,
	[54] = CS_UTF16, [55] = CS_UTF16,
	[56] = CS_UTF16LE, [62] = CS_UTF16LE,
	[57] = CS_CP1256, [67] = CS_CP1256,
	[60] = CS_UTF32, [61] = CS_UTF32,
	[63] = CS_BINARY,
	[92] = CS_GEOSTD8, [93] = CS_GEOSTD8,
	[95] = CS_CP932, [96] = CS_CP932,
	[97] = CS_EUCJPMS, [98] = CS_EUCJPMS,
};

/* Ids 100 and up that are not computed: Unicode collations, sorted. */
static const struct cs_range {
	uint16_t lo, hi;
	uint8_t cs;
} cs_ranges[] = {
	{ 101, 124, CS_UTF16 },		/* utf16_unicode_ci .. vietnamese */
	{ 128, 151, CS_UCS2 },
	{ 159, 159, CS_UCS2 },		/* unicode_520 / general_mysql500 */
	{ 160, 183, CS_UTF32 },
	{ 192, 215, CS_UTF8MB3 },
	{ 223, 223, CS_UTF8MB3 },	/* utf8mb3_general_mysql500_ci */
	{ 224, 247, CS_UTF8MB4 },
	{ 248, 250, CS_GB18030 },
	{ 254, 254, CS_UTF8MB3 },	/* MariaDB utf8mb3_general_cs */
	{ 255, 323, CS_UTF8MB4 },	/* MySQL 8 *_0900_* and later */
	{ 576, 578, CS_UTF8MB3 },	/* MariaDB *_mysql561_ci */
	{ 608, 610, CS_UTF8MB4 },
	{ 640, 642, CS_UCS2 },
	{ 672, 674, CS_UTF16 },
	{ 736, 738, CS_UTF32 },
};

/* MariaDB 10.10+ UCA-14.0.0 collations: 2048 + 256 * charset + variant. */
static const uint8_t cs_uca1400[5] = {
	CS_UTF8MB3, CS_UTF8MB4, CS_UCS2, CS_UTF16, CS_UTF32,
};

static int cs_lookup(uint32_t id)
{
	size_t lo = 0, hi = sizeof(cs_ranges) / sizeof(cs_ranges[0]);

	if (id >= 1024 && id < 1280)
		id -= 1024;	/* MariaDB _nopad_ variants of id - 1024 */
	if (id < 100)
		return cs_low[id];
	if (id >= 2048 && id < 2048 + 5 * 256)
		return cs_uca1400[(id - 2048) >> 8];
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (id < cs_ranges[mid].lo)
			hi = mid;
		else if (id > cs_ranges[mid].hi)
			lo = mid + 1;
		else
			return cs_ranges[mid].cs;
	}
	return CS_UNKNOWN;
}

const char *charset_name(uint32_t collation)
{
	return cs_info[cs_lookup(collation)].name;
}

bool charset_is_binary(uint32_t collation)
{
	return collation == CHARSET_BINARY;
}

/* cp1252 0x80..0x9f; MySQL maps the five undefined bytes to C1 controls. */
static const uint16_t cp1252_hi[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

#define REPLACEMENT 0xfffdu

/*
 * Write code point cp at p, JSON-escaped when json; at most 6 bytes.
 * Surrogates and values past U+10FFFF must have been replaced already.
 */
static char *put_cp(char *p, uint32_t cp, bool json)
{
	static const char hex[] = "0123456789abcdef";

	if (cp < 0x80) {
		if (!json || (cp >= 0x20 && cp != '"' && cp != '\\')) {
			*p++ = (char)cp;
			return p;
		}
		*p++ = '\\';
		switch (cp) {
		case '"': *p++ = '"'; break;
		case '\\': *p++ = '\\'; break;
		case '\n': *p++ = 'n'; break;
		case '\r': *p++ = 'r'; break;
		case '\t': *p++ = 't'; break;
		case '\b': *p++ = 'b'; break;
		case '\f': *p++ = 'f'; break;
		default:
			*p++ = 'u';
			*p++ = '0';
			*p++ = '0';
			*p++ = hex[cp >> 4];
			*p++ = hex[cp & 15];
		}
		return p;
	}
	if (cp < 0x800) {
		*p++ = (char)(0xc0 | (cp >> 6));
	} else if (cp < 0x10000) {
		*p++ = (char)(0xe0 | (cp >> 12));
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3f));
	} else {
		*p++ = (char)(0xf0 | (cp >> 18));
		*p++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3f));
	}
	*p++ = (char)(0x80 | (cp & 0x3f));
	return p;
}

/* Length of the valid UTF-8 sequence at s and its code point, 0 if none. */
static size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
	uint8_t c = s[0];

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		if (n < 2 || (s[1] & 0xc0) != 0x80)
			return 0;
		*cp = (uint32_t)(c & 0x1f) << 6 | (s[1] & 0x3f);
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
			return 0;	/* overlong or surrogate */
		*cp = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 |
		      (s[2] & 0x3f);
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
			return 0;
		*cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
		      (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
		return 4;
	}
	return 0;
}

/*
 * Decode n bytes of a charset that needs no iconv, writing at p (room for
 * 6 bytes per input byte reserved by the caller).  Returns the new end.
 */
static char *decode_builtin(int kind, const uint8_t *s, size_t n, char *p,
			    bool json, unsigned *bad)
{
	size_t i = 0, k;
	uint32_t cp, lo;
	unsigned nbad = 0;

	while (i < n) {
		switch (kind) {
		case K_LATIN1:
			cp = s[i++];
			if (cp >= 0x80 && cp < 0xa0)
				cp = cp1252_hi[cp - 0x80];
			break;
		case K_ASCII:
		case K_NONE:
			cp = s[i++];
			if (cp >= 0x80) {
				cp = REPLACEMENT;
				nbad++;
			}
			break;
		case K_UCS2:
		case K_UTF16:
		case K_UTF16LE:
			if (n - i < 2) {
				cp = REPLACEMENT;
				nbad++;
				i = n;
				break;
			}
			cp = kind == K_UTF16LE ? (uint32_t)s[i + 1] << 8 | s[i] :
						 (uint32_t)s[i] << 8 | s[i + 1];
			i += 2;
			if (cp < 0xd800 || cp > 0xdfff)
				break;
			if (kind == K_UCS2 || cp > 0xdbff || n - i < 2) {
				cp = REPLACEMENT;	/* lone surrogate */
				nbad++;
				break;
			}
			lo = kind == K_UTF16LE ? (uint32_t)s[i + 1] << 8 | s[i] :
						 (uint32_t)s[i] << 8 | s[i + 1];
			if (lo < 0xdc00 || lo > 0xdfff) {
				cp = REPLACEMENT;
				nbad++;
				break;
			}
			i += 2;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			break;
		case K_UTF32:
			if (n - i < 4) {
				cp = REPLACEMENT;
				nbad++;
				i = n;
				break;
			}
			cp = (uint32_t)s[i] << 24 | (uint32_t)s[i + 1] << 16 |
			     (uint32_t)s[i + 2] << 8 | s[i + 3];
			i += 4;
			if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
				cp = REPLACEMENT;
				nbad++;
			}
			break;
		default:	/* K_UTF8, K_BINARY */
			k = utf8_next(s + i, n - i, &cp);
			if (k == 0) {
				cp = REPLACEMENT;
				nbad++;
				k = 1;
			}
			i += k;
			break;
		}
		p = put_cp(p, cp, json);
	}
	if (bad)
		*bad += nbad;
	return p;
}

/* This thread's iconv descriptors: state 0 untried, 1 open, 2 failed. */
static _Thread_local iconv_t cs_cd[CS_COUNT];
static _Thread_local uint8_t cs_cd_state[CS_COUNT];

static iconv_t get_cd(int cs)
{
	if (cs_cd_state[cs] == 0) {
		cs_cd[cs] = iconv_open("UTF-32LE", cs_info[cs].iconv);
		cs_cd_state[cs] = cs_cd[cs] == (iconv_t)-1 ? 2 : 1;
	}
	if (cs_cd_state[cs] != 1)
		return (iconv_t)-1;
	iconv(cs_cd[cs], NULL, NULL, NULL, NULL);	/* initial shift state */
	return cs_cd[cs];
}

void charset_release(void)
{
	for (int cs = 0; cs < CS_COUNT; cs++) {
		if (cs_cd_state[cs] == 1)
			iconv_close(cs_cd[cs]);
		cs_cd_state[cs] = 0;
	}
}

/* Convert through iconv in chunks of code points, appending to out. */
static void decode_iconv(iconv_t cd, const uint8_t *s, size_t n,
			 struct rc_buf *out, bool json, unsigned *bad)
{
	uint8_t tmp[1024];
	char *in = (char *)s;
	size_t inleft = n;

	while (inleft > 0) {
		char *o = (char *)tmp;
		size_t oleft = sizeof(tmp);
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);
		int e = errno;
		size_t ncp = (sizeof(tmp) - oleft) / 4;
		char *p;

		buf_reserve(out, ncp * 6 + 6);
		p = out->data + out->len;
		for (size_t i = 0; i < ncp; i++) {
			const uint8_t *u = tmp + 4 * i;
			uint32_t cp = (uint32_t)u[3] << 24 | (uint32_t)u[2] << 16 |
				      (uint32_t)u[1] << 8 | u[0];

			if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
				cp = REPLACEMENT;
			p = put_cp(p, cp, json);
		}
		if (r == (size_t)-1 && (e != E2BIG || ncp == 0)) {
			/* EILSEQ, EINVAL (truncated at the end) or stuck */
			p = put_cp(p, REPLACEMENT, json);
			if (bad)
				(*bad)++;
			in++;
			inleft--;
			iconv(cd, NULL, NULL, NULL, NULL);
		}
		out->len = (size_t)(p - out->data);
		out->data[out->len] = '\0';
	}
}

static void convert(uint32_t collation, const uint8_t *s, size_t n,
		    struct rc_buf *out, bool json, unsigned *bad)
{
	int cs = cs_lookup(collation);
	int kind = cs_info[cs].kind;
	char *p;

	if (kind == K_ICONV) {
		iconv_t cd = get_cd(cs);

		if (cd != (iconv_t)-1) {
			decode_iconv(cd, s, n, out, json, bad);
			return;
		}
		kind = K_NONE;
	}
	buf_reserve(out, n * 6);
	p = decode_builtin(kind, s, n, out->data + out->len, json, bad);
	out->len = (size_t)(p - out->data);
	out->data[out->len] = '\0';
}

void charset_json_str(uint32_t collation, const uint8_t *s, size_t n,
		      struct rc_buf *out, unsigned *bad)
{
	int kind = cs_info[cs_lookup(collation)].kind;

	if (kind == K_BINARY) {
		buf_json_base64(out, s, n);
		return;
	}
	if (kind == K_UTF8) {
		buf_json_str(out, (const char *)s, n, bad);
		return;
	}
	buf_putc(out, '"');
	convert(collation, s, n, out, true, bad);
	buf_putc(out, '"');
}

void charset_to_utf8(uint32_t collation, const uint8_t *s, size_t n,
		     struct rc_buf *out, unsigned *bad)
{
	convert(collation, s, n, out, false, bad);
}
