"""Access tokens of the realm, verified in the gateway on every request.

Accepted: RS256 only (never `none`, never an HMAC that could be keyed with the public key),
signed by a key of the realm's JWKS, issued by the realm, for the audience `pixelmill-api`,
not expired (with a small leeway for clock skew), of Keycloak's type `Bearer`.

Audience rather than `azp`: every client whose tokens may call the API carries an audience
mapper adding `pixelmill-api`, so a new shop client needs no gateway change, and clients
that Keycloak creates on its own (`admin-cli`, `account`, ...) are refused.
"""

from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from gateway.auth.errors import InvalidToken
from gateway.auth.keys import ALGORITHM, RealmKeys, UnknownKey
from gateway.settings import Settings

USER_ROLE = "user"
ADMIN_ROLE = "admin"
# Keycloak marks access tokens `Bearer`; its ID tokens (`ID`) are signed by the same keys.
_ACCESS_TYPE = "Bearer"
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for."""

    subject: str
    roles: frozenset[str]
    username: str | None = None
    client_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


class TokenVerifier:
    def __init__(
        self,
        keys: RealmKeys,
        *,
        audience: str,
        leeway_seconds: float,
        issuer: str | None = None,
    ) -> None:
        """`issuer` None: the one the realm's discovery document names."""
        self._keys = keys
        self._audience = audience
        self._leeway = leeway_seconds
        self._issuer = issuer

    async def verify(self, token: str) -> Principal:
        """The token's principal; InvalidToken with the reason when it is not accepted."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise InvalidToken(f"not a JWT: {error}") from error
        algorithm = header.get("alg")
        if algorithm != ALGORITHM:
            raise InvalidToken(f"alg {algorithm} is refused; tokens must be {ALGORITHM}")
        kid = header.get("kid")
        if not kid:
            raise InvalidToken("the token names no signing key (kid)")
        try:
            key = await self._keys.key(kid)
        except UnknownKey as error:
            raise InvalidToken("the token is not signed by a key of the realm") from error
        issuer = self._issuer or (await self._keys.metadata()).issuer
        claims = self._decode(token, key, issuer)
        if claims.get("typ") != _ACCESS_TYPE:
            raise InvalidToken(f"not an access token but of type {claims.get('typ')}")
        return _principal(claims)

    def _decode(self, token: str, key: jwt.PyJWK, issuer: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=issuer,
                leeway=self._leeway,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as error:
            raise InvalidToken("the token has expired") from error
        except jwt.ImmatureSignatureError as error:
            raise InvalidToken("the token is not valid yet") from error
        except jwt.InvalidAudienceError as error:
            raise InvalidToken(f"the token is not meant for {self._audience}") from error
        except jwt.InvalidIssuerError as error:
            raise InvalidToken(f"the token was not issued by {issuer}") from error
        except jwt.InvalidSignatureError as error:
            raise InvalidToken("the signature does not verify") from error
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"the token has no {error.claim} claim") from error
        except jwt.InvalidTokenError as error:
            raise InvalidToken(f"malformed token: {error}") from error
        return claims


def verifier_for(settings: Settings, http: httpx.AsyncClient) -> TokenVerifier:
    """The verifier of the configured realm, fetching its keys through `http`."""
    realm_url = f"{settings.keycloak_url}/realms/{settings.keycloak_realm}"
    keys = RealmKeys(
        http,
        f"{realm_url}/.well-known/openid-configuration",
        min_refetch_seconds=settings.jwks_min_refetch_seconds,
        max_age_seconds=settings.jwks_max_age_seconds,
    )
    return TokenVerifier(
        keys,
        audience=settings.api_audience,
        leeway_seconds=settings.token_leeway_seconds,
        issuer=settings.keycloak_issuer,
    )


def _principal(claims: dict[str, Any]) -> Principal:
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("the token has an empty sub claim")
    username, client_id = claims.get("preferred_username"), claims.get("azp")
    return Principal(
        subject=subject,
        roles=_realm_roles(claims),
        username=username if isinstance(username, str) else None,
        client_id=client_id if isinstance(client_id, str) else None,
    )


def _realm_roles(claims: dict[str, Any]) -> frozenset[str]:
    realm_access = claims.get("realm_access")
    roles = realm_access.get("roles") if isinstance(realm_access, dict) else None
    if not isinstance(roles, list):
        return frozenset()
    return frozenset(role for role in roles if isinstance(role, str))
