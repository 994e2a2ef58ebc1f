// The product events (contracts/catalog.py) applied once, in sequence order per aggregate, the
// way servicekit's inbox does: a cursor per aggregate, the processed event ids, out-of-order
// events parked until their predecessor arrives; every step in the transaction of the change.
package catalogreads;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

final class Events {
  private Events() {}

  static final ObjectMapper MAPPER = new ObjectMapper();

  enum Outcome {
    APPLIED,
    DUPLICATE,
    PARKED,
    REJECTED;

    String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  static final class Malformed extends Exception {
    private static final long serialVersionUID = 1L;

    Malformed(String message) {
      super(message);
    }
  }

  record Envelope(
      String eventId, String eventType, String aggregateType, String aggregateId, long sequence, JsonNode payload, String raw) {}

  private static final Pattern UUID_TEXT =
      Pattern.compile("(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$");

  private static String text(JsonNode node, String name) {
    JsonNode value = node.get(name);
    return value != null && value.isTextual() ? value.asText() : "";
  }

  /** The envelope's fields checked (contracts/envelope.py); Malformed for anything else. */
  static Envelope parse(String raw) throws Malformed {
    JsonNode node;
    try {
      node = MAPPER.readTree(raw);
    } catch (IOException e) {
      throw new Malformed("not JSON: " + e.getMessage());
    }
    if (node == null || !node.isObject()) throw new Malformed("not a JSON object");
    JsonNode version = node.get("envelope_version");
    if (version != null && !version.isNull() && !(version.isIntegralNumber() && version.asLong() == 1)) {
      throw new Malformed("unsupported envelope version " + version);
    }
    for (String name : List.of("event_id", "event_type", "aggregate_type", "aggregate_id")) {
      if (text(node, name).isEmpty()) throw new Malformed(name + " missing");
    }
    if (!UUID_TEXT.matcher(text(node, "event_id")).matches()) throw new Malformed("event_id is not a UUID");
    JsonNode sequence = node.get("sequence");
    if (sequence == null || !sequence.isIntegralNumber() || !sequence.canConvertToLong() || sequence.asLong() < 1) {
      throw new Malformed("bad sequence");
    }
    JsonNode payload = node.get("payload");
    if (payload == null || !payload.isObject()) throw new Malformed("no payload");
    return new Envelope(
        text(node, "event_id"),
        text(node, "event_type"),
        text(node, "aggregate_type"),
        text(node, "aggregate_id"),
        sequence.asLong(),
        payload,
        raw);
  }

  static Envelope parse(byte[] body) throws Malformed {
    return parse(new String(body, StandardCharsets.UTF_8));
  }

  /** Python's str.title() over slug.replace("-", " "), as the catalog names unknown categories. */
  static String titleCase(String slug) {
    StringBuilder b = new StringBuilder();
    boolean previousLetter = false;
    for (int cp : slug.replace('-', ' ').codePoints().toArray()) {
      b.appendCodePoint(previousLetter ? Character.toLowerCase(cp) : Character.toTitleCase(cp));
      previousLetter = Character.isLetter(cp);
    }
    return b.toString();
  }

  private static int execute(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement s = c.prepareStatement(sql)) {
      for (int i = 0; i < args.length; i++) s.setObject(i + 1, args[i]);
      return s.executeUpdate();
    }
  }

  private static void exactlyOne(int rows, String sku) throws SQLException {
    if (rows != 1) throw new SQLException("no product " + sku);
  }

  private static void categoryEnsure(Connection c, String slug) throws SQLException {
    execute(c, "INSERT INTO category (slug, name) VALUES (?, ?) ON CONFLICT (slug) DO NOTHING", slug, titleCase(slug));
  }

  interface Handler {
    void apply(Connection c, JsonNode p) throws SQLException;
  }

  private static void stockApply(Connection c, JsonNode p) throws SQLException {
    execute(c, "UPDATE product SET on_hand = ?, reserved = ? WHERE sku = ?",
        p.path("on_hand").asLong(), p.path("reserved").asLong(), p.path("sku").asText(""));
  }

  static final Map<String, Handler> HANDLERS =
      Map.of(
          "catalog.category_created.v1",
          (c, p) ->
              execute(c, "INSERT INTO category (slug, name) VALUES (?, ?) ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name",
                  p.path("slug").asText(""), p.path("name").asText("")),
          "catalog.product_created.v1",
          (c, p) -> {
            categoryEnsure(c, p.path("category").asText(""));
            execute(c,
                """
                INSERT INTO product (sku, name, description, category_slug, price, currency, is_active, on_hand, reserved)
                VALUES (?, ?, ?, ?, ?::numeric, ?, ?, ?, ?)
                ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
                  category_slug = EXCLUDED.category_slug, price = EXCLUDED.price, currency = EXCLUDED.currency,
                  is_active = EXCLUDED.is_active, on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved,
                  updated_at = now()""",
                p.path("sku").asText(""), p.path("name").asText(""), p.path("description").asText(""),
                p.path("category").asText(""), p.path("price").asText(""), p.path("currency").asText(""),
                p.path("is_active").asBoolean(), p.path("on_hand").asLong(), p.path("reserved").asLong());
          },
          "catalog.product_updated.v1",
          (c, p) -> {
            categoryEnsure(c, p.path("category").asText(""));
            exactlyOne(
                execute(c,
                    "UPDATE product SET name = ?, description = ?, category_slug = ?, is_active = ?, updated_at = now() WHERE sku = ?",
                    p.path("name").asText(""), p.path("description").asText(""), p.path("category").asText(""),
                    p.path("is_active").asBoolean(), p.path("sku").asText("")),
                p.path("sku").asText(""));
          },
          "catalog.product_price_changed.v1",
          (c, p) ->
              exactlyOne(
                  execute(c, "UPDATE product SET price = ?::numeric, updated_at = now() WHERE sku = ?",
                      p.path("new_price").asText(""), p.path("sku").asText("")),
                  p.path("sku").asText("")),
          // Absolute levels: V1 is V2 without `available`, so both apply the same way.
          "catalog.stock_changed.v1", Events::stockApply,
          "catalog.stock_changed.v2", Events::stockApply);

  private static long queryLong(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement s = c.prepareStatement(sql)) {
      for (int i = 0; i < args.length; i++) s.setObject(i + 1, args[i]);
      try (ResultSet r = s.executeQuery()) {
        r.next();
        return r.getLong(1);
      }
    }
  }

  /** Applies, skips or parks one envelope inside the caller's transaction; acknowledge after commit. */
  static Outcome process(Connection c, Envelope e) throws SQLException, Malformed {
    execute(c, "INSERT INTO inbox_cursor (aggregate_type, aggregate_id, last_sequence) VALUES (?, ?, 0) ON CONFLICT DO NOTHING",
        e.aggregateType(), e.aggregateId());
    long last = queryLong(c, "SELECT last_sequence FROM inbox_cursor WHERE aggregate_type = ? AND aggregate_id = ? FOR UPDATE",
        e.aggregateType(), e.aggregateId());
    long seen = queryLong(c,
        "SELECT (SELECT count(*) FROM inbox_processed WHERE event_id = ?::uuid) + (SELECT count(*) FROM inbox_parked WHERE event_id = ?::uuid)",
        e.eventId(), e.eventId());
    if (seen > 0 || e.sequence() <= last) return Outcome.DUPLICATE;
    if (e.sequence() > last + 1) {
      execute(c,
          "INSERT INTO inbox_parked (event_id, aggregate_type, aggregate_id, sequence, envelope) VALUES (?::uuid, ?, ?, ?, ?::jsonb) ON CONFLICT DO NOTHING",
          e.eventId(), e.aggregateType(), e.aggregateId(), e.sequence(), e.raw());
      return Outcome.PARKED;
    }
    long sequence = last;
    for (Envelope next = e; next != null; ) {
      Handler handler = HANDLERS.get(next.eventType());
      if (handler != null) handler.apply(c, next.payload());
      execute(c, "INSERT INTO inbox_processed (event_id, aggregate_type, aggregate_id, sequence) VALUES (?::uuid, ?, ?, ?)",
          next.eventId(), e.aggregateType(), e.aggregateId(), next.sequence());
      sequence = next.sequence();
      next = null;
      try (PreparedStatement s = c.prepareStatement(
          "DELETE FROM inbox_parked WHERE aggregate_type = ? AND aggregate_id = ? AND sequence = ? RETURNING envelope::text")) {
        s.setString(1, e.aggregateType());
        s.setString(2, e.aggregateId());
        s.setLong(3, sequence + 1);
        try (ResultSet r = s.executeQuery()) {
          if (r.next()) next = parse(r.getString(1));
        }
      }
    }
    execute(c, "UPDATE inbox_cursor SET last_sequence = ? WHERE aggregate_type = ? AND aggregate_id = ?",
        sequence, e.aggregateType(), e.aggregateId());
    return Outcome.APPLIED;
  }
}
