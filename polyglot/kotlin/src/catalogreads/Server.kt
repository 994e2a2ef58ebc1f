// The HTTP side: the catalog's public product reads, health, readiness and metrics, on the
// JDK's com.sun.net.httpserver.
package catalogreads

import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpHandler
import java.nio.ByteBuffer
import java.nio.charset.CharacterCodingException
import java.nio.charset.CodingErrorAction
import java.security.SecureRandom
import java.sql.Connection

private val SKU_PATH = Regex("^/api/v1/products/([A-Z0-9][A-Z0-9-]{2,31})/$")
private val REQUEST_ID = Regex("^[A-Za-z0-9._:\\-]{1,128}$")
private val TITLES = mapOf(400 to "Invalid request", 401 to "Not authenticated", 404 to "Not found",
    405 to "Method not allowed", 500 to "Internal server error", 503 to "Temporarily unavailable")
private val RANDOM = SecureRandom()

/** An answer other than 200: a problem+json body. `django`: written as Django's JsonResponse. */
class Problem(
    val status: Int,
    val code: String,
    detail: String,
    val extra: Map<String, Any?> = emptyMap(),
    val django: Boolean = false
) : Exception(detail)

/** Whether ready, and each check's outcome. */
class Readiness(val ok: Boolean, val checks: Map<String, Any?>)

/** The path %-decoded; as sent when an escape is malformed or not UTF-8 (it matches no route). */
fun pathUnescape(raw: String): String {
    val bytes = percentDecode(raw, true) ?: return raw
    return try {
        Charsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(ByteBuffer.wrap(bytes)).toString()
    } catch (e: CharacterCodingException) {
        raw
    }
}

private fun routeName(path: String) = when {
    path == "/api/v1/products/" -> "list"
    path.startsWith("/api/v1/products/") -> "detail"
    path == "/healthz" || path == "/readyz" || path == "/metrics" -> path
    else -> "unmatched" // not the raw path: a label per unknown URL would grow without bound
}

class Server(
    private val db: Database,
    private val verifier: Verifier,
    private val metrics: Metrics,
    private val readiness: () -> Readiness
) : HttpHandler {
    private fun send(x: HttpExchange, status: Int, body: String, contentType: String) {
        val bytes = body.toByteArray(Charsets.UTF_8)
        x.responseHeaders.set("Content-Type", contentType)
        val head = x.requestMethod == "HEAD"
        if (head) x.responseHeaders.set("Content-Length", bytes.size.toString())
        x.sendResponseHeaders(status, if (head) -1 else bytes.size.toLong())
        if (!head) x.responseBody.use { it.write(bytes) }
    }

    private fun sendJson(x: HttpExchange, status: Int, body: Any?) = send(x, status, Json.DRF.encode(body), "application/json")

    private fun baseUrl(x: HttpExchange, path: String): String {
        val forwarded = x.requestHeaders.getFirst("X-Forwarded-Proto")
        val proto = if (forwarded?.split(",")?.first()?.trim() == "https") "https" else "http"
        val host = x.requestHeaders.getFirst("X-Forwarded-Host")?.takeIf { it.isNotEmpty() }
            ?: x.requestHeaders.getFirst("Host")?.takeIf { it.isNotEmpty() } ?: "localhost"
        return "$proto://$host$path"
    }

    private fun productsPage(x: HttpExchange, c: Connection, raw: String, caller: Caller?): Map<String, Any?> {
        val params = lastValues(parseQuery(raw))
        val (f, fieldErrors) = filtersParse(params)
        if (fieldErrors.isNotEmpty()) {
            val items = fieldErrors.map { obj("field" to it.field, "code" to it.code, "message" to it.message) }
            throw Problem(400, "validation_error", fieldErrors.joinToString("; ") { "${it.field}: ${it.message}" }, obj("errors" to items))
        }
        val size = pageSize(params)
        val number = pythonInt(params["page"]?.takeIf { it.isNotEmpty() } ?: "1") ?: throw Problem(404, "not_found", "Invalid page.")
        val q = productSelection(f, caller?.isStaff == true)
        val count = productCount(c, q)
        val pages = maxOf(1, (count + size - 1) / size)
        if (number < 1 || number > pages) throw Problem(404, "not_found", "Invalid page.")
        val rows = productPage(c, q, size, (number - 1) * size)
        val base = baseUrl(x, "/api/v1/products/")
        val next = if (number < pages) pageUrl(base, raw, number + 1) else null
        // page 1's link drops the parameter (0)
        val previous = if (number > 1) pageUrl(base, raw, if (number == 2L) 0 else number - 1) else null
        return obj("count" to count, "next" to next, "previous" to previous, "results" to rows)
    }

    private fun route(x: HttpExchange, path: String, raw: String) {
        when (path) {
            "/healthz" -> return sendJson(x, 200, obj("status" to "ok"))
            "/readyz" -> {
                val r = readiness()
                return sendJson(x, if (r.ok) 200 else 503, obj("status" to (if (r.ok) "ready" else "unavailable"), "checks" to r.checks))
            }
            "/metrics" -> return send(x, 200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
        }
        val detail = SKU_PATH.matchEntire(path)
        if (path != "/api/v1/products/" && detail == null) {
            throw Problem(404, "not_found", "No API endpoint at $path.", django = true)
        }
        if (x.requestMethod != "GET" && x.requestMethod != "HEAD") {
            throw Problem(405, "method_not_allowed", "Method \"${x.requestMethod}\" not allowed.")
        }
        val caller = try {
            verifier.callerFrom(x.requestHeaders.getFirst("Authorization"))
        } catch (failure: AuthFailure) {
            if (failure.status == 503) { // not a bad token: try again (no challenge, as DRF)
                x.responseHeaders.set("Retry-After", failure.retryAfter.toString())
            } else {
                x.responseHeaders.set("WWW-Authenticate", "Bearer realm=\"api\"")
            }
            throw Problem(failure.status, failure.code, failure.message ?: "")
        }
        val body = db.with { c ->
            if (detail != null) productGet(c, detail.groupValues[1], caller?.isStaff == true) else productsPage(x, c, raw, caller)
        } ?: throw Problem(404, "not_found", "Not found.")
        sendJson(x, 200, body)
    }

    override fun handle(x: HttpExchange) {
        val started = System.nanoTime()
        val id = x.requestHeaders.getFirst("X-Request-ID")?.takeIf { REQUEST_ID.matches(it) }
            ?: ByteArray(16).also { RANDOM.nextBytes(it) }.joinToString("") { String.format("%02x", it) }
        x.responseHeaders.set("X-Request-ID", id)
        val path = pathUnescape(x.requestURI.rawPath)
        val raw = x.requestURI.rawQuery ?: ""
        try {
            route(x, path, raw)
        } catch (error: Exception) {
            val p = error as? Problem ?: Problem(500, "server_error", "The server failed to handle the request; it was logged.", django = true)
                .also { log("http.error", "error" to error.toString(), "path" to path) }
            val body = obj("type" to "urn:problem:strangler:${p.code}", "title" to (TITLES[p.status] ?: "Error"),
                "status" to p.status, "detail" to p.message, "code" to p.code, "instance" to path, "request_id" to id)
            body.putAll(p.extra)
            send(x, p.status, (if (p.django) Json.PYTHON else Json.DRF).encode(body), "application/problem+json")
        } finally {
            x.close()
        }
        val name = routeName(path)
        metrics.requests.inc(x.requestMethod, name, x.responseCode.toString())
        metrics.latency.observe(name, (System.nanoTime() - started) / 1e9)
    }
}
