// The HTTP side: the catalog's public product reads, health, readiness and metrics, on the
// JDK's com.sun.net.httpserver.
package catalogreads;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

final class Server implements HttpHandler {
  private static final Pattern SKU_PATH = Pattern.compile("^/api/v1/products/([A-Z0-9][A-Z0-9-]{2,31})/$");
  private static final Pattern REQUEST_ID = Pattern.compile("^[A-Za-z0-9._:\\-]{1,128}$");
  private static final Map<Integer, String> TITLES =
      Map.of(400, "Invalid request", 401, "Not authenticated", 404, "Not found", 405, "Method not allowed",
          500, "Internal server error", 503, "Temporarily unavailable");
  private static final SecureRandom RANDOM = new SecureRandom();

  /** An answer other than 200: a problem+json body. `django`: written as Django's JsonResponse. */
  static final class Problem extends Exception {
    private static final long serialVersionUID = 1L;
    final int status;
    final String code;
    final transient Map<String, Object> extra;
    final boolean django;

    Problem(int status, String code, String detail, Map<String, Object> extra, boolean django) {
      super(detail);
      this.status = status;
      this.code = code;
      this.extra = extra;
      this.django = django;
    }

    Problem(int status, String code, String detail) {
      this(status, code, detail, Map.of(), false);
    }
  }

  /** The readiness checks: whether ready, and each check's outcome. */
  record Readiness(boolean ok, Map<String, Object> checks) {}

  private final Database db;
  private final Auth auth;
  private final Metrics metrics;
  private final Supplier<Readiness> readiness;

  Server(Database db, Auth auth, Metrics metrics, Supplier<Readiness> readiness) {
    this.db = db;
    this.auth = auth;
    this.metrics = metrics;
    this.readiness = readiness;
  }

  private static void send(HttpExchange x, int status, String body, String contentType) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    x.getResponseHeaders().set("Content-Type", contentType);
    boolean head = x.getRequestMethod().equals("HEAD");
    if (head) x.getResponseHeaders().set("Content-Length", Integer.toString(bytes.length));
    x.sendResponseHeaders(status, head ? -1 : bytes.length);
    if (!head) {
      try (OutputStream out = x.getResponseBody()) {
        out.write(bytes);
      }
    }
  }

  private static void sendJson(HttpExchange x, int status, Object body) throws IOException {
    send(x, status, Json.DRF.encode(body), "application/json");
  }

  private static String baseUrl(HttpExchange x, String path) {
    String forwarded = x.getRequestHeaders().getFirst("X-Forwarded-Proto");
    String proto = forwarded != null && forwarded.split(",")[0].trim().equals("https") ? "https" : "http";
    String host = x.getRequestHeaders().getFirst("X-Forwarded-Host");
    if (host == null || host.isEmpty()) host = x.getRequestHeaders().getFirst("Host");
    if (host == null || host.isEmpty()) host = "localhost";
    return proto + "://" + host + path;
  }

  private Map<String, Object> productsPage(HttpExchange x, Connection c, String raw, Auth.Caller caller) throws Exception {
    Map<String, String> params = Query.lastValues(Query.parse(raw));
    List<Query.FieldError> fieldErrors = new ArrayList<>();
    Query.Filters f = Query.parseFilters(params, fieldErrors);
    if (!fieldErrors.isEmpty()) {
      List<String> details = new ArrayList<>();
      List<Object> items = new ArrayList<>();
      for (Query.FieldError e : fieldErrors) {
        details.add(e.field() + ": " + e.message());
        items.add(Json.object("field", e.field(), "code", e.code(), "message", e.message()));
      }
      throw new Problem(400, "validation_error", String.join("; ", details), Json.object("errors", items), false);
    }
    long size = Query.pageSize(params);
    String rawPage = params.getOrDefault("page", "");
    Long number = Query.pythonInt(rawPage.isEmpty() ? "1" : rawPage);
    if (number == null) throw new Problem(404, "not_found", "Invalid page.");
    Products.Selection q = Products.select(f, caller != null && caller.isStaff());
    long count = Products.count(c, q);
    long pages = Math.max(1, (count + size - 1) / size);
    if (number < 1 || number > pages) throw new Problem(404, "not_found", "Invalid page.");
    List<Object> rows = Products.page(c, q, size, (number - 1) * size);
    String base = baseUrl(x, "/api/v1/products/");
    String next = number < pages ? Query.pageUrl(base, raw, number + 1) : null;
    // page 1's link drops the parameter (0)
    String previous = number > 1 ? Query.pageUrl(base, raw, number == 2 ? 0 : number - 1) : null;
    return Json.object("count", count, "next", next, "previous", previous, "results", rows);
  }

  private void route(HttpExchange x, String path, String raw) throws Exception {
    switch (path) {
      case "/healthz" -> {
        sendJson(x, 200, Json.object("status", "ok"));
        return;
      }
      case "/readyz" -> {
        Readiness r = readiness.get();
        sendJson(x, r.ok() ? 200 : 503, Json.object("status", r.ok() ? "ready" : "unavailable", "checks", r.checks()));
        return;
      }
      case "/metrics" -> {
        send(x, 200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
        return;
      }
      default -> {}
    }
    Matcher detail = SKU_PATH.matcher(path);
    boolean isDetail = detail.matches();
    if (!path.equals("/api/v1/products/") && !isDetail) {
      throw new Problem(404, "not_found", "No API endpoint at " + path + ".", Map.of(), true);
    }
    String method = x.getRequestMethod();
    if (!method.equals("GET") && !method.equals("HEAD")) {
      throw new Problem(405, "method_not_allowed", "Method \"" + method + "\" not allowed.");
    }
    Auth.Caller caller;
    try {
      caller = auth.callerFrom(x.getRequestHeaders().getFirst("Authorization"));
    } catch (Auth.Failure failure) {
      if (failure.status == 503) {
        x.getResponseHeaders().set("Retry-After", Integer.toString(failure.retryAfter));
      } else {
        x.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"api\"");
      }
      throw new Problem(failure.status, failure.code, failure.getMessage());
    }
    boolean staff = caller != null && caller.isStaff();
    Object body =
        db.with(c -> {
              try {
                return isDetail ? Products.get(c, detail.group(1), staff) : productsPage(x, c, raw, caller);
              } catch (java.sql.SQLException e) {
                throw e;
              } catch (Exception e) {
                throw new Wrapped(e);
              }
            });
    if (body == null) throw new Problem(404, "not_found", "Not found.");
    sendJson(x, 200, body);
  }

  /** Carries a Problem out of a database callback. */
  private static final class Wrapped extends java.sql.SQLException {
    private static final long serialVersionUID = 1L;

    Wrapped(Exception cause) {
      super(cause);
    }
  }

  /** The path %-decoded; as sent when an escape is malformed or not UTF-8 (it matches no route). */
  static String pathUnescape(String raw) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] bytes = raw.getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < bytes.length; i++) {
      if (bytes[i] == '%') {
        if (i + 2 >= bytes.length) return raw;
        int high = Character.digit(bytes[i + 1], 16), low = Character.digit(bytes[i + 2], 16);
        if (high < 0 || low < 0) return raw;
        out.write(high * 16 + low);
        i += 2;
      } else {
        out.write(bytes[i]);
      }
    }
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(out.toByteArray()))
          .toString();
    } catch (CharacterCodingException e) {
      return raw;
    }
  }

  private static String routeName(String path) {
    if (path.equals("/api/v1/products/")) return "list";
    if (path.startsWith("/api/v1/products/")) return "detail";
    if (path.equals("/healthz") || path.equals("/readyz") || path.equals("/metrics")) return path;
    return "unmatched"; // not the raw path: a label per unknown URL would grow without bound
  }

  @Override
  public void handle(HttpExchange x) throws IOException {
    long started = System.nanoTime();
    String id = x.getRequestHeaders().getFirst("X-Request-ID");
    if (id == null || !REQUEST_ID.matcher(id).matches()) {
      byte[] random = new byte[16];
      RANDOM.nextBytes(random);
      id = HexFormat.of().formatHex(random);
    }
    x.getResponseHeaders().set("X-Request-ID", id);
    String uri = x.getRequestURI().getRawPath();
    String raw = x.getRequestURI().getRawQuery() == null ? "" : x.getRequestURI().getRawQuery();
    String path = pathUnescape(uri);
    try {
      try {
        route(x, path, raw);
      } catch (Wrapped e) {
        throw (Exception) e.getCause();
      }
    } catch (Exception error) {
      Problem p;
      if (error instanceof Problem known) {
        p = known;
      } else {
        Main.log("http.error", Map.of("error", String.valueOf(error), "path", path));
        p = new Problem(500, "server_error", "The server failed to handle the request; it was logged.", Map.of(), true);
      }
      Map<String, Object> body =
          Json.object("type", "urn:problem:strangler:" + p.code, "title", TITLES.getOrDefault(p.status, "Error"),
              "status", p.status, "detail", p.getMessage(), "code", p.code, "instance", path, "request_id", id);
      body.putAll(p.extra);
      send(x, p.status, (p.django ? Json.PYTHON : Json.DRF).encode(body), "application/problem+json");
    } finally {
      x.close();
    }
    String name = routeName(path);
    metrics.requests.inc(x.getRequestMethod(), name, Integer.toString(x.getResponseCode()));
    metrics.latency.observe(name, (System.nanoTime() - started) / 1e9);
  }
}
