// The product events (contracts/catalog.py) applied once, in sequence order per aggregate, the
// way servicekit's inbox does: a cursor per aggregate, the processed event ids, out-of-order
// events parked until their predecessor arrives; every step in the transaction of the change.
package catalogreads

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.ObjectMapper
import java.io.IOException
import java.sql.Connection
import java.sql.SQLException

val MAPPER = ObjectMapper()

enum class Outcome { APPLIED, DUPLICATE, PARKED, REJECTED }

class Malformed(message: String) : Exception(message)

class Envelope(
    val eventId: String,
    val eventType: String,
    val aggregateType: String,
    val aggregateId: String,
    val sequence: Long,
    val payload: JsonNode,
    val raw: String
)

private val UUID_TEXT = Regex("(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")

private fun JsonNode.text(name: String): String = get(name)?.takeIf { it.isTextual }?.asText() ?: ""

/** The envelope's fields checked (contracts/envelope.py); Malformed for anything else. */
fun envelopeParse(raw: String): Envelope {
    val node = try {
        MAPPER.readTree(raw)
    } catch (e: IOException) {
        throw Malformed("not JSON: ${e.message}")
    }
    if (node == null || !node.isObject) throw Malformed("not a JSON object")
    val version = node.get("envelope_version")
    if (version != null && !version.isNull && !(version.isIntegralNumber && version.asLong() == 1L)) {
        throw Malformed("unsupported envelope version $version")
    }
    for (name in listOf("event_id", "event_type", "aggregate_type", "aggregate_id")) {
        if (node.text(name) == "") throw Malformed("$name missing")
    }
    if (!UUID_TEXT.matches(node.text("event_id"))) throw Malformed("event_id is not a UUID")
    val sequence = node.get("sequence")
    if (sequence == null || !sequence.isIntegralNumber || !sequence.canConvertToLong() || sequence.asLong() < 1) {
        throw Malformed("bad sequence")
    }
    val payload = node.get("payload")?.takeIf { it.isObject } ?: throw Malformed("no payload")
    return Envelope(node.text("event_id"), node.text("event_type"), node.text("aggregate_type"),
        node.text("aggregate_id"), sequence.asLong(), payload, raw)
}

/** Python's str.title() over slug.replace("-", " "), as the catalog names unknown categories. */
fun titleCase(slug: String): String {
    val b = StringBuilder()
    var previousLetter = false
    slug.replace('-', ' ').codePoints().forEach { cp ->
        b.appendCodePoint(if (previousLetter) Character.toLowerCase(cp) else Character.toTitleCase(cp))
        previousLetter = Character.isLetter(cp)
    }
    return b.toString()
}

private fun JsonNode.str(name: String) = path(name).asText("")

private fun exactlyOne(rows: Int, sku: String) {
    if (rows != 1) throw SQLException("no product $sku")
}

private fun categoryEnsure(c: Connection, slug: String) {
    c.update("INSERT INTO category (slug, name) VALUES (?, ?) ON CONFLICT (slug) DO NOTHING", slug, titleCase(slug))
}

private fun stockApply(c: Connection, p: JsonNode) {
    c.update("UPDATE product SET on_hand = ?, reserved = ? WHERE sku = ?", p.path("on_hand").asLong(), p.path("reserved").asLong(), p.str("sku"))
}

private fun categoryCreated(c: Connection, p: JsonNode) {
    c.update("INSERT INTO category (slug, name) VALUES (?, ?) ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name", p.str("slug"), p.str("name"))
}

private fun productCreated(c: Connection, p: JsonNode) {
    categoryEnsure(c, p.str("category"))
    c.update(
        """
        INSERT INTO product (sku, name, description, category_slug, price, currency, is_active, on_hand, reserved)
        VALUES (?, ?, ?, ?, ?::numeric, ?, ?, ?, ?)
        ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
          category_slug = EXCLUDED.category_slug, price = EXCLUDED.price, currency = EXCLUDED.currency,
          is_active = EXCLUDED.is_active, on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved,
          updated_at = now()""",
        p.str("sku"), p.str("name"), p.str("description"), p.str("category"), p.str("price"), p.str("currency"),
        p.path("is_active").asBoolean(), p.path("on_hand").asLong(), p.path("reserved").asLong()
    )
}

private fun productUpdated(c: Connection, p: JsonNode) {
    categoryEnsure(c, p.str("category"))
    exactlyOne(
        c.update("UPDATE product SET name = ?, description = ?, category_slug = ?, is_active = ?, updated_at = now() WHERE sku = ?",
            p.str("name"), p.str("description"), p.str("category"), p.path("is_active").asBoolean(), p.str("sku")),
        p.str("sku")
    )
}

private fun priceChanged(c: Connection, p: JsonNode) {
    exactlyOne(c.update("UPDATE product SET price = ?::numeric, updated_at = now() WHERE sku = ?", p.str("new_price"), p.str("sku")), p.str("sku"))
}

val HANDLERS: Map<String, (Connection, JsonNode) -> Unit> = mapOf(
    "catalog.category_created.v1" to ::categoryCreated,
    "catalog.product_created.v1" to ::productCreated,
    "catalog.product_updated.v1" to ::productUpdated,
    "catalog.product_price_changed.v1" to ::priceChanged,
    // Absolute levels: V1 is V2 without `available`, so both apply the same way.
    "catalog.stock_changed.v1" to ::stockApply,
    "catalog.stock_changed.v2" to ::stockApply
)

/** Applies, skips or parks one envelope inside the caller's transaction; acknowledge after commit. */
fun envelopeProcess(c: Connection, e: Envelope): Outcome {
    c.update("INSERT INTO inbox_cursor (aggregate_type, aggregate_id, last_sequence) VALUES (?, ?, 0) ON CONFLICT DO NOTHING",
        e.aggregateType, e.aggregateId)
    val last = c.long("SELECT last_sequence FROM inbox_cursor WHERE aggregate_type = ? AND aggregate_id = ? FOR UPDATE",
        e.aggregateType, e.aggregateId)
    val seen = c.long(
        "SELECT (SELECT count(*) FROM inbox_processed WHERE event_id = ?::uuid) + (SELECT count(*) FROM inbox_parked WHERE event_id = ?::uuid)",
        e.eventId, e.eventId)
    if (seen > 0 || e.sequence <= last) return Outcome.DUPLICATE
    if (e.sequence > last + 1) {
        c.update("INSERT INTO inbox_parked (event_id, aggregate_type, aggregate_id, sequence, envelope) VALUES (?::uuid, ?, ?, ?, ?::jsonb) ON CONFLICT DO NOTHING",
            e.eventId, e.aggregateType, e.aggregateId, e.sequence, e.raw)
        return Outcome.PARKED
    }
    var sequence = last
    var next: Envelope? = e
    while (next != null) {
        HANDLERS[next.eventType]?.invoke(c, next.payload)
        c.update("INSERT INTO inbox_processed (event_id, aggregate_type, aggregate_id, sequence) VALUES (?::uuid, ?, ?, ?)",
            next.eventId, e.aggregateType, e.aggregateId, next.sequence)
        sequence = next.sequence
        next = c.statement("DELETE FROM inbox_parked WHERE aggregate_type = ? AND aggregate_id = ? AND sequence = ? RETURNING envelope::text",
            e.aggregateType, e.aggregateId, sequence + 1).use { s ->
            s.executeQuery().use { r -> if (r.next()) envelopeParse(r.getString(1)) else null }
        }
    }
    c.update("UPDATE inbox_cursor SET last_sequence = ? WHERE aggregate_type = ? AND aggregate_id = ?", sequence, e.aggregateType, e.aggregateId)
    return Outcome.APPLIED
}
