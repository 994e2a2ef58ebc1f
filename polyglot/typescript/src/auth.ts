// RS256 access tokens verified against the issuer's JWKS (servicekit/web/jwt): the same claims,
// leeway and messages, so a bad token is the same problem+json here as in the Python services.

import { decodeJwt, decodeProtectedHeader, errors, importJWK, jwtVerify, type JWK, type JWTPayload } from "jose";

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

/** The token's `iat`, unverified (only to tell an old token from a new one); 0 if absent. */
function issuedAt(token: string): number {
  try {
    const iat = decodeJwt(token).iat;
    return typeof iat === "number" ? iat : 0;
  } catch {
    return 0;
  }
}

export function tokenVerifier(jwksUrl: string, issuer: string, audience: string) {
  const keys = jwksUrl ? new JwksKeys(jwksUrl) : null;

  /** null: anonymous (no Bearer header); throws AuthError for a header that does not verify. */
  return async function callerFrom(header: string | undefined): Promise<Caller | null> {
    const began = performance.now();
    const parts = (header ?? "").trim().split(/\s+/).filter(Boolean);
    if (!parts.length || parts[0].toLowerCase() !== "bearer") return null;
    if (parts.length !== 2)
      throw new AuthError("Authorization header must be 'Bearer <token>'.", "authentication_failed");
    const token = parts[1];
    let alg: string | undefined;
    let kid: string | undefined;
    try {
      if (token.split(".").length !== 3) throw new Error("Not enough segments");
      ({ alg, kid } = decodeProtectedHeader(token));
    } catch (exc) {
      const reason = (exc as Error).message === "Not enough segments" ? "Not enough segments" : "Invalid header padding";
      throw new AuthError(`malformed token: ${reason}`, "invalid_token");
    }
    if (alg !== "RS256") throw new AuthError("token must be signed with RS256", "invalid_token");
    if (!kid) throw new AuthError("token has no key id", "invalid_token");
    const found: Lookup = keys ? await keys.key(kid, began) : {};
    if (found.unavailable)
      throw new AuthError(
        `the signing keys could not be read to check key '${kid}': ${kid} (JWKS unavailable: ${found.unavailable})`,
        "verifier_unavailable",
        503,
      );
    // Issued after the set lacking its key was read: maybe signed by a key published since.
    if (!found.key && found.stale && issuedAt(token) >= found.stale.asOf - 30)
      throw new AuthError(
        `key '${kid}' is newer than the signing keys read: try again shortly`,
        "verifier_unavailable",
        503,
        found.stale.retryAfter,
      );
    if (!found.key) throw new AuthError(`unknown signing key '${kid}'`, "invalid_token");
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, found.key, {
        algorithms: ["RS256"],
        issuer,
        audience,
        clockTolerance: 30,
        requiredClaims: ["exp", "iat", "sub", "iss", "aud"],
      }));
    } catch (exc) {
      if (exc instanceof errors.JWTExpired) throw new AuthError("token has expired", "invalid_token");
      throw new AuthError(`invalid token: ${(exc as Error).message}`, "invalid_token");
    }
    if (claims.token_type !== "access") throw new AuthError("expected a access token", "invalid_token");
    const id = Number(claims.sub);
    if (!Number.isInteger(id)) throw new AuthError("invalid token: subject is not a user id", "invalid_token");
    return { id, isStaff: claims.is_staff === true };
  };
}
