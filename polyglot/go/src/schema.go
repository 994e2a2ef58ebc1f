// The read model's own tables, created at start-up (idempotent), plus the inbox's bookkeeping.
package main

const schema = `
CREATE TABLE IF NOT EXISTS category (
  slug varchar(64) PRIMARY KEY,
  name varchar(120) NOT NULL
);
CREATE TABLE IF NOT EXISTS product (
  sku varchar(32) PRIMARY KEY,
  name varchar(200) NOT NULL,
  description text NOT NULL DEFAULT '',
  category_slug varchar(64) NOT NULL REFERENCES category(slug),
  price numeric(12, 2) NOT NULL CHECK (price >= 0),
  currency varchar(3) NOT NULL,
  is_active boolean NOT NULL,
  on_hand integer NOT NULL DEFAULT 0,
  reserved integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS product_name_idx ON product (name);
CREATE INDEX IF NOT EXISTS product_price_idx ON product (price);
CREATE TABLE IF NOT EXISTS inbox_cursor (
  aggregate_type varchar(64) NOT NULL,
  aggregate_id varchar(128) NOT NULL,
  last_sequence bigint NOT NULL,
  PRIMARY KEY (aggregate_type, aggregate_id)
);
CREATE TABLE IF NOT EXISTS inbox_processed (
  event_id uuid PRIMARY KEY,
  aggregate_type varchar(64) NOT NULL,
  aggregate_id varchar(128) NOT NULL,
  sequence bigint NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS inbox_parked (
  event_id uuid PRIMARY KEY,
  aggregate_type varchar(64) NOT NULL,
  aggregate_id varchar(128) NOT NULL,
  sequence bigint NOT NULL,
  envelope jsonb NOT NULL,
  UNIQUE (aggregate_type, aggregate_id, sequence)
);
`
