-- An order service that publishes domain events through a transactional
-- outbox: the order row and its event are written in one transaction, and
-- the outbox row is deleted again in the same transaction, so the table
-- stays empty.  rowcast turns the outbox inserts into events; no polling.
CREATE DATABASE IF NOT EXISTS shop;
USE shop;

CREATE TABLE IF NOT EXISTS orders (
  id BIGINT UNSIGNED PRIMARY KEY,
  customer VARCHAR(100) NOT NULL,
  status ENUM('placed', 'paid', 'shipped', 'cancelled') NOT NULL,
  total DECIMAL(12,2) NOT NULL,
  card_token VARCHAR(64) NULL,            -- a secret: never published
  placed_at DATETIME(3) NOT NULL
) CHARACTER SET utf8mb4;

CREATE TABLE IF NOT EXISTS customers (
  id BIGINT UNSIGNED PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(254) NOT NULL
) CHARACTER SET utf8mb4;

CREATE TABLE IF NOT EXISTS outbox (
  id CHAR(36) PRIMARY KEY,                -- the event id (message id)
  aggregatetype VARCHAR(64) NOT NULL,     -- Order, Customer, ...
  aggregateid VARCHAR(64) NOT NULL,       -- the message key
  type VARCHAR(64) NOT NULL,              -- OrderPlaced, OrderPaid, ...
  payload JSON NOT NULL,                  -- published as is
  tenant VARCHAR(32) NULL,                -- sent as a header
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) CHARACTER SET utf8mb4;

-- Placing an order, as the service does it:
--   BEGIN;
--   INSERT INTO orders VALUES (42, 'ada', 'placed', 19.90, 'tok_x', NOW(3));
--   INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, tenant)
--     VALUES (UUID(), 'Order', '42', 'OrderPlaced', '{"orderId":42,"total":"19.90"}', 'eu');
--   DELETE FROM outbox WHERE aggregateid = '42';
--   COMMIT;
