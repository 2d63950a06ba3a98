-- SPDX-License-Identifier: MIT
-- bench/run rc_stdout_script: a small route script, one message built from
-- five columns of rctest.wide (the after image, or the before of a delete).
function transform(change)
  local r = change.after or change.before
  return {
    key = r.id,
    payload = { type = "WideChanged", id = r.id, amount = r.c_dec, status = r.c_enum,
                name = r.c_vc, at = r.c_dt },
  }
end
