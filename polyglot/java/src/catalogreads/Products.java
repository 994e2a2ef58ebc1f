// Reads on the product table, shaped like the catalog's ProductOutputSerializer.
package catalogreads;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

final class Products {
  private Products() {}

  /** An aware datetime as DRF renders it: UTC isoformat() with `Z`, microseconds only when non-zero. */
  private static String stamp(String column) {
    return ("CASE WHEN date_part('microseconds', %1$s)::bigint %% 1000000 = 0"
            + " THEN to_char(%1$s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
            + " ELSE to_char(%1$s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END")
        .formatted(column);
  }

  private static final String COLUMNS =
      "p.sku, p.name, p.description, c.slug, c.name, p.price::text, p.currency, p.is_active,"
          + " p.on_hand - p.reserved, " + stamp("p.created_at") + ", " + stamp("p.updated_at");
  private static final String FROM = "FROM product p JOIN category c ON c.slug = p.category_slug";

  private static Map<String, Object> row(ResultSet r) throws SQLException {
    long available = r.getLong(9);
    return Json.object(
        "sku", r.getString(1),
        "name", r.getString(2),
        "description", r.getString(3),
        "category", Json.object("slug", r.getString(4), "name", r.getString(5)),
        "price", r.getString(6),
        "currency", r.getString(7),
        "is_active", r.getBoolean(8),
        "stock", Json.object("available", available, "in_stock", available > 0),
        "created_at", r.getString(10),
        "updated_at", r.getString(11));
  }

  private static void bind(PreparedStatement s, List<Object> args) throws SQLException {
    for (int i = 0; i < args.size(); i++) s.setObject(i + 1, args.get(i));
  }

  /** null when there is no such product (or it is inactive and the caller not staff). */
  static Map<String, Object> get(Connection c, String sku, boolean includeInactive) throws SQLException {
    String sql = "SELECT " + COLUMNS + " " + FROM + " WHERE p.sku = ? AND (p.is_active OR ?)";
    try (PreparedStatement s = c.prepareStatement(sql)) {
      bind(s, List.of(sku, includeInactive));
      try (ResultSet r = s.executeQuery()) {
        return r.next() ? row(r) : null;
      }
    }
  }

  /** The filtered products' WHERE clause, its arguments and the ORDER BY. */
  record Selection(String clause, List<Object> args, String order) {}

  static Selection select(Query.Filters f, boolean includeInactive) {
    List<String> where = new ArrayList<>();
    List<Object> args = new ArrayList<>();
    if (!includeInactive) where.add("p.is_active");
    if (!f.q.isEmpty()) {
      String pattern = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%";
      // Django's icontains on PostgreSQL: UPPER(column) LIKE UPPER(pattern).
      List<String> any = new ArrayList<>();
      for (String column : List.of("p.name", "p.sku", "p.description")) {
        any.add("UPPER(" + column + ") LIKE UPPER(?)");
        args.add(pattern);
      }
      where.add(String.join(" OR ", any));
    }
    if (!f.category.isEmpty()) {
      where.add("c.slug = ?");
      args.add(f.category);
    }
    if (f.minPrice != null) {
      where.add("p.price >= ?::numeric");
      args.add(f.minPrice);
    }
    if (f.maxPrice != null) {
      where.add("p.price <= ?::numeric");
      args.add(f.maxPrice);
    }
    if (f.inStock != null) where.add(f.inStock ? "p.on_hand > p.reserved" : "p.on_hand <= p.reserved");
    String clause = where.isEmpty() ? "" : "WHERE (" + String.join(") AND (", where) + ")";
    String direction = f.ordering.startsWith("-") ? "DESC" : "ASC";
    String column = f.ordering.replaceFirst("^-", "");
    return new Selection(clause, args, "p." + column + " " + direction + ", p.sku " + direction);
  }

  static long count(Connection c, Selection q) throws SQLException {
    try (PreparedStatement s = c.prepareStatement("SELECT count(*) " + FROM + " " + q.clause())) {
      bind(s, q.args());
      try (ResultSet r = s.executeQuery()) {
        r.next();
        return r.getLong(1);
      }
    }
  }

  /** One page of the filtered products, ordered with the SKU as tie-breaker. */
  static List<Object> page(Connection c, Selection q, long limit, long offset) throws SQLException {
    String sql = "SELECT " + COLUMNS + " " + FROM + " " + q.clause() + " ORDER BY " + q.order() + " LIMIT ? OFFSET ?";
    try (PreparedStatement s = c.prepareStatement(sql)) {
      List<Object> args = new ArrayList<>(q.args());
      args.add(limit);
      args.add(offset);
      bind(s, args);
      List<Object> products = new ArrayList<>();
      try (ResultSet r = s.executeQuery()) {
        while (r.next()) products.add(row(r));
      }
      return products;
    }
  }
}
