// Reads on the product table, shaped like the catalog's ProductOutputSerializer.
package catalogreads

import java.sql.Connection
import java.sql.ResultSet

/** An aware datetime as DRF renders it: UTC isoformat() with `Z`, microseconds only when non-zero. */
private fun stamp(column: String) =
    "CASE WHEN date_part('microseconds', $column)::bigint % 1000000 = 0" +
        " THEN to_char($column AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')" +
        " ELSE to_char($column AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END"

private val COLUMNS = "p.sku, p.name, p.description, c.slug, c.name, p.price::text, p.currency, p.is_active," +
    " p.on_hand - p.reserved, ${stamp("p.created_at")}, ${stamp("p.updated_at")}"
private const val FROM = "FROM product p JOIN category c ON c.slug = p.category_slug"

private fun row(r: ResultSet): Map<String, Any?> {
    val available = r.getLong(9)
    return obj(
        "sku" to r.getString(1),
        "name" to r.getString(2),
        "description" to r.getString(3),
        "category" to obj("slug" to r.getString(4), "name" to r.getString(5)),
        "price" to r.getString(6),
        "currency" to r.getString(7),
        "is_active" to r.getBoolean(8),
        "stock" to obj("available" to available, "in_stock" to (available > 0)),
        "created_at" to r.getString(10),
        "updated_at" to r.getString(11)
    )
}

/** null when there is no such product (or it is inactive and the caller not staff). */
fun productGet(c: Connection, sku: String, includeInactive: Boolean): Map<String, Any?>? =
    c.statement("SELECT $COLUMNS $FROM WHERE p.sku = ? AND (p.is_active OR ?)", sku, includeInactive).use { s ->
        s.executeQuery().use { r -> if (r.next()) row(r) else null }
    }

/** The filtered products' WHERE clause, its arguments and the ORDER BY. */
class Selection(val clause: String, val args: List<Any>, val order: String)

fun productSelection(f: Filters, includeInactive: Boolean): Selection {
    val where = mutableListOf<String>()
    val args = mutableListOf<Any>()
    if (!includeInactive) where.add("p.is_active")
    if (f.q.isNotEmpty()) {
        val pattern = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        // Django's icontains on PostgreSQL: UPPER(column) LIKE UPPER(pattern).
        where.add(listOf("p.name", "p.sku", "p.description").joinToString(" OR ") { args.add(pattern); "UPPER($it) LIKE UPPER(?)" })
    }
    if (f.category.isNotEmpty()) {
        where.add("c.slug = ?")
        args.add(f.category)
    }
    f.minPrice?.let { where.add("p.price >= ?::numeric"); args.add(it) }
    f.maxPrice?.let { where.add("p.price <= ?::numeric"); args.add(it) }
    f.inStock?.let { where.add(if (it) "p.on_hand > p.reserved" else "p.on_hand <= p.reserved") }
    val clause = if (where.isEmpty()) "" else where.joinToString(") AND (", "WHERE (", ")")
    val direction = if (f.ordering.startsWith("-")) "DESC" else "ASC"
    return Selection(clause, args, "p.${f.ordering.removePrefix("-")} $direction, p.sku $direction")
}

fun productCount(c: Connection, q: Selection): Long = c.long("SELECT count(*) $FROM ${q.clause}", *q.args.toTypedArray())

/** One page of the filtered products, ordered with the SKU as tie-breaker. */
fun productPage(c: Connection, q: Selection, limit: Long, offset: Long): List<Map<String, Any?>> =
    c.statement("SELECT $COLUMNS $FROM ${q.clause} ORDER BY ${q.order} LIMIT ? OFFSET ?", *(q.args + listOf(limit, offset)).toTypedArray())
        .use { s -> s.executeQuery().use { r -> generateSequence { if (r.next()) row(r) else null }.toList() } }
