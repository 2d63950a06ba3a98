-- SPDX-License-Identifier: MIT
-- Test fixture: compiles, but defines no transform.
function transfrom(change) return nil end
