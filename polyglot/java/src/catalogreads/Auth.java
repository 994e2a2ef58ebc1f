// RS256 access tokens verified against the issuer's JWKS with the JDK (java.security,
// java.net.http), with the claims, leeway and messages of servicekit/web/jwt (PyJWT underneath),
// so a bad token is the same problem+json here as in the Python services.
package catalogreads;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.RSAPublicKeySpec;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

final class Auth {
  static final long LEEWAY = 30; // seconds

  /** A header that does not verify: 401 invalid_token (or another code), or 503 to retry later. */
  static final class Failure extends Exception {
    private static final long serialVersionUID = 1L;
    final String code;
    final int status;
    final int retryAfter;

    Failure(String message, String code, int status, int retryAfter) {
      super(message);
      this.code = code;
      this.status = status;
      this.retryAfter = retryAfter;
    }

    static Failure invalid(String message) {
      return new Failure(message, "invalid_token", 401, 0);
    }

    static Failure unavailable(String message, int retryAfter) {
      return new Failure(message, "verifier_unavailable", 503, retryAfter);
    }
  }

  record Caller(long id, boolean isStaff) {}

  /** The kid is not in a key set read before this lookup and no read is allowed yet
   *  (servicekit's KeySetStale): `asOf` epoch seconds of that read, `retryAfter` seconds. */
  record Stale(double asOf, int retryAfter) {}

  /** A lookup's answer: the key, or why not (unavailable: the keys could not be read). */
  record Lookup(PublicKey key, String unavailable, Stale stale) {}

  /** The public keys of a JWKS URL: fetched on an unknown kid, at most every minRefresh; a
   *  failed fetch keeps the keys we have and is reported. One fetch at a time (the lock). */
  static final class JwksKeys {
    private final String url;
    private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
    private final long minRefreshNanos;
    private Map<String, PublicKey> keys = Map.of();
    private long attempted; // System.nanoTime() of the last attempt
    private boolean everAttempted;
    private long readFrom = Long.MIN_VALUE; // when the download of the set we hold began
    private double readFromWall; // the same, in epoch seconds
    private String lastError;

    JwksKeys(String url, Duration minRefresh) {
      this.url = url;
      this.minRefreshNanos = minRefresh.toNanos();
    }

    private Map<String, PublicKey> download() throws Exception {
      HttpRequest request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(3)).GET().build();
      HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
      if (response.statusCode() != 200) throw new Exception(response.statusCode() + " from " + url);
      Map<String, PublicKey> found = new HashMap<>();
      KeyFactory factory = KeyFactory.getInstance("RSA");
      for (JsonNode k : Events.MAPPER.readTree(response.body()).path("keys")) {
        String kid = k.path("kid").asText("");
        if (!k.path("kty").asText("").equals("RSA") || kid.isEmpty()) continue;
        try {
          BigInteger n = new BigInteger(1, Base64.getUrlDecoder().decode(k.path("n").asText("")));
          BigInteger e = new BigInteger(1, Base64.getUrlDecoder().decode(k.path("e").asText("")));
          found.put(kid, factory.generatePublic(new RSAPublicKeySpec(n, e)));
        } catch (IllegalArgumentException | GeneralSecurityException bad) {
          throw new Exception("key " + kid + ": bad modulus or exponent");
        }
      }
      return found;
    }

    /** `began`: System.nanoTime() when the lookup began; only a set read after it proves a kid unknown. */
    synchronized Lookup key(String kid, long began) {
      PublicKey key = keys.get(kid);
      if (key != null || url.isEmpty()) return new Lookup(key, null, null);
      long now = System.nanoTime();
      if (!everAttempted || now - attempted >= minRefreshNanos) {
        everAttempted = true;
        attempted = now;
        double wall = System.currentTimeMillis() / 1000.0;
        try {
          keys = download();
          readFrom = now;
          readFromWall = wall;
          lastError = null;
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          lastError = "interrupted";
        } catch (Exception e) {
          lastError = String.valueOf(e.getMessage() != null ? e.getMessage() : e);
        }
      }
      key = keys.get(kid);
      if (key != null) return new Lookup(key, null, null);
      if (lastError != null) return new Lookup(null, lastError, null);
      if (readFrom == Long.MIN_VALUE || readFrom - began < 0) {
        long wait = attempted + minRefreshNanos - System.nanoTime();
        int retryAfter = (int) Math.max(1, Math.ceil(wait / 1e9));
        return new Lookup(null, null, new Stale(readFromWall, retryAfter));
      }
      return new Lookup(null, null, null);
    }
  }

  private final JwksKeys keys;
  private final String issuer;
  private final String audience;

  Auth(JwksKeys keys, String issuer, String audience) {
    this.keys = keys;
    this.issuer = issuer;
    this.audience = audience;
  }

  private static byte[] segment(String text, String what) throws Failure {
    try {
      return Base64.getUrlDecoder().decode(text.replaceAll("=+$", ""));
    } catch (IllegalArgumentException e) {
      throw Failure.invalid("malformed token: Invalid " + what + " padding");
    }
  }

  private static JsonNode decodeObject(byte[] data) throws Exception {
    JsonNode node = Events.MAPPER.readTree(data);
    if (node == null || !node.isObject()) throw new Exception("must be a json object");
    return node;
  }

  private static boolean absent(JsonNode node, String name) {
    return node.get(name) == null || node.get(name).isNull();
  }

  private static String quoted(String kid) {
    return "'" + kid + "'";
  }

  /** null for an anonymous request (no Bearer header); a Failure for a header that does not verify. */
  Caller callerFrom(String header) throws Failure {
    long began = System.nanoTime();
    String[] parts = header == null ? new String[0] : header.trim().split("\\s+");
    if (parts.length == 0 || parts[0].isEmpty() || !parts[0].equalsIgnoreCase("bearer")) return null;
    if (parts.length != 2) {
      throw new Failure("Authorization header must be 'Bearer <token>'.", "authentication_failed", 401, 0);
    }
    String token = parts[1];
    byte[] raw = token.getBytes(StandardCharsets.ISO_8859_1); // header bytes as the server read them
    for (int i = 0; i < raw.length; i++) {
      if ((raw[i] & 0xff) >= 0x80) {
        throw Failure.invalid(String.format(
            "'ascii' codec can't decode byte 0x%02x in position %d: ordinal not in range(128)", raw[i] & 0xff, i));
      }
    }
    int dot = token.lastIndexOf('.');
    if (dot < 0 || token.substring(0, dot).indexOf('.') < 0) throw Failure.invalid("malformed token: Not enough segments");
    String signingInput = token.substring(0, dot);
    int first = signingInput.indexOf('.');
    byte[] headerData = segment(signingInput.substring(0, first), "header");
    JsonNode head;
    try {
      head = decodeObject(headerData);
    } catch (Exception e) {
      throw Failure.invalid("malformed token: Invalid header string: " + e.getMessage());
    }
    byte[] payloadData = segment(signingInput.substring(first + 1), "payload");
    byte[] signature = segment(token.substring(dot + 1), "crypto");
    JsonNode kidNode = head.get("kid");
    if (kidNode != null && !kidNode.isTextual()) throw Failure.invalid("malformed token: Key ID header parameter must be a string");
    if (!head.path("alg").isTextual() || !head.path("alg").asText().equals("RS256")) {
      throw Failure.invalid("token must be signed with RS256");
    }
    String kid = kidNode == null ? "" : kidNode.asText();
    if (kid.isEmpty()) throw Failure.invalid("token has no key id");
    Lookup found = keys.key(kid, began);
    if (found.key() == null && found.unavailable() != null) {
      throw Failure.unavailable(
          "the signing keys could not be read to check key " + quoted(kid) + ": " + kid + " (JWKS unavailable: " + found.unavailable() + ")", 2);
    }
    if (found.key() == null && found.stale() != null && issuedAt(payloadData) >= found.stale().asOf() - LEEWAY) {
      // Issued after that set was read: maybe signed by a key published since (a rotation).
      throw Failure.unavailable(
          "key " + quoted(kid) + " is newer than the signing keys read: try again shortly", found.stale().retryAfter());
    }
    if (found.key() == null) throw Failure.invalid("unknown signing key " + quoted(kid));
    try {
      Signature verifier = Signature.getInstance("SHA256withRSA");
      verifier.initVerify(found.key());
      verifier.update(signingInput.getBytes(StandardCharsets.US_ASCII));
      if (!verifier.verify(signature)) throw Failure.invalid("invalid token: Signature verification failed");
    } catch (GeneralSecurityException e) {
      throw Failure.invalid("invalid token: Signature verification failed");
    }
    JsonNode claims;
    try {
      claims = decodeObject(payloadData);
    } catch (Exception e) {
      throw Failure.invalid("invalid token: Invalid payload string: " + e.getMessage());
    }
    claimsCheck(claims);
    if (!claims.path("token_type").asText("").equals("access") || !claims.path("token_type").isTextual()) {
      throw Failure.invalid("expected a access token");
    }
    try {
      return new Caller(Long.parseLong(claims.get("sub").asText().trim()), truthy(claims.get("is_staff")));
    } catch (NumberFormatException e) {
      throw Failure.invalid("invalid token: subject is not a user id");
    }
  }

  /** The token's `iat`, unverified (only to tell an old token from a new one); 0 if absent. */
  private static double issuedAt(byte[] payload) {
    try {
      JsonNode iat = Events.MAPPER.readTree(payload).get("iat");
      return iat != null && iat.isNumber() ? iat.asDouble() : 0;
    } catch (Exception e) {
      return 0;
    }
  }

  private static Long intClaim(JsonNode value) {
    return value != null && value.isNumber() ? value.asLong() : null;
  }

  /** PyJWT's _validate_claims in its order. */
  private void claimsCheck(JsonNode claims) throws Failure {
    for (String name : List.of("exp", "iat", "sub", "iss", "aud")) {
      if (absent(claims, name)) throw Failure.invalid("invalid token: Token is missing the \"" + name + "\" claim");
    }
    long now = System.currentTimeMillis() / 1000;
    Long iat = intClaim(claims.get("iat"));
    if (iat == null) throw Failure.invalid("invalid token: Issued At claim (iat) must be an integer.");
    if (iat > now + LEEWAY) throw Failure.invalid("invalid token: The token is not yet valid (iat)");
    if (claims.has("nbf")) {
      Long nbf = intClaim(claims.get("nbf"));
      if (nbf == null) throw Failure.invalid("invalid token: Not Before claim (nbf) must be an integer.");
      if (nbf > now + LEEWAY) throw Failure.invalid("invalid token: The token is not yet valid (nbf)");
    }
    Long exp = intClaim(claims.get("exp"));
    if (exp == null) throw Failure.invalid("invalid token: Expiration Time claim (exp) must be an integer.");
    if (exp <= now - LEEWAY) throw Failure.invalid("token has expired");
    if (!claims.get("iss").isTextual()) throw Failure.invalid("invalid token: Payload Issuer (iss) must be a string");
    if (!claims.get("iss").asText().equals(issuer)) throw Failure.invalid("invalid token: Invalid issuer");
    JsonNode aud = claims.get("aud");
    boolean matched = false;
    for (JsonNode audience : aud.isArray() ? aud : List.of(aud)) {
      if (!audience.isTextual()) throw Failure.invalid("invalid token: Invalid claim format in token");
      matched |= audience.asText().equals(this.audience);
    }
    if (!matched) throw Failure.invalid("invalid token: Audience doesn't match");
    if (!claims.get("sub").isTextual()) throw Failure.invalid("invalid token: Subject must be a string");
    if (claims.has("jti") && !claims.get("jti").isTextual()) throw Failure.invalid("invalid token: JWT ID must be a string");
  }

  /** Python's bool() of a JSON value. */
  private static boolean truthy(JsonNode value) {
    if (value == null || value.isNull()) return false;
    if (value.isBoolean()) return value.asBoolean();
    if (value.isTextual()) return !value.asText().isEmpty();
    if (value.isNumber()) return value.asDouble() != 0;
    if (value.isContainerNode()) return value.size() > 0;
    return true;
  }
}
