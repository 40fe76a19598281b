"""401 and 403 with the `WWW-Authenticate` challenge of RFC 6750 §3."""

import re

from common.errors import ServiceError

# error_description may hold only these characters (RFC 6750 §3): no quote, no backslash.
_NOT_IN_DESCRIPTION = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


class MissingToken(ServiceError):
    status_code = 401
    code = "missing_token"

    def __init__(self) -> None:
        # No error attribute: the request carried no credentials at all (RFC 6750 §3.1).
        super().__init__(
            "this route needs `Authorization: Bearer <access token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


class InvalidToken(ServiceError):
    status_code = 401
    code = "invalid_token"

    def __init__(self, reason: str) -> None:
        description = _NOT_IN_DESCRIPTION.sub("?", reason)
        super().__init__(
            f"the access token is not accepted: {reason}",
            headers={
                "WWW-Authenticate": (
                    f'Bearer error="invalid_token", error_description="{description}"'
                )
            },
        )
        self.reason = reason


class Forbidden(ServiceError):
    """A valid token without the role the route needs."""

    status_code = 403
    code = "forbidden"

    def __init__(self, message: str) -> None:
        description = _NOT_IN_DESCRIPTION.sub("?", message)
        super().__init__(
            message,
            headers={
                "WWW-Authenticate": (
                    f'Bearer error="insufficient_scope", error_description="{description}"'
                )
            },
        )
