// The read model's PostgreSQL database: a URL turned into JDBC's, a small pool of connections
// (Debian packages no pool library) and the schema, created at start-up (idempotent).
package catalogreads

import java.net.URI
import java.net.URLDecoder
import java.sql.Connection
import java.sql.DriverManager
import java.sql.PreparedStatement
import java.sql.SQLException
import java.util.Properties
import java.util.concurrent.ArrayBlockingQueue

val SCHEMA = """
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
"""

/** `postgresql://user:password@host:port/name?sslmode=...` as the other implementations take it. */
class Database(url: String, size: Int) {
    private val jdbcUrl: String
    private val properties = Properties()
    private val idle = ArrayBlockingQueue<Connection>(size)

    init {
        val uri = URI.create(url)
        for ((name, value) in parseQuery(uri.rawQuery ?: "")) properties.setProperty(name, value)
        properties.putIfAbsent("sslmode", "disable") // as libpq's "prefer" finds here: no TLS
        uri.rawUserInfo?.split(":", limit = 2)?.let { parts ->
            properties.setProperty("user", URLDecoder.decode(parts[0], "UTF-8"))
            if (parts.size == 2) properties.setProperty("password", URLDecoder.decode(parts[1], "UTF-8"))
        }
        jdbcUrl = "jdbc:postgresql://${uri.host}:${if (uri.port < 0) 5432 else uri.port}${uri.rawPath}"
    }

    fun open(): Connection = DriverManager.getConnection(jdbcUrl, properties)

    /** A pooled connection for `work` (autocommit on); closed instead of pooled if it failed. */
    fun <T> with(work: (Connection) -> T): T {
        var c = idle.poll()
        while (c != null && c.isClosed) c = idle.poll()
        val connection = c ?: open()
        var healthy = false
        try {
            return work(connection).also { healthy = true }
        } finally {
            if (!healthy || !connection.autoCommit || !idle.offer(connection)) {
                try {
                    connection.close()
                } catch (e: SQLException) {
                    // closing a broken connection: nothing more to do
                }
            }
        }
    }

    fun migrate() = with { c -> c.createStatement().use { it.execute(SCHEMA) } }

    /** SELECT 1 within two seconds; null when fine, else why not. */
    fun check(): String? = try {
        with { c -> c.createStatement().use { it.queryTimeout = 2; it.execute("SELECT 1") } }
        null
    } catch (e: SQLException) {
        e.message ?: e.toString()
    }
}

/** A statement prepared with its arguments bound, for `use`. */
fun Connection.statement(sql: String, vararg args: Any?): PreparedStatement =
    prepareStatement(sql).also { s -> args.forEachIndexed { i, a -> s.setObject(i + 1, a) } }

fun Connection.update(sql: String, vararg args: Any?): Int = statement(sql, *args).use { it.executeUpdate() }

fun Connection.long(sql: String, vararg args: Any?): Long =
    statement(sql, *args).use { s -> s.executeQuery().use { r -> r.next(); r.getLong(1) } }
