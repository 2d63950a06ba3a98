-- SPDX-License-Identifier: MIT
-- Test fixture: one case per table name, for results good and bad.
local cases = {}

function cases.none() return nil end

function cases.one()
  return { topic = "t/one", key = 42, headers = { z = "last", a = "first", n = 7 },
           payload = "plain text" }
end

function cases.several(change)
  local out = {}
  for i = 1, change.after.n do
    out[i] = { topic = "t/" .. i, payload = { i = i } }
  end
  return out
end

function cases.empty_list() return {} end

function cases.kinds()
  return { payload = {
    int = 42, neg = -9223372036854775807 - 1, max = math.maxinteger,
    float = 0.1, big = 1e300, tiny = 5e-324, half = 2.5, whole = 3.0,
    negzero = -0.0,
    str = "a\"b\\c\n\t\1 é €",
    yes = true, no = false, none = rowcast.null,
    arr = { 1, "two", { three = 3 } },
    obj = { b = 2, a = 1, ["é"] = 3, A = 0 },
    empty = {}, empty_arr = rowcast.array(), marked = rowcast.array({ 1, 2 }),
    nested = { { {} } },
  } }
end

function cases.raise() error("boom") end

function cases.index(change) return change.nope.x end

function cases.error_table() error({ code = 1 }) end

function cases.number() return 7 end
function cases.neither() return { foo = 1 } end
function cases.unknown_field() return { topic = "x", payload = "p", topik = "y" } end
function cases.no_payload() return { topic = "x" } end
function cases.bad_payload() return { payload = 12 } end
function cases.holes() return { payload = { 1, nil, 3 } } end
function cases.mixed() return { payload = { 1, 2, x = 3 } } end
function cases.nan() return { payload = { x = 0/0 } } end
function cases.inf() return { payload = { x = math.huge } } end
function cases.func() return { payload = { f = print } } end
function cases.cycle()
  local t = {}
  t.self = t
  return { payload = t }
end
function cases.float_key() return { payload = { [1.5] = 1 } } end
function cases.empty_topic() return { topic = "", payload = "p" } end
function cases.bad_key() return { key = 1.5, payload = "p" } end
function cases.bad_header() return { headers = { x = {} }, payload = "p" } end
function cases.list_of_junk() return { 1, 2 } end
function cases.second_bad() return { { payload = "ok" }, { payload = true } } end

function cases.write_after(change) change.after.extra = 1 end
function cases.write_change(change) change.note = "x" end
function cases.keys(change)
  local keys = {}
  for k in pairs(change) do keys[#keys + 1] = k end
  table.sort(keys)
  return { payload = table.concat(keys, ",") }
end
function cases.update_field(change)
  change.after.n = 99                   -- an existing field: allowed, this row only
  return { payload = change.after }
end

function transform(change)
  local f = cases[change.table]
  if not f then
    error("no case " .. change.table)
  end
  return f(change)
end

-- columns are converted when read: one read, one changed, then all of them
function cases.lazy_image(change)
  local a = change.after
  local y = a.y
  a.x = 10
  local n = 0
  for _ in pairs(a) do n = n + 1 end
  return { payload = { y = y, n = n, after = a, before = change.before } }
end
