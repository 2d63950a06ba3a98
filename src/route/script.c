/* SPDX-License-Identifier: MIT */
/*
 * Route scripts in Lua 5.4: a sandbox (base without file loading, string,
 * table, math, utf8), a heap capped through the allocator, an instruction
 * budget per call through a count hook, the change as Lua tables converted
 * from rowcast's native JSON texts, and the returned messages written as
 * JSON with sorted keys into reused buffers.  Does not publish or log rows.
 */
#include "route/script.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/jsonnum.h"

#define TCACHE_SLOTS 64		/* tables whose column names are kept */
#define MAX_DEPTH 128		/* nesting of JSON values, in and out (MySQL
				   allows JSON documents 100 deep) */

/* The strings this module sets and reads, made once per state and held in
 * a table at stack index 1 of every call: no lookup per row. */
enum {
	K_OP = 1, K_DB, K_TABLE, K_ID, K_GTID, K_POSITION, K_TS, K_BEFORE, K_AFTER,
	K_TOPIC, K_KEY, K_HEADERS, K_PAYLOAD, K_INSERT, K_UPDATE, K_DELETE, K_READ,
};
static const char *const knames[] = {
	NULL, "op", "db", "table", "id", "gtid", "position", "ts", "before", "after",
	"topic", "key", "headers", "payload", "insert", "update", "delete", "read",
};
#define K_COUNT (sizeof(knames) / sizeof(knames[0]) - 1)
#define KIDX 1			/* stack index of the strings in run_row() */

/* rowcast.null: one address, pushed as a light userdata. */
static const char null_sentinel;
/* Registry keys (their addresses): the array metatable, and the metatable
 * that keeps the reused change tables from growing new fields. */
static const char array_mt_key;
static const char ro_mt_key;
/* ... and the change table's own, which also makes id, before and after
 * on their first use in a call (most scripts read one image, few the id). */
static const char change_mt_key;
/* ... and the row images', which convert a column on its first read in a
 * call (a script reads a few columns of many). */
static const char img_mt_key;

/*
 * One table's interned names and its change tables, kept in the Lua
 * registry as one table: [1..n] the column names, then the slots below.
 * The change and image tables are refilled for every row of the table
 * instead of made anew: a row costs half as much (no allocation, no new
 * keys, less to collect).  Scripts see them as read-only and valid during
 * their call.  The change table gets id, before and after only when the
 * script reads them (its metatable's __index, __pairs, and put_table()).
 */
enum { SLOT_DB = 1, SLOT_TABLE, SLOT_CHANGE, SLOT_BEFORE, SLOT_AFTER, SLOT_INDEX,
       SLOT_COUNT = SLOT_INDEX };

struct tcache {
	char *id;		/* db NUL table NUL, then per column its
				   length (4 bytes) and name: what must match */
	size_t id_len;		/* bytes of id */
	uint32_t ncols;		/* columns */
	int ref;		/* registry ref of {names..., SLOT_*} */
	uint64_t used;		/* tick of the last use, for eviction */
};

/* A message while it is collected: offsets into out, which may move. */
struct msg_rec {
	size_t topic_off, topic_len;	/* topic_off SIZE_MAX: none */
	size_t key_off, key_len;	/* key_off SIZE_MAX: none */
	size_t hdr_first, nhdr;		/* range in hdrs */
	size_t payload_off, payload_len;
	bool json;			/* payload written from a table */
};

/* A header while it is collected. */
struct hdr_rec {
	size_t name_off, name_len;
	size_t value_off, value_len;
};

/* A string key and the stack slot of its value, for sorting. */
struct skey {
	const char *s;		/* the key's bytes (kept alive on the stack) */
	size_t len;		/* their length */
	int vidx;		/* absolute stack index of the value */
};

struct script {
	lua_State *L;			/* the script's own state */
	char *path;			/* file it was loaded from */
	struct script_limits lim;	/* limits in force (defaults applied) */
	size_t heap;			/* bytes the Lua heap holds now */
	int fn_ref;			/* registry ref of transform */
	int kref;			/* registry ref of the knames strings */
	enum script_status why;		/* the reason flagged before an error
					   raised by this module */
	const struct script_change *change; /* the row of the call running */
	const void *change_table;	/* its change table (lua_topointer) */
	struct rc_buf out;		/* texts of the messages of a call */
	struct rc_buf tmp;		/* scratch: unescaped strings */
	struct msg_rec *recs;		/* messages of the call */
	size_t nrecs, cap_recs;
	struct hdr_rec *hrecs;		/* their headers */
	size_t nhrecs, cap_hrecs;
	struct script_msg *msgs;	/* what script_run() hands out */
	size_t cap_msgs;
	struct script_header *hdrs;	/* their headers */
	size_t cap_hdrs;
	struct skey *keys;		/* sort scratch, a stack of ranges */
	size_t nkeys, cap_keys;
	struct tcache cache[TCACHE_SLOTS]; /* column names by table */
	unsigned ncache;		/* slots in use */
	unsigned last;			/* slot of the last hit */
	uint64_t tick;			/* calls, for the cache's eviction */
	struct script_stats st;		/* counters */
};

/* Grow a vector of elements of size sz to hold need; aborts on OOM. */
static void *grow(void *v, size_t *cap, size_t need, size_t sz)
{
	size_t n;

	if (need <= *cap)
		return v;
	n = *cap ? *cap * 2 : 8;
	while (n < need)
		n *= 2;
	v = realloc(v, n * sz);
	if (!v)
		log_oom();
	*cap = n;
	return v;
}

static struct script *self(lua_State *L)
{
	return *(struct script **)lua_getextraspace(L);
}

/* Raise an error with the message of fmt (lua_pushfstring's formats, not
 * printf's) and note why, for script_run()'s status. */
static __attribute__((noreturn)) void fail(lua_State *L, enum script_status why,
					   const char *fmt, ...)
{
	va_list ap;

	self(L)->why = why;
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_error(L);
	__builtin_unreachable();
}

/* ---------------- the sandbox ---------------- */

/* Refuses growth past the cap; shrinking and freeing always succeed. */
static void *cap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct script *s = ud;
	size_t old = ptr ? osize : 0;
	void *p;

	if (nsize == 0) {
		free(ptr);
		s->heap -= old;
		return NULL;
	}
	if (nsize > old && nsize - old > s->lim.memory - s->heap)
		return NULL;
	p = realloc(ptr, nsize);
	if (!p)
		return NULL;
	s->heap = s->heap - old + nsize;
	if (s->heap > s->st.heap_peak)
		s->st.heap_peak = s->heap;
	return p;
}

/* The count hook: the budget is spent.  From now on it fires at every
 * instruction, so a script that catches the error cannot run on. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
	struct script *s = self(L);

	s->why = SCRIPT_ERR_BUDGET;
	lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
	if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
		lua_pushfstring(L, "%s:%d: instruction budget of %d exceeded", ar->short_src,
				ar->currentline, (int)s->lim.budget);
	else
		lua_pushfstring(L, "%s: instruction budget of %d exceeded", s->path,
				(int)s->lim.budget);
	lua_error(L);
}

/* print(...): one log line at info, not the daemon's stdout. */
static int l_print(lua_State *L)
{
	struct script *s = self(L);
	int n = lua_gettop(L);
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	log_info("script %s: %s", s->path, lua_tostring(L, -1));
	return 0;
}

/* collectgarbage with the options that change nothing the host relies on. */
static int l_collectgarbage(lua_State *L)
{
	static const char *const opts[] = { "collect", "count", "step", "isrunning", NULL };
	int o = luaL_checkoption(L, 1, "collect", opts);

	switch (o) {
	case 0:
		lua_gc(L, LUA_GCCOLLECT);
		lua_pushinteger(L, 0);
		return 1;
	case 1: {
		int kb = lua_gc(L, LUA_GCCOUNT), b = lua_gc(L, LUA_GCCOUNTB);

		lua_pushnumber(L, (lua_Number)kb + (lua_Number)b / 1024);
		return 1;
	}
	case 2:
		lua_pushboolean(L, lua_gc(L, LUA_GCSTEP, (int)luaL_optinteger(L, 2, 0)));
		return 1;
	default:
		lua_pushboolean(L, lua_gc(L, LUA_GCISRUNNING));
		return 1;
	}
}

/* rowcast.array(t): mark t to be written as a JSON array (even empty). */
static int l_array(lua_State *L)
{
	if (lua_isnoneornil(L, 1))
		lua_newtable(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
	lua_setmetatable(L, 1);
	return 1;
}

/* __newindex of the reused change tables. */
static int l_change_write(lua_State *L)
{
	return luaL_error(L, "the change is read-only: copy what you change into a table of "
			  "your own");
}

/* __newindex of the globals once loaded: rows must not leave state in
 * globals by accident (a missing `local`). */
static int l_global_write(lua_State *L)
{
	return luaL_error(L, "assignment to undeclared global '%s' (declare it local)",
			  lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

static void unset(lua_State *L, const char *lib, const char *name)
{
	if (lib) {
		lua_getglobal(L, lib);
		lua_pushnil(L);
		lua_setfield(L, -2, name);
		lua_pop(L, 1);
	} else {
		lua_pushnil(L);
		lua_setglobal(L, name);
	}
}

static int l_change_index(lua_State *L);
static int l_change_pairs(lua_State *L);
static int l_image_index(lua_State *L);
static int l_image_write(lua_State *L);
static int l_image_pairs(lua_State *L);

/* In protected mode: libraries, the file, its top level, transform. */
static int setup(lua_State *L)
{
	struct script *s = self(L);
	static const luaL_Reg libs[] = {
		{ LUA_GNAME, luaopen_base }, { LUA_STRLIBNAME, luaopen_string },
		{ LUA_TABLIBNAME, luaopen_table }, { LUA_MATHLIBNAME, luaopen_math },
		{ LUA_UTF8LIBNAME, luaopen_utf8 }, { NULL, NULL },
	};

	for (const luaL_Reg *l = libs; l->name; l++) {
		luaL_requiref(L, l->name, l->func, 1);
		lua_pop(L, 1);
	}
	/* loading code: files, strings (binary chunks), and bytecode out */
	unset(L, NULL, "dofile");
	unset(L, NULL, "loadfile");
	unset(L, NULL, "load");
	unset(L, "string", "dump");
	/* results must follow from the row: no random numbers */
	unset(L, "math", "random");
	unset(L, "math", "randomseed");
	lua_register(L, "print", l_print);
	lua_register(L, "collectgarbage", l_collectgarbage);

	lua_newtable(L);			/* the array metatable */
	lua_pushliteral(L, "array");
	lua_setfield(L, -2, "__name");
	lua_rawsetp(L, LUA_REGISTRYINDEX, &array_mt_key);
	lua_createtable(L, 0, 2);		/* the change tables' metatable */
	lua_pushcfunction(L, l_change_write);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_rawsetp(L, LUA_REGISTRYINDEX, &ro_mt_key);
	lua_createtable(L, 0, 4);		/* the change table's metatable */
	lua_pushcfunction(L, l_change_index);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_change_write);
	lua_setfield(L, -2, "__newindex");
	lua_pushcfunction(L, l_change_pairs);
	lua_setfield(L, -2, "__pairs");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_rawsetp(L, LUA_REGISTRYINDEX, &change_mt_key);
	lua_createtable(L, 0, 4);		/* the row images' metatable */
	lua_pushcfunction(L, l_image_index);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_image_write);
	lua_setfield(L, -2, "__newindex");
	lua_pushcfunction(L, l_image_pairs);
	lua_setfield(L, -2, "__pairs");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_rawsetp(L, LUA_REGISTRYINDEX, &img_mt_key);
	lua_createtable(L, 0, 2);		/* rowcast */
	lua_pushlightuserdata(L, (void *)&null_sentinel);
	lua_setfield(L, -2, "null");
	lua_pushcfunction(L, l_array);
	lua_setfield(L, -2, "array");
	lua_setglobal(L, "rowcast");

	lua_createtable(L, (int)K_COUNT, 0);
	for (size_t i = 1; i <= K_COUNT; i++) {
		lua_pushstring(L, knames[i]);
		lua_rawseti(L, -2, (lua_Integer)i);
	}
	s->kref = luaL_ref(L, LUA_REGISTRYINDEX);

	if (luaL_loadfilex(L, s->path, "t") != LUA_OK)
		return lua_error(L);
	lua_call(L, 0, 0);
	if (lua_getglobal(L, "transform") != LUA_TFUNCTION)
		fail(L, SCRIPT_ERR_RUNTIME, "%s: defines no function transform(change)", s->path);
	s->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);

	lua_pushglobaltable(L);
	lua_createtable(L, 0, 2);
	lua_pushcfunction(L, l_global_write);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_pop(L, 1);
	return 0;
}

/* The message of a failed protected call, into err. */
static enum script_status failed(struct script *s, int rc, char *err, size_t errlen)
{
	lua_State *L = s->L;
	enum script_status why = s->why;

	if (rc == LUA_ERRMEM) {
		why = SCRIPT_ERR_MEMORY;
		if (err)
			snprintf(err, errlen, "%s: memory cap of %zu bytes reached", s->path,
				 s->lim.memory);
	} else if (err) {
		if (lua_type(L, -1) == LUA_TSTRING)
			snprintf(err, errlen, "%s", lua_tostring(L, -1));
		else
			snprintf(err, errlen, "%s: error object is a %s value", s->path,
				 luaL_typename(L, -1));
	}
	if (why == SCRIPT_OK)
		why = SCRIPT_ERR_RUNTIME;
	lua_settop(L, 0);
	return why;
}

bool script_load(const char *path, const struct script_limits *limits,
		 struct script **out, char *err, size_t errlen)
{
	struct script *s = calloc(1, sizeof(*s));
	bool ok = false;
	int rc;

	if (!s)
		log_oom();
	s->lim.memory = limits && limits->memory ? limits->memory : RC_SCRIPT_MEMORY_DEFAULT;
	s->lim.budget = limits && limits->budget ? limits->budget : RC_SCRIPT_BUDGET_DEFAULT;
	if (s->lim.budget > RC_SCRIPT_BUDGET_MAX)
		s->lim.budget = RC_SCRIPT_BUDGET_MAX;
	s->fn_ref = s->kref = LUA_NOREF;
	s->path = strdup(path);
	if (!s->path)
		log_oom();
	s->L = lua_newstate(cap_alloc, s);
	if (!s->L) {
		if (err)
			snprintf(err, errlen, "%s: cannot create a Lua state within %zu bytes", path,
				 s->lim.memory);
		goto out;
	}
	*(struct script **)lua_getextraspace(s->L) = s;
	lua_gc(s->L, LUA_GCGEN, 0, 0);	/* most of what a row makes dies young */
	lua_sethook(s->L, budget_hook, LUA_MASKCOUNT, (int)s->lim.budget);
	lua_pushcfunction(s->L, setup);
	rc = lua_pcall(s->L, 0, 0, 0);
	if (rc != LUA_OK) {
		failed(s, rc, err, errlen);
		goto out;
	}
	ok = true;
out:
	if (ok)
		*out = s;
	else
		script_free(s);
	return ok;
}

void script_free(struct script *s)
{
	if (!s)
		return;
	if (s->L)
		lua_close(s->L);
	for (unsigned i = 0; i < s->ncache; i++)
		free(s->cache[i].id);
	buf_free(&s->out);
	buf_free(&s->tmp);
	free(s->recs);
	free(s->hrecs);
	free(s->msgs);
	free(s->hdrs);
	free(s->keys);
	free(s->path);
	free(s);
}

const char *script_path(const struct script *s)
{
	return s->path;
}

void script_get_stats(const struct script *s, struct script_stats *st)
{
	*st = s->st;
	st->heap_bytes = s->heap;
}

/* ---------------- the change, in ---------------- */

static bool tcache_match(const struct tcache *e, const struct script_change *c)
{
	const char *p = e->id, *end = e->id + e->id_len;
	size_t n;

	if (e->ncols != c->ncols)
		return false;
	n = strlen(c->db) + 1;
	if ((size_t)(end - p) < n || memcmp(p, c->db, n))
		return false;
	p += n;
	n = strlen(c->table) + 1;
	if ((size_t)(end - p) < n || memcmp(p, c->table, n))
		return false;
	p += n;
	for (uint32_t i = 0; i < c->ncols; i++) {
		uint32_t len;

		memcpy(&len, p, 4);
		if (len != c->name_lens[i] || memcmp(p + 4, c->names[i], len))
			return false;
		p += 4 + len;
	}
	return true;
}

/* A new change table (mt: ro_mt_key or change_mt_key), read-only to
 * scripts, into slot of the table at t. */
static void new_change_table(lua_State *L, int t, lua_Integer slot, int nrec, const char *mt)
{
	lua_createtable(L, 0, nrec);
	lua_rawgetp(L, LUA_REGISTRYINDEX, mt);
	lua_setmetatable(L, -2);
	lua_rawseti(L, t, slot);
}

/* Push the table {name_1, ..., name_n, SLOT_*} of c's table, made once per
 * table and kept while the table's names stay the same. */
static void push_names(lua_State *L, struct script *s, const struct script_change *c)
{
	struct tcache *e;
	struct rc_buf id = { 0 };
	unsigned slot;

	if (s->ncache && tcache_match(&s->cache[s->last], c)) {
		e = &s->cache[s->last];
		goto hit;
	}
	for (slot = 0; slot < s->ncache; slot++)
		if (tcache_match(&s->cache[slot], c))
			break;
	if (slot < s->ncache) {
		s->last = slot;
		e = &s->cache[slot];
		goto hit;
	}
	/* a miss: a free slot, or the one least recently used */
	if (s->ncache < TCACHE_SLOTS) {
		slot = s->ncache;
	} else {
		slot = 0;
		for (unsigned i = 1; i < TCACHE_SLOTS; i++)
			if (s->cache[i].used < s->cache[slot].used)
				slot = i;
	}
	lua_createtable(L, (int)c->ncols + SLOT_COUNT, 0);
	for (uint32_t i = 0; i < c->ncols; i++) {
		lua_pushlstring(L, c->names[i], c->name_lens[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_pushstring(L, c->db);
	lua_rawseti(L, -2, (lua_Integer)c->ncols + SLOT_DB);
	lua_pushstring(L, c->table);
	lua_rawseti(L, -2, (lua_Integer)c->ncols + SLOT_TABLE);
	new_change_table(L, lua_gettop(L), (lua_Integer)c->ncols + SLOT_CHANGE, 9,
			 &change_mt_key);
	new_change_table(L, lua_gettop(L), (lua_Integer)c->ncols + SLOT_BEFORE, (int)c->ncols,
			 &img_mt_key);
	new_change_table(L, lua_gettop(L), (lua_Integer)c->ncols + SLOT_AFTER, (int)c->ncols,
			 &img_mt_key);
	/* column name -> its index, for the images' __index */
	lua_createtable(L, 0, (int)c->ncols);
	for (uint32_t i = 0; i < c->ncols; i++) {
		lua_rawgeti(L, -2, (lua_Integer)i + 1);
		lua_pushinteger(L, (lua_Integer)i);
		lua_rawset(L, -3);
	}
	lua_rawseti(L, -2, (lua_Integer)c->ncols + SLOT_INDEX);
	buf_append(&id, c->db, strlen(c->db) + 1);
	buf_append(&id, c->table, strlen(c->table) + 1);
	for (uint32_t i = 0; i < c->ncols; i++) {
		buf_append(&id, &c->name_lens[i], 4);
		buf_append(&id, c->names[i], c->name_lens[i]);
	}
	e = &s->cache[slot];
	if (slot < s->ncache) {
		free(e->id);
		luaL_unref(L, LUA_REGISTRYINDEX, e->ref);
	} else {
		s->ncache++;
	}
	lua_pushvalue(L, -1);
	e->ref = luaL_ref(L, LUA_REGISTRYINDEX);
	e->id = id.data;
	e->id_len = id.len;
	e->ncols = c->ncols;
	e->used = ++s->tick;
	s->last = slot;
	return;
hit:
	e->used = ++s->tick;
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);
}

/* A JSON text being read into Lua values. */
struct jin {
	const char *p;		/* next byte */
	const char *end;	/* end of the text */
	struct script *s;	/* for its scratch buffer */
	const char *col;	/* column name, for errors */
};

static __attribute__((noreturn)) void bad_text(lua_State *L, struct jin *j)
{
	fail(L, SCRIPT_ERR_RUNTIME, "%s: column %s: value text is not JSON",
		    j->s->path, j->col);
}

static void skip_ws(struct jin *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' ||
				 *j->p == '\r'))
		j->p++;
}

static int hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static void put_utf8(struct rc_buf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(b, u, n);
}

/* A JSON string at j->p (its quote) as a Lua string. */
static void in_string(lua_State *L, struct jin *j)
{
	const char *p = ++j->p, *q = p;
	struct rc_buf *t = &j->s->tmp;

	while (q < j->end && *q != '"' && *q != '\\')
		q++;
	if (q < j->end && *q == '"') {		/* nothing escaped */
		lua_pushlstring(L, p, (size_t)(q - p));
		j->p = q + 1;
		return;
	}
	buf_reset(t);
	buf_append(t, p, (size_t)(q - p));
	while (q < j->end && *q != '"') {
		int cp, lo;

		if (*q != '\\') {
			p = q;
			while (q < j->end && *q != '"' && *q != '\\')
				q++;
			buf_append(t, p, (size_t)(q - p));
			continue;
		}
		if (j->end - q < 2)
			bad_text(L, j);
		switch (q[1]) {
		case '"': case '\\': case '/':
			buf_putc(t, q[1]);
			q += 2;
			continue;
		case 'b': buf_putc(t, '\b'); q += 2; continue;
		case 'f': buf_putc(t, '\f'); q += 2; continue;
		case 'n': buf_putc(t, '\n'); q += 2; continue;
		case 'r': buf_putc(t, '\r'); q += 2; continue;
		case 't': buf_putc(t, '\t'); q += 2; continue;
		case 'u':
			break;
		default:
			bad_text(L, j);
		}
		if (j->end - q < 6 || (cp = hex4(q + 2)) < 0)
			bad_text(L, j);
		q += 6;
		if (cp >= 0xd800 && cp < 0xdc00 && j->end - q >= 6 && q[0] == '\\' &&
		    q[1] == 'u' && (lo = hex4(q + 2)) >= 0xdc00 && lo < 0xe000) {
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			q += 6;
		} else if (cp >= 0xd800 && cp < 0xe000) {
			cp = 0xfffd;		/* a lone surrogate */
		}
		put_utf8(t, (unsigned)cp);
	}
	if (q >= j->end)
		bad_text(L, j);
	j->p = q + 1;
	lua_pushlstring(L, t->data, t->len);
}

/* A JSON number: an integer when it has no fraction or exponent and fits
 * in int64, a float when it has one, else (a larger integer) its text. */
static void in_number(lua_State *L, struct jin *j)
{
	const char *p = j->p, *q = p;
	bool neg = *q == '-', isfloat = false;
	uint64_t v = 0, lim;
	bool over = false;
	char tmp[64];

	if (neg)
		q++;
	if (q >= j->end || *q < '0' || *q > '9')
		bad_text(L, j);
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; q < j->end && *q >= '0' && *q <= '9'; q++) {
		unsigned d = (unsigned)(*q - '0');

		if (v > (lim - d) / 10)
			over = true;
		else
			v = v * 10 + d;
	}
	while (q < j->end && (*q == '.' || *q == 'e' || *q == 'E' || *q == '+' || *q == '-' ||
			      (*q >= '0' && *q <= '9'))) {
		isfloat = true;
		q++;
	}
	j->p = q;
	if (isfloat || (neg && v == 0 && !over)) {	/* "-0" is the float -0 */
		char *e;

		if ((size_t)(q - p) >= sizeof(tmp))
			bad_text(L, j);
		memcpy(tmp, p, (size_t)(q - p));
		tmp[q - p] = '\0';
		lua_pushnumber(L, strtod(tmp, &e));
		if (*e)
			bad_text(L, j);
	} else if (over) {
		lua_pushlstring(L, p, (size_t)(q - p));
	} else {
		lua_pushinteger(L, neg ? (lua_Integer)(0 - v) : (lua_Integer)v);
	}
}

static void in_value(lua_State *L, struct jin *j, int depth);

static void in_container(lua_State *L, struct jin *j, int depth, bool array)
{
	char close = array ? ']' : '}';
	lua_Integer n = 0;

	if (depth >= MAX_DEPTH)
		fail(L, SCRIPT_ERR_RUNTIME, "%s: column %s: JSON nested deeper than %d levels",
		     j->s->path, j->col, MAX_DEPTH);
	luaL_checkstack(L, 3, "nested JSON");
	j->p++;
	lua_newtable(L);
	if (array) {
		lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
		lua_setmetatable(L, -2);
	}
	skip_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return;
	}
	for (;;) {
		skip_ws(j);
		if (!array) {
			if (j->p >= j->end || *j->p != '"')
				bad_text(L, j);
			in_string(L, j);
			skip_ws(j);
			if (j->p >= j->end || *j->p != ':')
				bad_text(L, j);
			j->p++;
			skip_ws(j);
			in_value(L, j, depth + 1);
			lua_rawset(L, -3);
		} else {
			in_value(L, j, depth + 1);
			lua_rawseti(L, -2, ++n);
		}
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return;
		}
		bad_text(L, j);
	}
}

static void in_value(lua_State *L, struct jin *j, int depth)
{
	size_t left = (size_t)(j->end - j->p);

	if (!left)
		bad_text(L, j);
	switch (*j->p) {
	case '"':
		in_string(L, j);
		return;
	case '{':
		in_container(L, j, depth, false);
		return;
	case '[':
		in_container(L, j, depth, true);
		return;
	case 't':
		if (left < 4 || memcmp(j->p, "true", 4))
			bad_text(L, j);
		j->p += 4;
		lua_pushboolean(L, 1);
		return;
	case 'f':
		if (left < 5 || memcmp(j->p, "false", 5))
			bad_text(L, j);
		j->p += 5;
		lua_pushboolean(L, 0);
		return;
	case 'n':
		if (left < 4 || memcmp(j->p, "null", 4))
			bad_text(L, j);
		j->p += 4;
		lua_pushlightuserdata(L, (void *)&null_sentinel);
		return;
	default:
		in_number(L, j);
		return;
	}
}

/* Refill the image table of slot (names at stack index nt) with im and
 * push it: every column is set, to nil where absent. */
/* Push column i of image im as a Lua value (nil when absent). */
static void push_value(lua_State *L, struct script *s, const struct script_change *c,
		       const struct script_image *im, uint32_t i)
{
	const char *v;

	if (im->state[i] == SCRIPT_ABSENT) {
		lua_pushnil(L);
	} else if (im->state[i] == SCRIPT_NULL) {
		lua_pushlightuserdata(L, (void *)&null_sentinel);
	} else {
		v = im->text + im->off[i];
		/* the common kinds without the parser's setup */
		if (im->len[i] >= 2 && v[0] == '"' && v[im->len[i] - 1] == '"' &&
		    !memchr(v + 1, '\\', im->len[i] - 2)) {
			lua_pushlstring(L, v + 1, im->len[i] - 2);
		} else {
			struct jin j = { v, v + im->len[i], s, c->names[i] };

			in_value(L, &j, 0);
			skip_ws(&j);
			if (j.p != j.end)
				bad_text(L, &j);
		}
	}
}

/* The image table of slot emptied of the last row's values (its columns
 * are converted when read); the table is pushed. */
static void clear_image(lua_State *L, const struct script_change *c, int nt, int slot)
{
	lua_rawgeti(L, nt, (lua_Integer)c->ncols + slot);
	for (uint32_t i = 0; i < c->ncols; i++) {
		lua_rawgeti(L, nt, (lua_Integer)i + 1);
		lua_pushnil(L);
		lua_rawset(L, -3);
	}
}

/*
 * Which image of the running call the table at t is: the before or after
 * image (its script_image in *im), with the names table pushed; false (and
 * nothing pushed) for a table kept from an earlier call, or outside one.
 */
static bool image_of(lua_State *L, struct script *s, int t, const struct script_image **im)
{
	const struct script_change *c = s->change;

	if (!c || !s->ncache)
		return false;
	lua_rawgeti(L, LUA_REGISTRYINDEX, s->cache[s->last].ref);
	for (int slot = SLOT_BEFORE; slot <= SLOT_AFTER; slot++) {
		const struct script_image *x = slot == SLOT_BEFORE ? c->before : c->after;

		lua_rawgeti(L, -1, (lua_Integer)c->ncols + slot);
		if (x && lua_rawequal(L, -1, t)) {
			lua_pop(L, 1);
			*im = x;
			return true;
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return false;
}

/* __index of an image: the column's value, converted once per call. */
static int l_image_index(lua_State *L)
{
	struct script *s = self(L);
	const struct script_image *im;
	lua_Integer i;

	if (lua_type(L, 2) != LUA_TSTRING || !image_of(L, s, 1, &im))
		return 0;
	lua_rawgeti(L, -1, (lua_Integer)s->change->ncols + SLOT_INDEX);
	lua_pushvalue(L, 2);
	if (lua_rawget(L, -2) != LUA_TNUMBER)
		return 0;	/* no such column */
	i = lua_tointeger(L, -1);
	push_value(L, s, s->change, im, (uint32_t)i);
	if (lua_isnil(L, -1))
		return 1;
	lua_pushvalue(L, 2);
	lua_pushvalue(L, -2);
	lua_rawset(L, 1);
	return 1;
}

/* __newindex of an image: a column's value may change (until the next
 * row), no new field may appear. */
static int l_image_write(lua_State *L)
{
	struct script *s = self(L);
	const struct script_image *im;

	if (lua_type(L, 2) == LUA_TSTRING && image_of(L, s, 1, &im)) {
		lua_rawgeti(L, -1, (lua_Integer)s->change->ncols + SLOT_INDEX);
		lua_pushvalue(L, 2);
		if (lua_rawget(L, -2) == LUA_TNUMBER &&
		    im->state[lua_tointeger(L, -1)] != SCRIPT_ABSENT) {
			lua_settop(L, 3);
			lua_rawset(L, 1);
			return 0;
		}
	}
	return l_change_write(L);
}

/* Every column of the image at t made (pairs, JSON); false for a kept one. */
static void image_all(lua_State *L, struct script *s, int t)
{
	const struct script_image *im;
	int top = lua_gettop(L);

	if (image_of(L, s, t, &im)) {
		const struct script_change *c = s->change;

		for (uint32_t i = 0; i < c->ncols; i++) {
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			if (lua_rawget(L, t) != LUA_TNIL) {
				lua_pop(L, 1);	/* read, maybe changed: keep it */
				continue;
			}
			lua_pop(L, 1);
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			push_value(L, s, c, im, i);
			lua_rawset(L, t);
		}
	}
	lua_settop(L, top);
}

static int l_next(lua_State *L);

/* __pairs of an image: every column, made first. */
static int l_image_pairs(lua_State *L)
{
	image_all(L, self(L), 1);
	lua_pushcfunction(L, l_next);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

/*
 * Field k (K_ID, K_BEFORE or K_AFTER) of the change table at t, made from
 * the row of the running call and stored in t; pushes it, nil when the row
 * has none or when t is not the change of the running call (a script kept
 * it from an earlier row).
 */
static void lazy_field(lua_State *L, struct script *s, int t, int k)
{
	const struct script_change *c = s->change;
	int top = lua_gettop(L);

	if (!c || lua_topointer(L, t) != s->change_table ||
	    (k == K_BEFORE && !c->before) ||
	    (k == K_AFTER && !c->after)) {
		lua_pushnil(L);
		return;
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, s->kref);
	lua_rawgeti(L, -1, k);
	if (k == K_ID && c->id) {
		lua_pushstring(L, c->id);
	} else if (k == K_ID) {
		char num[24], *e = num + sizeof(num);
		luaL_Buffer b;

		luaL_buffinit(L, &b);
		luaL_addstring(&b, c->gtid && c->gtid[0] ? c->gtid : c->position ? c->position : "");
		luaL_addchar(&b, '@');
		e = buf_digits_back(e, c->index, 1);
		luaL_addlstring(&b, e, (size_t)(num + sizeof(num) - e));
		luaL_pushresult(&b);
	} else {
		lua_rawgeti(L, LUA_REGISTRYINDEX, s->cache[s->last].ref);
		clear_image(L, c, lua_gettop(L), k == K_BEFORE ? SLOT_BEFORE : SLOT_AFTER);
		lua_remove(L, -2);
	}
	lua_pushvalue(L, -1);
	lua_insert(L, top + 1);		/* the result, below the K table */
	lua_rawset(L, t);
	lua_settop(L, top + 1);
}

/* Make every lazy field of the change table at t (for pairs, JSON). */
static void lazy_all(lua_State *L, struct script *s, int t)
{
	static const int ks[] = { K_ID, K_BEFORE, K_AFTER };

	for (size_t i = 0; i < 3; i++) {
		lazy_field(L, s, t, ks[i]);
		lua_pop(L, 1);
	}
}

/* __index of the change table: the lazy fields. */
static int l_change_index(lua_State *L)
{
	size_t n;
	const char *k = lua_tolstring(L, 2, &n);

	if (lua_type(L, 2) != LUA_TSTRING)
		return 0;
	if (n == 2 && !memcmp(k, "id", 2))
		lazy_field(L, self(L), 1, K_ID);
	else if (n == 6 && !memcmp(k, "before", 6))
		lazy_field(L, self(L), 1, K_BEFORE);
	else if (n == 5 && !memcmp(k, "after", 5))
		lazy_field(L, self(L), 1, K_AFTER);
	else
		return 0;
	return 1;
}

/* next() for __pairs: the raw one, that no script can replace. */
static int l_next(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 2);
	if (lua_next(L, 1))
		return 2;
	lua_pushnil(L);
	return 1;
}

/* __pairs of the change table: every field, the lazy ones made first. */
static int l_change_pairs(lua_State *L)
{
	lazy_all(L, self(L), 1);
	lua_pushcfunction(L, l_next);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

/* Push the string k of the knames (as a key, before its value). */
static inline void pushk(lua_State *L, int k)
{
	lua_rawgeti(L, KIDX, k);
}

/* Push the change table of c's table, refilled with c. */
static void push_change(lua_State *L, struct script *s, const struct script_change *c)
{
	lua_Integer n = c->ncols;
	int nt, ct;

	push_names(L, s, c);
	nt = lua_gettop(L);
	lua_rawgeti(L, nt, n + SLOT_CHANGE);
	ct = lua_gettop(L);
	pushk(L, K_OP);
	if (!strcmp(c->op, "insert"))
		pushk(L, K_INSERT);
	else if (!strcmp(c->op, "update"))
		pushk(L, K_UPDATE);
	else if (!strcmp(c->op, "delete"))
		pushk(L, K_DELETE);
	else if (!strcmp(c->op, "read"))
		pushk(L, K_READ);
	else
		lua_pushstring(L, c->op);
	lua_rawset(L, ct);
	pushk(L, K_DB);
	lua_rawgeti(L, nt, n + SLOT_DB);
	lua_rawset(L, ct);
	pushk(L, K_TABLE);
	lua_rawgeti(L, nt, n + SLOT_TABLE);
	lua_rawset(L, ct);
	pushk(L, K_GTID);
	if (c->gtid && c->gtid[0])
		lua_pushstring(L, c->gtid);
	else
		lua_pushnil(L);
	lua_rawset(L, ct);
	pushk(L, K_POSITION);
	if (c->position)
		lua_pushstring(L, c->position);
	else
		lua_pushnil(L);
	lua_rawset(L, ct);
	pushk(L, K_TS);
	lua_pushinteger(L, (lua_Integer)c->ts_ms);
	lua_rawset(L, ct);
	/* made when read: see lazy_field() */
	pushk(L, K_ID);
	lua_pushnil(L);
	lua_rawset(L, ct);
	pushk(L, K_BEFORE);
	lua_pushnil(L);
	lua_rawset(L, ct);
	pushk(L, K_AFTER);
	lua_pushnil(L);
	lua_rawset(L, ct);
	s->change_table = lua_topointer(L, ct);
	lua_remove(L, nt);
}

/* ---------------- the messages, out ---------------- */

static int key_cmp(const void *a, const void *b)
{
	const struct skey *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);

	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Sort keys bytewise: insertion for the few fields of a message (glibc's
 * qsort allocates), qsort beyond. */
static void sort_keys(struct skey *k, size_t n)
{
	if (n > 16) {
		qsort(k, n, sizeof(*k), key_cmp);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		struct skey x = k[i];
		size_t j = i;

		for (; j > 0 && key_cmp(&k[j - 1], &x) > 0; j--)
			k[j] = k[j - 1];
		k[j] = x;
	}
}

/*
 * Push every key/value pair of the table at t onto the stack and sort its
 * string keys into s->keys[*first..s->nkeys).  Returns the number of
 * pairs; *nint counts integer keys >= 1 and *imax their largest.  A key of
 * another kind is an error naming what.
 */
static size_t collect_pairs(lua_State *L, struct script *s, int t, size_t *first,
			    size_t *nint, lua_Integer *imax, const char *what)
{
	size_t n = 0;
	int top = lua_gettop(L);	/* + 2 per pair: key, value */

	*first = s->nkeys;
	*nint = 0;
	*imax = 0;
	lua_pushnil(L);
	while (lua_next(L, t)) {
		int kt = lua_type(L, -2);

		top += 2;
		if (!(n & 15))		/* room for 16 more pairs and the key */
			luaL_checkstack(L, 33, "table too large");
		if (kt == LUA_TSTRING) {
			if (s->nkeys == s->cap_keys)
				s->keys = grow(s->keys, &s->cap_keys, s->nkeys + 1,
					       sizeof(*s->keys));
			s->keys[s->nkeys].s = lua_tolstring(L, -2, &s->keys[s->nkeys].len);
			s->keys[s->nkeys].vidx = top;
			s->nkeys++;
		} else if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1) {
			lua_Integer k = lua_tointeger(L, -2);

			(*nint)++;
			if (k > *imax)
				*imax = k;
		} else {
			fail(L, SCRIPT_ERR_RESULT, "%s: %s: a table key of type %s", s->path, what,
			     luaL_typename(L, -2));
		}
		lua_pushvalue(L, -2);
		n++;
	}
	sort_keys(s->keys + *first, s->nkeys - *first);
	return n;
}

static void put_json(lua_State *L, struct script *s, int idx, int depth, const char *what);

static void put_array(lua_State *L, struct script *s, int t, lua_Integer n, int depth,
		      const char *what)
{
	buf_putc(&s->out, '[');
	for (lua_Integer i = 1; i <= n; i++) {
		if (i > 1)
			buf_putc(&s->out, ',');
		lua_rawgeti(L, t, i);
		if (lua_isnil(L, -1))
			fail(L, SCRIPT_ERR_RESULT, "%s: %s: array element %d is nil (use rowcast.null)",
			     s->path, what, (int)i);
		put_json(L, s, lua_gettop(L), depth + 1, what);
		lua_pop(L, 1);
	}
	buf_putc(&s->out, ']');
}

static void put_table(lua_State *L, struct script *s, int t, int depth, const char *what)
{
	int base = lua_gettop(L);
	size_t first, n, nint;
	lua_Integer imax;

	if (depth >= MAX_DEPTH)
		fail(L, SCRIPT_ERR_RESULT, "%s: %s: tables nested deeper than %d levels (a cycle?)",
		     s->path, what, MAX_DEPTH);
	luaL_checkstack(L, 4, "nested tables");
	if (lua_getmetatable(L, t)) {
		lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
		if (lua_rawequal(L, -1, -2)) {
			lua_settop(L, base);
			put_array(L, s, t, (lua_Integer)lua_rawlen(L, t), depth, what);
			return;
		}
		lua_rawgetp(L, LUA_REGISTRYINDEX, &change_mt_key);
		if (lua_rawequal(L, -1, -3))
			lazy_all(L, s, t);
		lua_rawgetp(L, LUA_REGISTRYINDEX, &img_mt_key);
		if (lua_rawequal(L, -1, -4))
			image_all(L, s, t);
		lua_settop(L, base);
	}
	n = collect_pairs(L, s, t, &first, &nint, &imax, what);
	if (nint && nint < n)
		fail(L, SCRIPT_ERR_RESULT, "%s: %s: a table with both array and object keys",
		     s->path, what);
	if (nint) {
		if ((lua_Integer)nint != imax)
			fail(L, SCRIPT_ERR_RESULT, "%s: %s: an array with holes (rowcast.null "
			     "stands for a missing value)", s->path, what);
		lua_settop(L, base);
		put_array(L, s, t, imax, depth, what);
		return;
	}
	buf_putc(&s->out, '{');
	for (size_t i = 0; i < n; i++) {
		unsigned bad = 0;

		if (i)
			buf_putc(&s->out, ',');
		buf_json_str(&s->out, s->keys[first + i].s, s->keys[first + i].len, &bad);
		s->st.bad_chars += bad;
		buf_putc(&s->out, ':');
		put_json(L, s, s->keys[first + i].vidx, depth + 1, what);
	}
	buf_putc(&s->out, '}');
	s->nkeys = first;
	lua_settop(L, base);
}

/* The value at idx as JSON text appended to s->out. */
static void put_json(lua_State *L, struct script *s, int idx, int depth, const char *what)
{
	switch (lua_type(L, idx)) {
	case LUA_TBOOLEAN:
		if (lua_toboolean(L, idx))
			buf_append(&s->out, "true", 4);
		else
			buf_append(&s->out, "false", 5);
		return;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			buf_put_i64(&s->out, (int64_t)lua_tointeger(L, idx));
		} else {
			double d = (double)lua_tonumber(L, idx);

			if (!isfinite(d))
				fail(L, SCRIPT_ERR_RESULT, "%s: %s: %s has no JSON form", s->path,
				     what, isnan(d) ? "NaN" : "an infinity");
			buf_put_double(&s->out, d);
		}
		return;
	case LUA_TSTRING: {
		size_t len;
		const char *p = lua_tolstring(L, idx, &len);
		unsigned bad = 0;

		buf_json_str(&s->out, p, len, &bad);
		s->st.bad_chars += bad;
		return;
	}
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(L, idx) == &null_sentinel) {
			buf_append(&s->out, "null", 4);
			return;
		}
		break;
	case LUA_TTABLE:
		put_table(L, s, idx, depth, what);
		return;
	default:
		break;
	}
	fail(L, SCRIPT_ERR_RESULT, "%s: %s: a %s value has no JSON form", s->path, what,
	     luaL_typename(L, idx));
}

/* A string or integer field as text in out; false when it is nil. */
static bool put_text(lua_State *L, struct script *s, int idx, const char *field,
		     const char *what, size_t *off, size_t *len)
{
	size_t n;
	const char *p;

	if (lua_isnil(L, idx))
		return false;
	if (lua_type(L, idx) == LUA_TSTRING) {
		p = lua_tolstring(L, idx, &n);
		*off = s->out.len;
		buf_append(&s->out, p, n);
	} else if (lua_isinteger(L, idx)) {
		*off = s->out.len;
		buf_put_i64(&s->out, (int64_t)lua_tointeger(L, idx));
	} else {
		fail(L, SCRIPT_ERR_RESULT, "%s: %s: %s must be a string, not a %s",
		     s->path, what, field, luaL_typename(L, idx));
	}
	*len = s->out.len - *off;
	buf_putc(&s->out, '\0');
	return true;
}

static void put_headers(lua_State *L, struct script *s, int t, struct msg_rec *m,
			const char *what)
{
	int base = lua_gettop(L);
	size_t first, n, nint;
	lua_Integer imax;

	if (!lua_istable(L, t))
		fail(L, SCRIPT_ERR_RESULT, "%s: %s: headers must be a table, not a %s", s->path,
		     what, luaL_typename(L, t));
	n = collect_pairs(L, s, t, &first, &nint, &imax, what);
	if (nint)
		fail(L, SCRIPT_ERR_RESULT, "%s: %s: header names must be strings", s->path, what);
	m->hdr_first = s->nhrecs;
	m->nhdr = n;
	s->hrecs = grow(s->hrecs, &s->cap_hrecs, s->nhrecs + n, sizeof(*s->hrecs));
	for (size_t i = 0; i < n; i++) {
		struct hdr_rec *h = &s->hrecs[s->nhrecs + i];
		const struct skey *k = &s->keys[first + i];

		h->name_off = s->out.len;
		h->name_len = k->len;
		buf_append(&s->out, k->s, k->len);
		buf_putc(&s->out, '\0');
		put_text(L, s, k->vidx, "a header value", what, &h->value_off, &h->value_len);
	}
	s->nhrecs += n;
	s->nkeys = first;
	lua_settop(L, base);
}

/* Push field k of the table at t; returns its type. */
static int getk(lua_State *L, int t, int k)
{
	lua_rawgeti(L, KIDX, k);
	return lua_rawget(L, t);
}

/* The message table at t, the k-th (from 1). */
static void put_message(lua_State *L, struct script *s, int t, size_t k)
{
	char what[32], *e = what + sizeof(what) - 1;
	struct msg_rec *m;
	int base = lua_gettop(L), known = 0, all = 0;

	*e = '\0';
	e = buf_digits_back(e, k, 1) - 8;
	memcpy(e, "message ", 8);
	memmove(what, e, (size_t)(what + sizeof(what) - e));
	if (!lua_istable(L, t))
		fail(L, SCRIPT_ERR_RESULT, "%s: %s is a %s, not a table", s->path, what,
		     luaL_typename(L, t));
	s->recs = grow(s->recs, &s->cap_recs, s->nrecs + 1, sizeof(*s->recs));
	m = &s->recs[s->nrecs];
	memset(m, 0, sizeof(*m));
	m->topic_off = m->key_off = SIZE_MAX;
	if (getk(L, t, K_TOPIC) != LUA_TNIL) {
		known++;
		put_text(L, s, lua_gettop(L), "topic", what, &m->topic_off, &m->topic_len);
		if (!m->topic_len)
			fail(L, SCRIPT_ERR_RESULT, "%s: %s: topic is empty", s->path, what);
	}
	if (getk(L, t, K_KEY) != LUA_TNIL) {
		known++;
		put_text(L, s, lua_gettop(L), "key", what, &m->key_off, &m->key_len);
	}
	if (getk(L, t, K_HEADERS) != LUA_TNIL) {
		known++;
		put_headers(L, s, lua_gettop(L), m, what);
	}
	/* a misspelt field would change where the row goes, silently */
	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pop(L, 1);
		all++;
	}
	if (all != known + (getk(L, t, K_PAYLOAD) != LUA_TNIL)) {
		lua_pushnil(L);
		while (lua_next(L, t)) {
			bool ok = false;

			lua_pop(L, 1);
			for (int f = K_TOPIC; f <= K_PAYLOAD && !ok; f++) {
				lua_rawgeti(L, KIDX, f);
				ok = lua_rawequal(L, -1, -2);
				lua_pop(L, 1);
			}
			if (!ok)
				fail(L, SCRIPT_ERR_RESULT, "%s: %s: unknown field %s (topic, key, "
				     "headers, payload)", s->path, what,
				     lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) :
				     luaL_typename(L, -1));
		}
	}
	switch (lua_type(L, -1)) {	/* the payload */
	case LUA_TSTRING: {
		size_t n;
		const char *p = lua_tolstring(L, -1, &n);

		m->payload_off = s->out.len;
		buf_append(&s->out, p, n);
		break;
	}
	case LUA_TTABLE:
		m->payload_off = s->out.len;
		m->json = true;
		put_json(L, s, lua_gettop(L), 0, what);
		break;
	case LUA_TNIL:
		fail(L, SCRIPT_ERR_RESULT, "%s: %s has no payload", s->path, what);
		break;
	default:
		fail(L, SCRIPT_ERR_RESULT, "%s: %s: payload must be a table or a string, not a %s",
		     s->path, what, luaL_typename(L, -1));
	}
	m->payload_len = s->out.len - m->payload_off;
	buf_putc(&s->out, '\0');
	s->nrecs++;
	lua_settop(L, base);
}

/* What transform returned, at r: nil, a message, or a list of them. */
static void put_result(lua_State *L, struct script *s, int r)
{
	lua_Integer n;

	if (lua_isnil(L, r))
		return;
	if (!lua_istable(L, r))
		fail(L, SCRIPT_ERR_RESULT, "%s: transform returned a %s, not nil, a message or a "
		     "list of messages", s->path, luaL_typename(L, r));
	for (int f = K_PAYLOAD; f >= K_TOPIC; f--) {
		if (getk(L, r, f) != LUA_TNIL) {
			lua_pop(L, 1);
			put_message(L, s, r, 1);
			return;
		}
		lua_pop(L, 1);
	}
	/* a list: keys exactly 1..n, nothing else, or a silent drop follows */
	n = (lua_Integer)lua_rawlen(L, r);
	lua_pushnil(L);
	while (lua_next(L, r)) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n)
			fail(L, SCRIPT_ERR_RESULT, "%s: transform returned a table that is neither "
			     "a message nor a list of messages", s->path);
	}
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, r, i);
		put_message(L, s, lua_gettop(L), (size_t)i);
		lua_pop(L, 1);
	}
}

/* In protected mode: the whole row, from change to messages. */
static int run_row(lua_State *L)
{
	struct script *s = self(L);

	lua_rawgeti(L, LUA_REGISTRYINDEX, s->kref);	/* at KIDX */
	lua_rawgeti(L, LUA_REGISTRYINDEX, s->fn_ref);
	push_change(L, s, s->change);
	lua_call(L, 1, 1);
	put_result(L, s, lua_gettop(L));
	return 0;
}

enum script_status script_run(struct script *s, const struct script_change *c,
			      const struct script_msg **msgs, size_t *n,
			      char *err, size_t errlen)
{
	lua_State *L = s->L;
	enum script_status st = SCRIPT_OK;
	int rc;

	s->st.calls++;
	s->why = SCRIPT_OK;
	s->change = c;
	s->nrecs = s->nhrecs = s->nkeys = 0;
	buf_reset(&s->out);
	*msgs = NULL;
	*n = 0;
	lua_sethook(L, budget_hook, LUA_MASKCOUNT, (int)s->lim.budget);
	lua_pushcfunction(L, run_row);
	rc = lua_pcall(L, 0, 0, 0);
	s->change = NULL;
	s->change_table = NULL;
	if (rc != LUA_OK) {
		st = failed(s, rc, err, errlen);
		s->st.errors++;
		if (st == SCRIPT_ERR_MEMORY) {
			s->st.memory_errors++;
			lua_gc(L, LUA_GCCOLLECT);	/* what the call built */
		} else if (st == SCRIPT_ERR_BUDGET) {
			s->st.budget_errors++;
		}
		return st;
	}
	s->msgs = grow(s->msgs, &s->cap_msgs, s->nrecs, sizeof(*s->msgs));
	s->hdrs = grow(s->hdrs, &s->cap_hdrs, s->nhrecs, sizeof(*s->hdrs));
	for (size_t i = 0; i < s->nhrecs; i++) {
		s->hdrs[i].name = s->out.data + s->hrecs[i].name_off;
		s->hdrs[i].name_len = s->hrecs[i].name_len;
		s->hdrs[i].value = s->out.data + s->hrecs[i].value_off;
		s->hdrs[i].value_len = s->hrecs[i].value_len;
	}
	for (size_t i = 0; i < s->nrecs; i++) {
		const struct msg_rec *r = &s->recs[i];
		struct script_msg *m = &s->msgs[i];

		m->index = (uint32_t)i;
		m->topic = r->topic_off == SIZE_MAX ? NULL : s->out.data + r->topic_off;
		m->topic_len = r->topic_len;
		m->key = r->key_off == SIZE_MAX ? NULL : s->out.data + r->key_off;
		m->key_len = r->key_len;
		m->headers = r->nhdr ? s->hdrs + r->hdr_first : NULL;
		m->nheaders = r->nhdr;
		m->payload = s->out.data + r->payload_off;
		m->payload_len = r->payload_len;
		m->payload_json = r->json;
	}
	s->st.messages += s->nrecs;
	*msgs = s->msgs;
	*n = s->nrecs;
	return SCRIPT_OK;
}
