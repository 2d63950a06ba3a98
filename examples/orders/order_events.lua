-- SPDX-License-Identifier: MIT
-- rowcast route script: an OrderPaid domain event when an order's status
-- changes to 'paid'.  For the table orders(id, customer, status, total, ...)
-- of schema.sql; every other change of the table publishes nothing.
--
--   [route order_paid_event]
--   match = shop.orders
--   ops = update
--   when = changed(status) and after.status = 'paid'
--   script = order_events.lua
--
-- rowcast calls transform(change) once per row change of the route and
-- publishes what it returns (see rowcast.conf(5), SCRIPTS).

function transform(change)
  local before, after = change.before, change.after
  -- only updates carry both images; only the move to 'paid' is an event
  if change.op ~= "update" or after.status ~= "paid" or before.status == "paid" then
    return nil
  end
  return {
    topic = "events/Order/OrderPaid",
    key = after.id,                      -- one order's events stay in order
    headers = { event_type = "OrderPaid" },
    payload = {
      type = "OrderPaid",
      eventId = change.id .. "/0",       -- the id rowcast gives this message
                                         -- (its first message of the row)
      orderId = after.id,
      customer = after.customer,
      total = after.total,               -- DECIMAL: a string, all its digits
      paidAt = change.ts,                -- commit time, ms since the epoch
    },
  }
end
