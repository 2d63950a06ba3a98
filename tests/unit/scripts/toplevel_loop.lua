-- SPDX-License-Identifier: MIT
-- Test fixture: its top level never ends; loading must stop it.
while true do end
function transform(change) return nil end
