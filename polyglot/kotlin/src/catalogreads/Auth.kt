// RS256 access tokens verified against the issuer's JWKS with the JDK (java.security,
// java.net.http), with the claims, leeway and messages of servicekit/web/jwt (PyJWT underneath),
// so a bad token is the same problem+json here as in the Python services.
package catalogreads

import com.fasterxml.jackson.databind.JsonNode
import java.math.BigInteger
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.security.GeneralSecurityException
import java.security.KeyFactory
import java.security.PublicKey
import java.security.Signature
import java.security.spec.RSAPublicKeySpec
import java.time.Duration
import java.util.Base64

const val LEEWAY = 30L // seconds

/** A header that does not verify: 401 invalid_token (or another code), or 503 to retry later. */
class AuthFailure(message: String, val code: String, val status: Int = 401, val retryAfter: Int = 0) : Exception(message)

private fun invalid(message: String) = AuthFailure(message, "invalid_token")

data class Caller(val id: Long, val isStaff: Boolean)

/** The kid is not in a key set read before this lookup and no read is allowed yet (servicekit's
 * KeySetStale): `asOf` epoch seconds of that read, `retryAfter` seconds. */
data class Stale(val asOf: Double, val retryAfter: Int)

/** A lookup's answer: the key, or why not (unavailable: the keys could not be read). */
data class Lookup(val key: PublicKey? = null, val unavailable: String? = null, val stale: Stale? = null)

/** The public keys of a JWKS URL: fetched on an unknown kid, at most every minRefresh; a failed
 * fetch keeps the keys we have and is reported. One fetch at a time (the lock). */
class JwksKeys(private val url: String, minRefresh: Duration) {
    private val client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build()
    private val minRefreshNanos = minRefresh.toNanos()
    private var keys = mapOf<String, PublicKey>()
    private var attempted: Long? = null // System.nanoTime() of the last attempt
    private var readFrom: Long? = null // when the download of the set we hold began
    private var readFromWall = 0.0 // the same, in epoch seconds
    private var lastError: String? = null

    private fun download(): Map<String, PublicKey> {
        val request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(3)).GET().build()
        val response = client.send(request, HttpResponse.BodyHandlers.ofString())
        if (response.statusCode() != 200) throw Exception("${response.statusCode()} from $url")
        val factory = KeyFactory.getInstance("RSA")
        return MAPPER.readTree(response.body()).path("keys")
            .filter { it.path("kty").asText("") == "RSA" && it.path("kid").asText("").isNotEmpty() }
            .associate { k ->
                val kid = k.path("kid").asText()
                try {
                    val n = BigInteger(1, Base64.getUrlDecoder().decode(k.path("n").asText("")))
                    val e = BigInteger(1, Base64.getUrlDecoder().decode(k.path("e").asText("")))
                    kid to factory.generatePublic(RSAPublicKeySpec(n, e))
                } catch (bad: IllegalArgumentException) {
                    throw Exception("key $kid: bad modulus or exponent")
                } catch (bad: GeneralSecurityException) {
                    throw Exception("key $kid: bad modulus or exponent")
                }
            }
    }

    /** `began`: System.nanoTime() when the lookup began; only a set read after it proves a kid unknown. */
    @Synchronized
    fun key(kid: String, began: Long): Lookup {
        keys[kid]?.let { return Lookup(it) }
        if (url == "") return Lookup()
        val now = System.nanoTime()
        val last = attempted
        if (last == null || now - last >= minRefreshNanos) {
            attempted = now
            val wall = System.currentTimeMillis() / 1000.0
            try {
                keys = download()
                readFrom = now
                readFromWall = wall
                lastError = null
            } catch (e: InterruptedException) {
                Thread.currentThread().interrupt()
                lastError = "interrupted"
            } catch (e: Exception) {
                lastError = e.message ?: e.toString()
            }
        }
        keys[kid]?.let { return Lookup(it) }
        lastError?.let { return Lookup(unavailable = it) }
        val read = readFrom
        if (read == null || read - began < 0) {
            val wait = (attempted ?: now) + minRefreshNanos - System.nanoTime()
            return Lookup(stale = Stale(readFromWall, maxOf(1, Math.ceil(wait / 1e9).toInt())))
        }
        return Lookup()
    }
}

class Verifier(private val keys: JwksKeys, private val issuer: String, private val audience: String) {
    private fun segment(text: String, what: String): ByteArray = try {
        Base64.getUrlDecoder().decode(text.trimEnd('='))
    } catch (e: IllegalArgumentException) {
        throw invalid("malformed token: Invalid $what padding")
    }

    private fun decodeObject(data: ByteArray): JsonNode =
        MAPPER.readTree(data)?.takeIf { it.isObject } ?: throw Exception("must be a json object")

    /** null for an anonymous request (no Bearer header); throws AuthFailure for one that does not verify. */
    fun callerFrom(header: String?): Caller? {
        val began = System.nanoTime()
        val parts = (header ?: "").trim().split(Regex("\\s+")).filter { it.isNotEmpty() }
        if (parts.isEmpty() || !parts[0].equals("bearer", ignoreCase = true)) return null
        if (parts.size != 2) throw AuthFailure("Authorization header must be 'Bearer <token>'.", "authentication_failed")
        val token = parts[1]
        token.forEachIndexed { i, c -> // header bytes as the server read them (ISO-8859-1)
            if (c.toInt() >= 0x80) {
                throw invalid(String.format("'ascii' codec can't decode byte 0x%02x in position %d: ordinal not in range(128)", c.toInt() and 0xff, i))
            }
        }
        val dot = token.lastIndexOf('.')
        if (dot < 0 || !token.substring(0, dot).contains('.')) throw invalid("malformed token: Not enough segments")
        val signingInput = token.substring(0, dot)
        val first = signingInput.indexOf('.')
        val headerData = segment(signingInput.substring(0, first), "header")
        val head = try {
            decodeObject(headerData)
        } catch (e: Exception) {
            throw invalid("malformed token: Invalid header string: ${e.message}")
        }
        val payloadData = segment(signingInput.substring(first + 1), "payload")
        val signature = segment(token.substring(dot + 1), "crypto")
        val kidNode = head.get("kid")
        if (kidNode != null && !kidNode.isTextual) throw invalid("malformed token: Key ID header parameter must be a string")
        if (!head.path("alg").isTextual || head.path("alg").asText() != "RS256") throw invalid("token must be signed with RS256")
        val kid = kidNode?.asText() ?: ""
        if (kid == "") throw invalid("token has no key id")
        val found = keys.key(kid, began)
        found.unavailable?.let {
            throw AuthFailure("the signing keys could not be read to check key '$kid': $kid (JWKS unavailable: $it)", "verifier_unavailable", 503, 2)
        }
        val stale = found.stale
        if (found.key == null && stale != null && issuedAt(payloadData) >= stale.asOf - LEEWAY) {
            // Issued after that set was read: maybe signed by a key published since (a rotation).
            throw AuthFailure("key '$kid' is newer than the signing keys read: try again shortly", "verifier_unavailable", 503, stale.retryAfter)
        }
        val key = found.key ?: throw invalid("unknown signing key '$kid'")
        val verified = try {
            Signature.getInstance("SHA256withRSA").run {
                initVerify(key)
                update(signingInput.toByteArray(Charsets.US_ASCII))
                verify(signature)
            }
        } catch (e: GeneralSecurityException) {
            false
        }
        if (!verified) throw invalid("invalid token: Signature verification failed")
        val claims = try {
            decodeObject(payloadData)
        } catch (e: Exception) {
            throw invalid("invalid token: Invalid payload string: ${e.message}")
        }
        claimsCheck(claims)
        val type = claims.get("token_type")
        if (type == null || !type.isTextual || type.asText() != "access") throw invalid("expected a access token")
        val id = claims.get("sub").asText().trim().toLongOrNull() ?: throw invalid("invalid token: subject is not a user id")
        return Caller(id, truthy(claims.get("is_staff")))
    }

    /** The token's `iat`, unverified (only to tell an old token from a new one); 0 if absent. */
    private fun issuedAt(payload: ByteArray): Double = try {
        MAPPER.readTree(payload)?.get("iat")?.takeIf { it.isNumber }?.asDouble() ?: 0.0
    } catch (e: Exception) {
        0.0
    }

    private fun intClaim(value: JsonNode?): Long? = if (value != null && value.isNumber) value.asLong() else null

    private fun absent(claims: JsonNode, name: String) = claims.get(name)?.isNull ?: true

    /** PyJWT's _validate_claims in its order. */
    private fun claimsCheck(claims: JsonNode) {
        for (name in listOf("exp", "iat", "sub", "iss", "aud")) {
            if (absent(claims, name)) throw invalid("invalid token: Token is missing the \"$name\" claim")
        }
        val now = System.currentTimeMillis() / 1000
        val iat = intClaim(claims.get("iat")) ?: throw invalid("invalid token: Issued At claim (iat) must be an integer.")
        if (iat > now + LEEWAY) throw invalid("invalid token: The token is not yet valid (iat)")
        if (claims.has("nbf")) {
            val nbf = intClaim(claims.get("nbf")) ?: throw invalid("invalid token: Not Before claim (nbf) must be an integer.")
            if (nbf > now + LEEWAY) throw invalid("invalid token: The token is not yet valid (nbf)")
        }
        val exp = intClaim(claims.get("exp")) ?: throw invalid("invalid token: Expiration Time claim (exp) must be an integer.")
        if (exp <= now - LEEWAY) throw invalid("token has expired")
        if (!claims.get("iss").isTextual) throw invalid("invalid token: Payload Issuer (iss) must be a string")
        if (claims.get("iss").asText() != issuer) throw invalid("invalid token: Invalid issuer")
        val aud = claims.get("aud")
        val audiences = if (aud.isArray) aud.toList() else listOf(aud)
        if (audiences.any { !it.isTextual }) throw invalid("invalid token: Invalid claim format in token")
        if (audiences.none { it.asText() == audience }) throw invalid("invalid token: Audience doesn't match")
        if (!claims.get("sub").isTextual) throw invalid("invalid token: Subject must be a string")
        if (claims.has("jti") && !claims.get("jti").isTextual) throw invalid("invalid token: JWT ID must be a string")
    }

    /** Python's bool() of a JSON value. */
    private fun truthy(value: JsonNode?): Boolean = when {
        value == null || value.isNull -> false
        value.isBoolean -> value.asBoolean()
        value.isTextual -> value.asText().isNotEmpty()
        value.isNumber -> value.asDouble() != 0.0
        value.isContainerNode -> value.size() > 0
        else -> true
    }
}
