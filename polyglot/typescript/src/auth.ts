// RS256 access tokens verified against the issuer's JWKS (servicekit/web/jwt): the same claims,
// leeway and messages, so a bad token is the same problem+json here as in the Python services.

import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";

export class AuthError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status = 401,
  ) {
    super(message);
  }
}

export interface Caller {
  id: number;
  isStaff: boolean;
}

export function tokenVerifier(jwksUrl: string, issuer: string, audience: string) {
  const keys = jwksUrl ? createRemoteJWKSet(new URL(jwksUrl), { cooldownDuration: 30_000 }) : null;

  /** null: anonymous (no Bearer header); throws AuthError for a header that does not verify. */
  return async function callerFrom(header: string | undefined): Promise<Caller | null> {
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
    if (!keys) throw new AuthError(`unknown signing key '${kid}'`, "invalid_token");
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, keys, {
        algorithms: ["RS256"],
        issuer,
        audience,
        clockTolerance: 30,
        requiredClaims: ["exp", "iat", "sub", "iss", "aud"],
      }));
    } catch (exc) {
      if (exc instanceof errors.JWKSNoMatchingKey) throw new AuthError(`unknown signing key '${kid}'`, "invalid_token");
      if (exc instanceof errors.JWTExpired) throw new AuthError("token has expired", "invalid_token");
      if (exc instanceof errors.JWKSTimeout || exc instanceof errors.JWKSInvalid || (exc as Error).name === "TypeError")
        throw new AuthError(`the signing keys could not be read to check key '${kid}': ${exc}`, "unavailable", 503);
      throw new AuthError(`invalid token: ${(exc as Error).message}`, "invalid_token");
    }
    if (claims.token_type !== "access") throw new AuthError("expected a access token", "invalid_token");
    const id = Number(claims.sub);
    if (!Number.isInteger(id)) throw new AuthError("invalid token: subject is not a user id", "invalid_token");
    return { id, isStaff: claims.is_staff === true };
  };
}
