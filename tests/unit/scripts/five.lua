-- SPDX-License-Identifier: MIT
-- Benchmark and test fixture: one message from five columns.
function transform(change)
  local a = change.after
  return {
    key = a.id,
    payload = { type = "OrderChanged", order = a.id, customer = a.customer_id,
                status = a.status, amount = a.amount, currency = a.currency },
  }
end
