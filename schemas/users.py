"""Identity: the bodies of `/api/v1/user/*`, shared by the gateway and user_service."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Keycloak stores usernames in lower case; accepting only that keeps what a user typed and
# what they log in with the same.
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"
# A sanity check only: Keycloak validates the address again.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# The realm's password policy (length, character classes, ...) is the one authority on
# passwords; this bound only keeps absurd bodies out.
MAX_PASSWORD_LENGTH = 1024
MAX_TOKEN_LENGTH = 16384

Password = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_PASSWORD_LENGTH,
        description="checked against the realm's password policy",
        json_schema_extra={"format": "password"},
    ),
]
RefreshToken = Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_LENGTH)]


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[
        str,
        Field(
            pattern=USERNAME_PATTERN,
            description="3 to 64 characters: lower-case letters, digits, `.`, `_`, `-`; "
            "starts with a letter or digit",
            examples=["shop-42"],
        ),
    ]
    password: Password
    email: Annotated[str | None, Field(max_length=254, pattern=EMAIL_PATTERN)] = None


class RegisteredUser(BaseModel):
    id: str = Field(description="the user's subject: `sub` in their tokens")
    username: str
    email: str | None


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=1, max_length=255)]
    password: Password


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: RefreshToken


class Tokens(BaseModel):
    access_token: str = Field(description="send as `Authorization: Bearer ...`")
    refresh_token: str = Field(description="for /refresh-token and /logout; single use")
    expires_in: int = Field(description="seconds the access token stays valid")
    refresh_expires_in: int = Field(description="seconds the refresh token stays valid")
    token_type: str = Field(description="`Bearer`")
