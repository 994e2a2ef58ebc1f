"""RS256 JSON Web Tokens: keys, issuing, JWKS publishing and verification without a shared secret."""
