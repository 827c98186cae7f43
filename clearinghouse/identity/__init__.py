"""Identity for SaaS builders: apps (a gateway's OAuth clients), their end users, and the signed
JWTs they authenticate with.

Modules: ``limits`` (lifetimes, caps, cache sizes), ``errors`` (the OAuth error tree), ``keys``
(the ES256 signing key file, its rotation and the JWKS), ``tokens`` (issue and verify one token:
algorithm pinned, issuer, audience, expiry with bounded skew), ``service`` (client credentials,
RFC 8693 exchange, introspection, revocation, apps and users), ``verified`` (the signing path's
cache of verified tokens, by token id until expiry, with immediate in-process revocation).
"""
