-- SPDX-License-Identifier: MIT
-- Test fixture: loops that never end, one of them catching the error.
function transform(change)
  if change.table == "small" then
    return { payload = "ok" }
  end
  if change.table == "catch" then
    while true do
      pcall(function() while true do end end)
    end
  end
  local n = 0
  while true do
    n = n + 1
  end
end
