"""Registration and sessions in the realm, over Keycloak's admin and token endpoints."""

import asyncio
import json
import logging
import time
from typing import Any, Protocol

from keycloak.exceptions import KeycloakError

from common.errors import DependencyUnavailable
from schemas.users import RegisteredUser, Registration, Tokens
from user_service.accounts.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidPassword,
    InvalidRefreshToken,
    InvalidRegistration,
    UsernameTaken,
)

log = logging.getLogger(__name__)

# The realm role every registered user gets: it is what lets a token use the task API.
REGISTERED_ROLE = "user"
_CLOCK_SKEW_MS = 5000


class UserAdmin(Protocol):
    """What registration needs of `keycloak.KeycloakAdmin`."""

    async def a_create_user(self, payload: dict[str, Any]) -> str: ...

    async def a_get_user_id(self, username: str) -> str | None: ...

    async def a_get_user(self, user_id: str) -> dict[str, Any]: ...

    async def a_get_credentials(self, user_id: str) -> list[dict[str, Any]]: ...

    async def a_get_realm_roles_of_user(self, user_id: str) -> list[dict[str, Any]]: ...

    async def a_set_user_password(
        self, user_id: str, password: str, temporary: bool
    ) -> dict[str, Any]: ...

    async def a_get_realm_role(self, role_name: str) -> dict[str, Any]: ...

    async def a_assign_realm_roles(
        self, user_id: str, roles: list[dict[str, Any]]
    ) -> dict[str, Any]: ...

    async def a_delete_user(self, user_id: str) -> dict[str, Any]: ...


class TokenEndpoint(Protocol):
    """What sessions need of `keycloak.KeycloakOpenID`."""

    async def a_token(self, username: str, password: str) -> dict[str, Any]: ...

    async def a_refresh_token(self, refresh_token: str) -> dict[str, Any]: ...

    async def a_logout(self, refresh_token: str) -> dict[str, Any]: ...


class Accounts:
    def __init__(self, admin: UserAdmin, openid: TokenEndpoint) -> None:
        self._admin = admin
        self._openid = openid

    async def register(self, registration: Registration) -> RegisteredUser:
        """Create the user, set the password, grant the role; undo the user if a step fails."""
        user_id = await self._create_fresh_user(registration)
        try:
            await self._set_password(user_id, registration.password)
            await self._grant_role(user_id)
        except BaseException:
            # Half a registration is worse than none: the user could never log in, and the
            # name would stay taken. BaseException: a cancelled request undoes as well.
            await self._delete_user(user_id)
            raise
        log.info("registered user %s (%s)", registration.username, user_id)
        return RegisteredUser(id=user_id, username=registration.username, email=registration.email)

    async def login(self, username: str, password: str) -> Tokens:
        try:
            tokens = await self._openid.a_token(username, password)
        except KeycloakError as error:
            # Keycloak answers a locked (brute force) account like a wrong password, on purpose.
            if _refused_grant(error):
                raise InvalidCredentials("the username or password is wrong") from error
            raise _unavailable(error) from error
        return Tokens.model_validate(tokens)

    async def refresh(self, refresh_token: str) -> Tokens:
        try:
            tokens = await self._openid.a_refresh_token(refresh_token)
        except KeycloakError as error:
            if _refused_grant(error):
                raise InvalidRefreshToken(
                    f"the refresh token is not valid: {_reason(error)}"
                ) from error
            raise _unavailable(error) from error
        return Tokens.model_validate(tokens)

    async def logout(self, refresh_token: str) -> None:
        """End the session: its refresh token (and any refreshed from it) stops working."""
        try:
            await self._openid.a_logout(refresh_token)
        except KeycloakError as error:
            if _refused_grant(error):
                raise InvalidRefreshToken(
                    f"the refresh token is not valid: {_reason(error)}"
                ) from error
            raise _unavailable(error) from error

    async def _create_user(self, registration: Registration) -> str:
        payload: dict[str, Any] = {
            "username": registration.username,
            "enabled": True,
            "emailVerified": False,
        }
        if registration.email is not None:
            payload["email"] = registration.email
        try:
            return await self._admin.a_create_user(payload)
        except KeycloakError as error:
            reason = _reason(error)
            if error.response_code == 409:
                # Keycloak says which one clashed only in its message.
                if "email" in reason.lower():
                    raise EmailTaken("a user with this email exists") from error
                raise UsernameTaken(f"the username {registration.username!r} is taken") from error
            if error.response_code == 400:
                raise InvalidRegistration(f"Keycloak refused the user: {reason}") from error
            raise _unavailable(error) from error

    async def _set_password(self, user_id: str, password: str) -> None:
        try:
            await self._admin.a_set_user_password(user_id, password, temporary=False)
        except KeycloakError as error:
            if error.response_code == 400:
                raise InvalidPassword(_reason(error)) from error
            raise _unavailable(error) from error

    async def _grant_role(self, user_id: str) -> None:
        try:
            role = await self._admin.a_get_realm_role(REGISTERED_ROLE)
            await self._admin.a_assign_realm_roles(user_id, [role])
        except KeycloakError as error:
            raise _unavailable(error) from error

    async def _create_fresh_user(self, registration: Registration) -> str:
        """Create the user; if the call got no answer, undo a user it may have made."""
        started_ms = time.time() * 1000
        try:
            return await self._create_user(registration)
        except (DependencyUnavailable, asyncio.CancelledError):
            # No answer is not no user: Keycloak may have made it before the timeout. Only a
            # user made since this request began is ours to delete; an older one of that name
            # (a service account, an admin's user) is never touched.
            made = await self._half_made_user(registration.username)
            if made is not None and made[1] >= started_ms - _CLOCK_SKEW_MS:
                await self._delete_user(made[0])
            raise

    async def _half_made_user(self, username: str) -> tuple[str, float] | None:
        """The id and creation time (ms) of the user of that name if registration never
        finished it (no password, no role, not a service account or federated); None
        otherwise, or when Keycloak cannot say."""
        try:
            user_id = await self._admin.a_get_user_id(username)
            if user_id is None:
                return None
            user = await self._admin.a_get_user(user_id)
            credentials = await self._admin.a_get_credentials(user_id)
            roles = await self._admin.a_get_realm_roles_of_user(user_id)
        except KeycloakError as error:
            log.error("could not check for a half-made user %r: %s", username, error)
            return None
        granted = any(role.get("name") == REGISTERED_ROLE for role in roles)
        foreign = user.get("federationLink") or user.get("serviceAccountClientId")
        if credentials or granted or foreign:
            return None
        return user_id, float(user.get("createdTimestamp", 0))

    async def _delete_user(self, user_id: str) -> None:
        try:
            await self._admin.a_delete_user(user_id)
        except KeycloakError as error:
            # The original failure is what the caller must see; this one needs an operator.
            log.error("could not delete user %s after a failed registration: %s", user_id, error)
        else:
            log.info("deleted user %s after a failed registration", user_id)


def _body(error: KeycloakError) -> dict[str, Any]:
    try:
        body = json.loads(error.response_body or b"")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _reason(error: KeycloakError) -> str:
    """Keycloak's own words for a refusal: token errors and admin errors differ in shape."""
    body = _body(error)
    reason = body.get("error_description") or body.get("errorMessage") or body.get("error")
    return str(reason) if reason else str(error)


def _refused_grant(error: KeycloakError) -> bool:
    """The token endpoint refused what the caller sent (not our client, not an outage)."""
    return error.response_code in (400, 401) and _body(error).get("error") == "invalid_grant"


def _unavailable(error: KeycloakError) -> DependencyUnavailable:
    log.warning("Keycloak failed: %s", error)
    return DependencyUnavailable(f"the identity provider failed: {_reason(error)}")
