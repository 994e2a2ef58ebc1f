// Reads on the product table, shaped like the catalog's ProductOutputSerializer.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// stamp renders an aware datetime as DRF does: UTC isoformat() with `Z`, microseconds only
// when non-zero.
func stamp(column string) string {
	return fmt.Sprintf(`CASE WHEN date_part('microseconds', %[1]s)::bigint %% 1000000 = 0
  THEN to_char(%[1]s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
  ELSE to_char(%[1]s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END`, column)
}

var columns = `p.sku, p.name, p.description, c.slug, c.name, p.price::text, p.currency, p.is_active,
  p.on_hand - p.reserved, ` + stamp("p.created_at") + `, ` + stamp("p.updated_at")

const productsFrom = "FROM product p JOIN category c ON c.slug = p.category_slug"

type scanner interface{ Scan(dest ...any) error }

func productScan(row scanner) (object, error) {
	var sku, name, description, slug, categoryName, price, currency, created, updated string
	var active bool
	var available int64
	err := row.Scan(&sku, &name, &description, &slug, &categoryName, &price, &currency, &active,
		&available, &created, &updated)
	if err != nil {
		return nil, err
	}
	return object{
		{"sku", sku}, {"name", name}, {"description", description},
		{"category", object{{"slug", slug}, {"name", categoryName}}},
		{"price", price}, {"currency", currency}, {"is_active", active},
		{"stock", object{{"available", available}, {"in_stock", available > 0}}},
		{"created_at", created}, {"updated_at", updated},
	}, nil
}

// productGet is nil when there is no such product (or it is inactive and the caller not staff).
func productGet(ctx context.Context, db *sql.DB, sku string, includeInactive bool) (object, error) {
	row := db.QueryRowContext(ctx,
		"SELECT "+columns+" "+productsFrom+" WHERE p.sku = $1 AND (p.is_active OR $2)", sku, includeInactive)
	product, err := productScan(row)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	return product, err
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// productQuery is the filtered products' WHERE clause, its arguments and the ORDER BY.
type productQuery struct {
	clause, order string
	args          []any
}

func productQueryFor(f filters, includeInactive bool) productQuery {
	var where []string
	var args []any
	arg := func(value any) string {
		args = append(args, value)
		return fmt.Sprintf("$%d", len(args))
	}
	if !includeInactive {
		where = append(where, "p.is_active")
	}
	if f.q != "" {
		pattern := arg("%" + likeEscaper.Replace(f.q) + "%")
		// Django's icontains on PostgreSQL: UPPER(column) LIKE UPPER(pattern).
		var any []string
		for _, column := range []string{"p.name", "p.sku", "p.description"} {
			any = append(any, fmt.Sprintf("UPPER(%s) LIKE UPPER(%s)", column, pattern))
		}
		where = append(where, strings.Join(any, " OR "))
	}
	if f.category != "" {
		where = append(where, "c.slug = "+arg(f.category))
	}
	if f.minPrice != "" {
		where = append(where, "p.price >= "+arg(f.minPrice)+"::numeric")
	}
	if f.maxPrice != "" {
		where = append(where, "p.price <= "+arg(f.maxPrice)+"::numeric")
	}
	if f.inStock != nil && *f.inStock {
		where = append(where, "p.on_hand > p.reserved")
	}
	if f.inStock != nil && !*f.inStock {
		where = append(where, "p.on_hand <= p.reserved")
	}
	q := productQuery{args: args}
	if len(where) > 0 {
		q.clause = "WHERE (" + strings.Join(where, ") AND (") + ")"
	}
	direction := "ASC"
	if strings.HasPrefix(f.ordering, "-") {
		direction = "DESC"
	}
	column := strings.TrimPrefix(f.ordering, "-")
	q.order = fmt.Sprintf("p.%s %s, p.sku %s", column, direction, direction)
	return q
}

func productCount(ctx context.Context, db *sql.DB, q productQuery) (int64, error) {
	var count int64
	err := db.QueryRowContext(ctx, "SELECT count(*) "+productsFrom+" "+q.clause, q.args...).Scan(&count)
	return count, err
}

// productPage is one page of the filtered products, ordered with the SKU as tie-breaker.
func productPage(ctx context.Context, db *sql.DB, q productQuery, limit, offset int64) ([]object, error) {
	n := len(q.args)
	text := fmt.Sprintf("SELECT %s %s %s ORDER BY %s LIMIT $%d OFFSET $%d",
		columns, productsFrom, q.clause, q.order, n+1, n+2)
	rows, err := db.QueryContext(ctx, text, append(append([]any{}, q.args...), limit, offset)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	products := []object{}
	for rows.Next() {
		product, err := productScan(rows)
		if err != nil {
			return nil, err
		}
		products = append(products, product)
	}
	return products, rows.Err()
}
