// The product events (contracts/catalog.py) applied once, in sequence order per aggregate, the way
// servicekit's inbox does: a cursor per aggregate, the processed event ids, out-of-order events
// parked until their predecessor arrives; every step in the same transaction as the change.

import type { PoolClient } from "pg";

export interface Envelope {
  event_id: string;
  event_type: string;
  aggregate_type: string;
  aggregate_id: string;
  sequence: number;
  payload: Record<string, unknown>;
}

export type Outcome = "applied" | "duplicate" | "parked";

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** The envelope's fields checked (servicekit/events/envelope.py); throws on anything malformed. */
export function envelopeParse(text: string): Envelope {
  const data = JSON.parse(text);
  const version = data.envelope_version ?? 1;
  if (version !== 1) throw new Error(`unsupported envelope version ${version}`);
  for (const name of ["event_id", "event_type", "aggregate_type", "aggregate_id"]) {
    if (typeof data[name] !== "string" || !data[name]) throw new Error(`${name} missing`);
  }
  if (!UUID.test(data.event_id)) throw new Error("event_id is not a UUID");
  if (!Number.isInteger(data.sequence) || data.sequence < 1) throw new Error("bad sequence");
  if (typeof data.payload !== "object" || data.payload === null) throw new Error("no payload");
  return data as Envelope;
}

function titleCase(slug: string): string {
  // Python's str.title() over slug.replace("-", " "), as the catalog names unknown categories.
  return slug.replace(/-/g, " ").toLowerCase().replace(/[a-z]+/g, (w) => w[0].toUpperCase() + w.slice(1));
}

async function categoryEnsure(db: PoolClient, slug: string): Promise<void> {
  await db.query("INSERT INTO category (slug, name) VALUES ($1, $2) ON CONFLICT (slug) DO NOTHING", [
    slug,
    titleCase(slug),
  ]);
}

type Handler = (db: PoolClient, p: any) => Promise<void>;

const HANDLERS: Record<string, Handler> = {
  "catalog.category_created.v1": async (db, p) => {
    await db.query(
      "INSERT INTO category (slug, name) VALUES ($1, $2) ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name",
      [p.slug, p.name],
    );
  },
  "catalog.product_created.v1": async (db, p) => {
    await categoryEnsure(db, p.category);
    await db.query(
      `INSERT INTO product (sku, name, description, category_slug, price, currency, is_active, on_hand, reserved)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
         category_slug = EXCLUDED.category_slug, price = EXCLUDED.price, currency = EXCLUDED.currency,
         is_active = EXCLUDED.is_active, on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved,
         updated_at = now()`,
      [p.sku, p.name, p.description, p.category, p.price, p.currency, p.is_active, p.on_hand, p.reserved],
    );
  },
  "catalog.product_updated.v1": async (db, p) => {
    await categoryEnsure(db, p.category);
    const done = await db.query(
      `UPDATE product SET name = $2, description = $3, category_slug = $4, is_active = $5, updated_at = now()
       WHERE sku = $1`,
      [p.sku, p.name, p.description, p.category, p.is_active],
    );
    if (done.rowCount !== 1) throw new Error(`no product ${p.sku}`);
  },
  "catalog.product_price_changed.v1": async (db, p) => {
    const done = await db.query("UPDATE product SET price = $2, updated_at = now() WHERE sku = $1", [
      p.sku,
      p.new_price,
    ]);
    if (done.rowCount !== 1) throw new Error(`no product ${p.sku}`);
  },
  // Absolute levels: V1 is V2 without `available`, so both apply the same way.
  "catalog.stock_changed.v1": async (db, p) => stockApply(db, p),
  "catalog.stock_changed.v2": async (db, p) => stockApply(db, p),
};

async function stockApply(db: PoolClient, p: any): Promise<void> {
  await db.query("UPDATE product SET on_hand = $2, reserved = $3 WHERE sku = $1", [p.sku, p.on_hand, p.reserved]);
}

/** Apply, skip or park one envelope. Call inside a transaction; acknowledge after commit. */
export async function envelopeProcess(db: PoolClient, envelope: Envelope): Promise<Outcome> {
  const key = [envelope.aggregate_type, envelope.aggregate_id];
  await db.query(
    `INSERT INTO inbox_cursor (aggregate_type, aggregate_id, last_sequence) VALUES ($1, $2, 0)
     ON CONFLICT DO NOTHING`,
    key,
  );
  const cursor = await db.query(
    "SELECT last_sequence FROM inbox_cursor WHERE aggregate_type = $1 AND aggregate_id = $2 FOR UPDATE",
    key,
  );
  const last = Number(cursor.rows[0].last_sequence);
  const seen = await db.query(
    "SELECT 1 FROM inbox_processed WHERE event_id = $1 UNION ALL SELECT 1 FROM inbox_parked WHERE event_id = $1",
    [envelope.event_id],
  );
  if (seen.rowCount || envelope.sequence <= last) return "duplicate";
  if (envelope.sequence > last + 1) {
    await db.query(
      `INSERT INTO inbox_parked (event_id, aggregate_type, aggregate_id, sequence, envelope)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
      [envelope.event_id, ...key, envelope.sequence, JSON.stringify(envelope)],
    );
    return "parked";
  }
  let next: Envelope | null = envelope;
  let sequence = last;
  while (next) {
    const handler = HANDLERS[next.event_type];
    if (handler) await handler(db, next.payload);
    await db.query(
      "INSERT INTO inbox_processed (event_id, aggregate_type, aggregate_id, sequence) VALUES ($1, $2, $3, $4)",
      [next.event_id, ...key, next.sequence],
    );
    sequence = next.sequence;
    const parked = await db.query(
      `DELETE FROM inbox_parked WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3
       RETURNING envelope`,
      [...key, sequence + 1],
    );
    next = parked.rowCount ? (parked.rows[0].envelope as Envelope) : null;
  }
  await db.query(
    "UPDATE inbox_cursor SET last_sequence = $3 WHERE aggregate_type = $1 AND aggregate_id = $2",
    [...key, sequence],
  );
  return "applied";
}
