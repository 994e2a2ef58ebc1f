// Reads on the product table, shaped like the catalog's ProductOutputSerializer.

import type { Pool } from "pg";
import type { Filters } from "./query.js";

// DRF renders an aware datetime in UTC as isoformat() with `Z`: microseconds only when non-zero.
const STAMP = (column: string) => `CASE WHEN date_part('microseconds', ${column})::bigint % 1000000 = 0
  THEN to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
  ELSE to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END`;

const COLUMNS = `p.sku, p.name, p.description, c.slug AS category_slug, c.name AS category_name,
  p.price::text AS price, p.currency, p.is_active, p.on_hand, p.reserved,
  ${STAMP("p.created_at")} AS created_at, ${STAMP("p.updated_at")} AS updated_at`;

export interface ProductOut {
  sku: string;
  name: string;
  description: string;
  category: { slug: string; name: string };
  price: string;
  currency: string;
  is_active: boolean;
  stock: { available: number; in_stock: boolean };
  created_at: string;
  updated_at: string;
}

function shape(row: any): ProductOut {
  const available = row.on_hand - row.reserved;
  return {
    sku: row.sku,
    name: row.name,
    description: row.description,
    category: { slug: row.category_slug, name: row.category_name },
    price: row.price,
    currency: row.currency,
    is_active: row.is_active,
    stock: { available, in_stock: available > 0 },
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export async function productGet(db: Pool, sku: string, includeInactive: boolean): Promise<ProductOut | null> {
  const result = await db.query(
    `SELECT ${COLUMNS} FROM product p JOIN category c ON c.slug = p.category_slug
     WHERE p.sku = $1 AND (p.is_active OR $2)`,
    [sku, includeInactive],
  );
  return result.rowCount ? shape(result.rows[0]) : null;
}

function likeEscape(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => "\\" + c)}%`;
}

/** The filtered products' count and one page of them, ordered with the SKU as tie-breaker. */
export async function productList(
  db: Pool,
  filters: Filters,
  includeInactive: boolean,
  limit: number,
  offset: number,
): Promise<{ count: number; rows: ProductOut[] }> {
  const where: string[] = [];
  const args: unknown[] = [];
  const arg = (value: unknown) => `$${args.push(value)}`;
  if (!includeInactive) where.push("p.is_active");
  if (filters.q) {
    const pattern = arg(likeEscape(filters.q));
    // Django's icontains on PostgreSQL: UPPER(column) LIKE UPPER(pattern).
    where.push(["p.name", "p.sku", "p.description"].map((c) => `UPPER(${c}) LIKE UPPER(${pattern})`).join(" OR "));
  }
  if (filters.category) where.push(`c.slug = ${arg(filters.category)}`);
  if (filters.minPrice !== null) where.push(`p.price >= ${arg(filters.minPrice)}::numeric`);
  if (filters.maxPrice !== null) where.push(`p.price <= ${arg(filters.maxPrice)}::numeric`);
  if (filters.inStock === true) where.push("p.on_hand > p.reserved");
  if (filters.inStock === false) where.push("p.on_hand <= p.reserved");
  const clause = where.length ? `WHERE ${where.map((w) => `(${w})`).join(" AND ")}` : "";
  const from = "FROM product p JOIN category c ON c.slug = p.category_slug";
  const descending = filters.ordering.startsWith("-");
  const column = filters.ordering.replace(/^-/, "");
  const order = `p.${column} ${descending ? "DESC" : "ASC"}, p.sku ${descending ? "DESC" : "ASC"}`;
  const counted = await db.query(`SELECT count(*)::int AS n ${from} ${clause}`, args);
  const count = counted.rows[0].n as number;
  if (offset >= count && offset > 0) return { count, rows: [] };
  const page = await db.query(
    `SELECT ${COLUMNS} ${from} ${clause} ORDER BY ${order} LIMIT ${arg(limit)} OFFSET ${arg(offset)}`,
    args,
  );
  return { count, rows: page.rows.map(shape) };
}
