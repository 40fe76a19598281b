"""`/api/v1/user/*`: identity, proxied to user_service. These routes take no token."""

from typing import Any

from fastapi import APIRouter, Response, status

from gateway.deps import Users
from gateway.errors import ERROR_RESPONSES, error_doc
from schemas.users import Credentials, RefreshRequest, RegisteredUser, Registration, Tokens

router = APIRouter(prefix="/api/v1/user", tags=["identity"])

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {503: ERROR_RESPONSES[503]}
_INVALID = error_doc("`invalid_parameter` (details list each field)")
_BAD_REFRESH = error_doc("`invalid_refresh_token`: expired, revoked (logged out) or used")


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisteredUser,
    summary="Create an account with the role `user`",
    description="The password must satisfy the realm's policy: at least 10 characters, "
    "upper and lower case, a digit, not the username or email. Log in afterwards.",
    responses={
        400: error_doc(
            "`invalid_password` (the message is the policy's reason), `invalid_parameter`"
        ),
        409: error_doc("`username_taken`, `email_taken`"),
        **_UNAVAILABLE,
    },
)
async def register(body: Registration, users: Users) -> Response:
    return await users.forward("/internal/user/register", body)


@router.post(
    "/login",
    response_model=Tokens,
    summary="Tokens for a username and password",
    responses={
        400: _INVALID,
        401: error_doc("`invalid_credentials` (also while brute-force protection locks the user)"),
        **_UNAVAILABLE,
    },
)
async def login(body: Credentials, users: Users) -> Response:
    return await users.forward("/internal/user/login", body)


@router.post(
    "/refresh-token",
    response_model=Tokens,
    summary="New tokens for a refresh token",
    description="Refresh tokens are single use: keep the new one from the answer.",
    responses={400: _INVALID, 401: _BAD_REFRESH, **_UNAVAILABLE},
)
async def refresh_token(body: RefreshRequest, users: Users) -> Response:
    return await users.forward("/internal/user/refresh-token", body)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="End the session of a refresh token",
    description="The refresh token stops working. Access tokens already issued stay valid "
    "until they expire (5 minutes): the gateway verifies them without asking Keycloak.",
    responses={400: _INVALID, 401: _BAD_REFRESH, **_UNAVAILABLE},
)
async def logout(body: RefreshRequest, users: Users) -> Response:
    return await users.forward("/internal/user/logout", body)
