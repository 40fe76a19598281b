"""What registration and logins refuse, as the service's typed errors."""

from common.errors import Conflict, ServiceError


class UsernameTaken(Conflict):
    code = "username_taken"


class EmailTaken(Conflict):
    code = "email_taken"


class InvalidPassword(ServiceError):
    """The realm's password policy refused the password; the message is Keycloak's reason."""

    code = "invalid_password"


class InvalidRegistration(ServiceError):
    """Keycloak refused a field that passed our own validation (its rules are the last word)."""

    code = "invalid_parameter"


class InvalidCredentials(ServiceError):
    status_code = 401
    code = "invalid_credentials"


class InvalidRefreshToken(ServiceError):
    status_code = 401
    code = "invalid_refresh_token"
