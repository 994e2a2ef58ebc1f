"""The users service: accounts, registration, profile, token issue and the JWKS, extracted."""
