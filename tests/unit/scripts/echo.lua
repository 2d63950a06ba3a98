-- SPDX-License-Identifier: MIT
-- Test fixture: the change back as one message, every field of it.
function transform(change)
  return {
    topic = "echo/" .. change.db .. "/" .. change.table,
    key = change.id,
    payload = change,
  }
end
