// RS256 access tokens verified against the issuer's JWKS (servicekit/web/jwt): the same claims,
// leeway and messages, so a bad token is the same problem+json here as in the Python services.

import { webcrypto } from "node:crypto";
import { importJWK, type JWK } from "jose";

export class AuthError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status = 401,
    readonly retryAfter = 2, // seconds, for a 503
  ) {
    super(message);
  }
}

export interface Caller {
  id: number;
  isStaff: boolean;
}

type Key = Awaited<ReturnType<typeof importJWK>>;

/** A lookup's answer: the key; else why not (the keys unreadable, or a set read before the lookup
 * began, `asOf` epoch seconds, a read allowed in `retryAfter` seconds: servicekit's KeySetStale). */
interface Lookup {
  key?: Key;
  unavailable?: string;
  stale?: { asOf: number; retryAfter: number };
}

/** The public keys of a JWKS URL: fetched on an unknown kid, at most every `minRefresh` ms, one
 * fetch at a time; a failed fetch keeps the keys we have and is reported. Only a set read after a
 * lookup began proves its kid unknown. */
class JwksKeys {
  private keys = new Map<string, Key>();
  private attempted = -Infinity; // performance.now() of the last attempt
  private readFrom = -Infinity; // when the download of the set we hold began
  private readFromWall = 0; // the same, in epoch ms
  private lastError = "";
  private inFlight: Promise<void> | null = null;

  constructor(
    readonly url: string,
    readonly minRefresh = 10_000,
  ) {}

  private async fetchKeys(): Promise<void> {
    const began = performance.now();
    const wall = Date.now();
    try {
      const response = await fetch(this.url, { signal: AbortSignal.timeout(3_000) });
      if (response.status !== 200) throw new Error(`${response.status} from ${this.url}`);
      const document = (await response.json()) as { keys?: JWK[] };
      const keys = new Map<string, Key>();
      for (const jwk of document.keys ?? []) {
        if (jwk.kty !== "RSA" || !jwk.kid) continue;
        keys.set(jwk.kid, await importJWK({ ...jwk, alg: "RS256" }, "RS256"));
      }
      [this.keys, this.readFrom, this.readFromWall, this.lastError] = [keys, began, wall, ""];
    } catch (exc) {
      this.lastError = String((exc as Error).message ?? exc);
    }
  }

  async key(kid: string, began: number): Promise<Lookup> {
    let key = this.keys.get(kid);
    if (key) return { key };
    if (!this.inFlight && performance.now() - this.attempted >= this.minRefresh) {
      this.attempted = performance.now();
      this.inFlight = this.fetchKeys().finally(() => (this.inFlight = null));
    }
    if (this.inFlight) await this.inFlight;
    key = this.keys.get(kid);
    if (key) return { key };
    if (this.lastError) return { unavailable: this.lastError };
    if (this.readFrom < began) {
      const retryAfter = Math.max(1, Math.ceil((this.attempted + this.minRefresh - performance.now()) / 1000));
      return { stale: { asOf: this.readFromWall / 1000, retryAfter } };
    }
    return {};
  }
}

const LEEWAY = 30; // seconds

function invalid(message: string): AuthError {
  return new AuthError(message, "invalid_token");
}

type Claims = Record<string, unknown>;

/** One segment, base64url without padding (PyJWT's base64url_decode), else its padding error. */
function segment(text: string, what: string): Uint8Array {
  const bare = text.replace(/=+$/, "");
  if (!/^[A-Za-z0-9_-]*$/.test(bare) || bare.length % 4 === 1)
    throw invalid(`malformed token: Invalid ${what} padding`);
  return Buffer.from(bare, "base64url");
}

function decodeObject(data: Uint8Array): Claims {
  const value: unknown = JSON.parse(Buffer.from(data).toString("utf8"));
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("must be a json object");
  return value as Claims;
}

/** The token's `iat`, unverified (only to tell an old token from a new one); 0 if absent. */
function issuedAt(payload: Uint8Array): number {
  try {
    const iat = decodeObject(payload).iat;
    return typeof iat === "number" ? iat : 0;
  } catch {
    return 0;
  }
}

/** A numeric claim as PyJWT's int() takes it (the fraction dropped); null for anything else. */
function intClaim(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? Math.trunc(value) : null;
}

/** Python's bool() of a JSON value. */
function truthy(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === "object") return Object.keys(value).length > 0;
  return Boolean(value);
}

/** PyJWT's _validate_claims in its order (servicekit requires exp, iat, sub, iss and aud). */
function claimsCheck(claims: Claims, issuer: string, audience: string): void {
  for (const name of ["exp", "iat", "sub", "iss", "aud"]) {
    if (claims[name] === undefined || claims[name] === null)
      throw invalid(`invalid token: Token is missing the "${name}" claim`);
  }
  const now = Date.now() / 1000;
  const iat = intClaim(claims.iat);
  if (iat === null) throw invalid("invalid token: Issued At claim (iat) must be an integer.");
  if (iat > now + LEEWAY) throw invalid("invalid token: The token is not yet valid (iat)");
  if ("nbf" in claims) {
    const nbf = intClaim(claims.nbf);
    if (nbf === null) throw invalid("invalid token: Not Before claim (nbf) must be an integer.");
    if (nbf > now + LEEWAY) throw invalid("invalid token: The token is not yet valid (nbf)");
  }
  const exp = intClaim(claims.exp);
  if (exp === null) throw invalid("invalid token: Expiration Time claim (exp) must be an integer.");
  if (exp <= now - LEEWAY) throw invalid("token has expired");
  if (typeof claims.iss !== "string") throw invalid("invalid token: Payload Issuer (iss) must be a string");
  if (claims.iss !== issuer) throw invalid("invalid token: Invalid issuer");
  let matched = false;
  for (const item of Array.isArray(claims.aud) ? claims.aud : [claims.aud]) {
    if (typeof item !== "string") throw invalid("invalid token: Invalid claim format in token");
    matched = matched || item === audience;
  }
  if (!matched) throw invalid("invalid token: Audience doesn't match");
  if (typeof claims.sub !== "string") throw invalid("invalid token: Subject must be a string");
  if ("jti" in claims && typeof claims.jti !== "string") throw invalid("invalid token: JWT ID must be a string");
}

export function tokenVerifier(jwksUrl: string, issuer: string, audience: string) {
  const keys = jwksUrl ? new JwksKeys(jwksUrl) : null;

  /** null: anonymous (no Bearer header); throws AuthError for a header that does not verify.
   * The checks and their words are PyJWT's, in its order (as polyglot/go/src/auth.go): the
   * header's bytes as ASCII, the segments and their padding, the key id's type, then the
   * algorithm, the key, the signature and the claims. */
  return async function callerFrom(header: string | undefined): Promise<Caller | null> {
    const began = performance.now();
    // Split on ASCII whitespace only, as Python's bytes.split() (Node's header is Latin-1).
    const parts = (header ?? "").split(/[ \t\n\r\v\f]+/).filter(Boolean);
    if (!parts.length || parts[0].toLowerCase() !== "bearer") return null;
    if (parts.length !== 2)
      throw new AuthError("Authorization header must be 'Bearer <token>'.", "authentication_failed");
    const token = parts[1];
    for (let i = 0; i < token.length; i++) {
      const byte = token.charCodeAt(i);
      if (byte >= 0x80)
        throw invalid(
          `'ascii' codec can't decode byte 0x${byte.toString(16).padStart(2, "0")} in position ${i}: ordinal not in range(128)`,
        );
    }
    const dot = token.lastIndexOf(".");
    if (dot < 0 || !token.slice(0, dot).includes(".")) throw invalid("malformed token: Not enough segments");
    const signingInput = token.slice(0, dot);
    const first = signingInput.indexOf(".");
    let head: Claims;
    const headerData = segment(signingInput.slice(0, first), "header");
    try {
      head = decodeObject(headerData);
    } catch (exc) {
      throw invalid(`malformed token: Invalid header string: ${(exc as Error).message}`);
    }
    const payloadData = segment(signingInput.slice(first + 1), "payload");
    const signature = segment(token.slice(dot + 1), "crypto");
    if ("kid" in head && typeof head.kid !== "string")
      throw invalid("malformed token: Key ID header parameter must be a string");
    if (head.alg !== "RS256") throw invalid("token must be signed with RS256");
    const kid = typeof head.kid === "string" ? head.kid : "";
    if (!kid) throw invalid("token has no key id");
    const found: Lookup = keys ? await keys.key(kid, began) : {};
    if (found.unavailable)
      throw new AuthError(
        `the signing keys could not be read to check key '${kid}': ${kid} (JWKS unavailable: ${found.unavailable})`,
        "verifier_unavailable",
        503,
      );
    // Issued after the set lacking its key was read: maybe signed by a key published since.
    if (!found.key && found.stale && issuedAt(payloadData) >= found.stale.asOf - LEEWAY)
      throw new AuthError(
        `key '${kid}' is newer than the signing keys read: try again shortly`,
        "verifier_unavailable",
        503,
        found.stale.retryAfter,
      );
    if (!found.key) throw invalid(`unknown signing key '${kid}'`);
    const verified = await webcrypto.subtle.verify(
      { name: "RSASSA-PKCS1-v1_5" },
      found.key as webcrypto.CryptoKey,
      signature,
      Buffer.from(signingInput, "latin1"),
    );
    if (!verified) throw invalid("invalid token: Signature verification failed");
    let claims: Claims;
    try {
      claims = decodeObject(payloadData);
    } catch (exc) {
      throw invalid(`invalid token: Invalid payload string: ${(exc as Error).message}`);
    }
    claimsCheck(claims, issuer, audience);
    if (claims.token_type !== "access") throw invalid("expected a access token");
    const sub = String(claims.sub).trim();
    if (!/^[+-]?\d+$/.test(sub)) throw invalid("invalid token: subject is not a user id");
    return { id: Number(sub), isStaff: truthy(claims.is_staff) };
  };
}
