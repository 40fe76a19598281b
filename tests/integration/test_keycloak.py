import jwt
import pytest
from keycloak import KeycloakOpenID

from common import dev
from common.settings import KeycloakSettings


@pytest.fixture(scope="module")
def openid() -> KeycloakOpenID:
    settings = KeycloakSettings()
    return KeycloakOpenID(
        server_url=settings.keycloak_url,
        realm_name=settings.keycloak_realm,
        client_id=dev.KEYCLOAK_USER_CLIENT_ID,
        client_secret_key=dev.KEYCLOAK_USER_CLIENT_SECRET,
    )


def _verify(token: str, openid: KeycloakOpenID) -> dict[str, object]:
    """Check the RS256 signature against the realm's published JWKS, and the claims."""
    keys = jwt.PyJWKSet.from_dict(openid.certs())
    kid = jwt.get_unverified_header(token)["kid"]
    (key,) = [k for k in keys.keys if k.key_id == kid]
    settings = KeycloakSettings()
    claims: dict[str, object] = jwt.decode(
        token,
        key=key,
        algorithms=["RS256"],
        audience="pixelmill-api",
        issuer=f"{settings.keycloak_url}/realms/{settings.keycloak_realm}",
    )
    return claims


def test_the_test_user_gets_a_token_signed_by_the_realm(openid: KeycloakOpenID) -> None:
    tokens = openid.token(dev.KEYCLOAK_DEMO_USER, dev.KEYCLOAK_DEMO_PASSWORD)

    claims = _verify(tokens["access_token"], openid)

    assert claims["preferred_username"] == dev.KEYCLOAK_DEMO_USER
    assert claims["sub"]
    realm_access = claims["realm_access"]
    assert isinstance(realm_access, dict)
    assert "user" in realm_access["roles"]
    assert "admin" not in realm_access["roles"]


def test_a_token_with_a_changed_signature_fails_verification(openid: KeycloakOpenID) -> None:
    token = openid.token(dev.KEYCLOAK_DEMO_USER, dev.KEYCLOAK_DEMO_PASSWORD)["access_token"]
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    with pytest.raises(jwt.InvalidSignatureError):
        _verify(f"{header}.{payload}.{flipped}", openid)


def test_the_realm_has_the_user_and_admin_roles() -> None:
    settings = KeycloakSettings()
    from keycloak import KeycloakAdmin

    admin = KeycloakAdmin(
        server_url=settings.keycloak_url,
        username=dev.KEYCLOAK_ADMIN_USER,
        password=dev.KEYCLOAK_ADMIN_PASSWORD,
        realm_name=settings.keycloak_realm,
        user_realm_name="master",
    )
    names = {role["name"] for role in admin.get_realm_roles()}
    assert {"user", "admin"} <= names
