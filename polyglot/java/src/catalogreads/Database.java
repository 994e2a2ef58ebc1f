// The read model's PostgreSQL database: a URL turned into JDBC's, a small pool of connections
// (Debian packages no pool library) and the schema, created at start-up (idempotent).
package catalogreads;

import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

final class Database {
  static final String SCHEMA =
      """
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
      """;

  private final String jdbcUrl;
  private final Properties properties = new Properties();
  private final BlockingQueue<Connection> idle;

  /** `postgresql://user:password@host:port/name?sslmode=...` as the other implementations take it. */
  Database(String url, int size) {
    URI uri = URI.create(url);
    String query = uri.getRawQuery() == null ? "" : uri.getRawQuery();
    for (Query.Pair p : Query.parse(query)) properties.setProperty(p.name(), p.value());
    properties.putIfAbsent("sslmode", "disable"); // as libpq's "prefer" finds here: no TLS
    String userInfo = uri.getRawUserInfo();
    if (userInfo != null) {
      String[] parts = userInfo.split(":", 2);
      properties.setProperty("user", URLDecoder.decode(parts[0], StandardCharsets.UTF_8));
      if (parts.length == 2) properties.setProperty("password", URLDecoder.decode(parts[1], StandardCharsets.UTF_8));
    }
    int port = uri.getPort() < 0 ? 5432 : uri.getPort();
    jdbcUrl = "jdbc:postgresql://" + uri.getHost() + ":" + port + uri.getRawPath();
    idle = new ArrayBlockingQueue<>(size);
  }

  Connection open() throws SQLException {
    return DriverManager.getConnection(jdbcUrl, properties);
  }

  /** A pooled connection (autocommit on); give it back with release(). */
  Connection take() throws SQLException {
    Connection c = idle.poll();
    while (c != null && c.isClosed()) c = idle.poll();
    return c != null ? c : open();
  }

  void release(Connection c, boolean healthy) {
    try {
      if (!healthy || !c.getAutoCommit() || !idle.offer(c)) c.close();
    } catch (SQLException e) {
      // closing a broken connection: nothing more to do
    }
  }

  interface Work<T> {
    T run(Connection c) throws SQLException;
  }

  <T> T with(Work<T> work) throws SQLException {
    Connection c = take();
    boolean healthy = false;
    try {
      T result = work.run(c);
      healthy = true;
      return result;
    } finally {
      release(c, healthy);
    }
  }

  void migrate() throws SQLException {
    with(c -> {
          try (Statement s = c.createStatement()) {
            s.execute(SCHEMA);
          }
          return null;
        });
  }

  /** SELECT 1 within two seconds; null when fine, else why not. */
  String check() {
    try {
      return with(c -> {
            try (Statement s = c.createStatement()) {
              s.setQueryTimeout(2);
              s.execute("SELECT 1");
            }
            return null;
          });
    } catch (SQLException e) {
      return e.getMessage();
    }
  }
}
