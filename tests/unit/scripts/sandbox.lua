-- SPDX-License-Identifier: MIT
-- Test fixture: which names reach a script (true: present).
function transform(change)
  local seen = {}
  for _, name in ipairs({ "io", "os", "require", "package", "debug", "load",
                          "loadfile", "dofile", "loadstring", "coroutine",
                          "collectgarbage", "print", "string", "table",
                          "math", "utf8", "pcall", "setmetatable" }) do
    seen[name] = _ENV[name] ~= nil
  end
  seen["string.dump"] = string.dump ~= nil
  seen["math.random"] = math.random ~= nil
  seen["string.rep"] = string.rep ~= nil
  seen["rowcast.null"] = rowcast.null ~= nil
  if change.table == "gc_stop" then
    collectgarbage("stop")
  end
  if change.table == "global" then
    counter = 1
  end
  if change.table == "print" then
    print("row", change.op, 42)
  end
  return { payload = seen }
end
