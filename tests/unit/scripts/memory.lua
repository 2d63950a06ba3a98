-- SPDX-License-Identifier: MIT
-- Test fixture: a table that grows without end, or a huge string; the
-- row "small" returns a message, to show the state still works.
function transform(change)
  if change.table == "small" then
    return { payload = "ok" }
  end
  if change.table == "string" then
    return { payload = string.rep("x", 1 << 30) }
  end
  local t = {}
  for i = 1, math.maxinteger do
    t[i] = "row " .. i
  end
  return { payload = t }
end
