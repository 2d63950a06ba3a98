-- SPDX-License-Identifier: MIT
-- Test fixture: does not compile.
function transform(change)
  return { payload = = 1 }
end
