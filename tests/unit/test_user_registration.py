"""user_service's registration steps and their undo, with a fake Keycloak admin client."""

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from keycloak.exceptions import (
    KeycloakConnectionError,
    KeycloakError,
    KeycloakPostError,
    KeycloakPutError,
)

from common.errors import DependencyUnavailable, ServiceError
from schemas.users import Registration
from user_service.accounts.errors import InvalidPassword, UsernameTaken
from user_service.accounts.service import REGISTERED_ROLE, Accounts

USER_ID = "0b7c6c39-6a55-4c47-9d0e-0d1b8a1a7f00"
ROLE = {"id": "role-id", "name": REGISTERED_ROLE}


@dataclass
class FakeAdmin:
    """Keycloak's admin API for one realm, with failures to order."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail: dict[str, KeycloakError] = field(default_factory=dict)
    # Steps that take effect in Keycloak, and then fail to answer (a timeout).
    lost_answer: dict[str, KeycloakError] = field(default_factory=dict)

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]

    async def a_create_user(self, payload: dict[str, Any]) -> str:
        self._step("create")
        if any(user["username"] == payload["username"] for user in self.users.values()):
            raise _refusal(
                KeycloakPostError, 409, {"errorMessage": "User exists with same username"}
            )
        self.users[USER_ID] = {**payload, "roles": [], "createdTimestamp": time.time() * 1000}
        if "create" in self.lost_answer:
            raise self.lost_answer["create"]
        return USER_ID

    async def a_get_user_id(self, username: str) -> str | None:
        self.calls.append("find")
        return next((i for i, u in self.users.items() if u["username"] == username), None)

    async def a_get_user(self, user_id: str) -> dict[str, Any]:
        return self.users[user_id]

    async def a_get_credentials(self, user_id: str) -> list[dict[str, Any]]:
        return [{"type": "password"}] if "password" in self.users[user_id] else []

    async def a_get_realm_roles_of_user(self, user_id: str) -> list[dict[str, Any]]:
        return [{"name": name} for name in self.users[user_id]["roles"]]

    async def a_set_user_password(
        self, user_id: str, password: str, temporary: bool
    ) -> dict[str, Any]:
        self._step("password")
        self.users[user_id]["password"] = password
        return {}

    async def a_get_realm_role(self, role_name: str) -> dict[str, Any]:
        self._step("role")
        return ROLE

    async def a_assign_realm_roles(
        self, user_id: str, roles: list[dict[str, Any]]
    ) -> dict[str, Any]:
        self._step("assign")
        self.users[user_id]["roles"] += [role["name"] for role in roles]
        return {}

    async def a_delete_user(self, user_id: str) -> dict[str, Any]:
        self._step("delete")
        del self.users[user_id]
        return {}


class NoTokens:
    async def a_token(self, username: str, password: str) -> dict[str, Any]:
        raise AssertionError("registration does not log in")

    async def a_refresh_token(self, refresh_token: str) -> dict[str, Any]:
        raise AssertionError("registration does not refresh")

    async def a_logout(self, refresh_token: str) -> dict[str, Any]:
        raise AssertionError("registration does not log out")


def _refusal(kind: type[KeycloakError], status: int, body: dict[str, str]) -> KeycloakError:
    raw = json.dumps(body).encode()
    return kind(error_message=raw, response_code=status, response_body=raw)


def register(admin: FakeAdmin) -> Any:
    registration = Registration(username="shop-1", password="Shop-password-1")
    return asyncio.run(Accounts(admin, NoTokens()).register(registration))


def test_registration_creates_the_user_sets_the_password_and_grants_the_role() -> None:
    admin = FakeAdmin()

    user = register(admin)

    assert user.id == USER_ID
    assert admin.calls == ["create", "password", "role", "assign"]
    assert admin.users[USER_ID]["password"] == "Shop-password-1"
    assert admin.users[USER_ID]["roles"] == [REGISTERED_ROLE]


def test_a_failed_role_assignment_deletes_the_created_user() -> None:
    admin = FakeAdmin(fail={"assign": _refusal(KeycloakPostError, 403, {"error": "forbidden"})})

    with pytest.raises(DependencyUnavailable):
        register(admin)

    assert admin.calls == ["create", "password", "role", "assign", "delete"]
    assert admin.users == {}


def test_a_refused_password_deletes_the_user_and_gives_keycloaks_reason() -> None:
    reason = "Invalid password: minimum length 10."
    admin = FakeAdmin(
        fail={
            "password": _refusal(
                KeycloakPutError,
                400,
                {"error": "invalidPasswordMinLengthMessage", "error_description": reason},
            )
        }
    )

    with pytest.raises(InvalidPassword) as refused:
        register(admin)

    assert refused.value.message == reason
    assert refused.value.status_code == 400
    assert admin.calls == ["create", "password", "delete"]
    assert admin.users == {}


def test_a_taken_username_is_a_conflict_and_deletes_nothing() -> None:
    admin = FakeAdmin(
        fail={
            "create": _refusal(
                KeycloakPostError, 409, {"errorMessage": "User exists with same username"}
            )
        }
    )

    with pytest.raises(UsernameTaken) as refused:
        register(admin)

    assert refused.value.status_code == 409
    assert admin.calls == ["create"]


def test_a_failed_undo_still_reports_the_original_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = FakeAdmin(
        fail={
            "role": _refusal(KeycloakPostError, 500, {"error": "unknown_error"}),
            "delete": _refusal(KeycloakPostError, 500, {"error": "unknown_error"}),
        }
    )

    with pytest.raises(ServiceError) as refused:
        register(admin)

    assert refused.value.status_code == 503
    assert admin.calls == ["create", "password", "role", "delete"]
    assert f"could not delete user {USER_ID}" in caplog.text


def test_a_user_made_by_a_create_call_that_timed_out_is_deleted() -> None:
    timeout = KeycloakConnectionError(error_message="timed out")
    admin = FakeAdmin(lost_answer={"create": timeout})

    with pytest.raises(DependencyUnavailable):
        register(admin)

    assert admin.calls == ["create", "find", "delete"]
    assert admin.users == {}


@pytest.mark.parametrize(
    "holder",
    [
        {"password": "x", "roles": ["user"], "createdTimestamp": 0},  # registered long ago
        # No password ever, and (say) just made: still never registration's to delete.
        {"roles": [], "serviceAccountClientId": "pixelmill-user-service", "recent": True},
    ],
    ids=["registered user", "service account"],
)
def test_after_a_timeout_a_user_of_that_name_not_made_by_it_is_left_alone(
    holder: dict[str, Any],
) -> None:
    recent = holder.pop("recent", False)
    created = time.time() * 1000 if recent else holder.pop("createdTimestamp")
    earlier = {"username": "shop-1", "createdTimestamp": created, **holder}
    admin = FakeAdmin(
        users={USER_ID: earlier}, fail={"create": KeycloakConnectionError(error_message="down")}
    )

    with pytest.raises(DependencyUnavailable):
        register(admin)

    assert admin.users == {USER_ID: earlier}
    assert "delete" not in admin.calls
