"""user_service's API, reached through the gateway's `/api/v1/user/*`."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from schemas.users import Credentials, RefreshRequest, RegisteredUser, Registration, Tokens
from user_service.accounts.service import Accounts

router = APIRouter(prefix="/internal/user", tags=["users"])


def _accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


AccountsDep = Annotated[Accounts, Depends(_accounts)]


def _no_store(response: Response) -> None:
    # Token responses must not be cached by anything in between (RFC 6749 §5.1).
    response.headers["Cache-Control"] = "no-store"


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(body: Registration, accounts: AccountsDep) -> RegisteredUser:
    return await accounts.register(body)


@router.post("/login")
async def login(body: Credentials, accounts: AccountsDep, response: Response) -> Tokens:
    _no_store(response)
    return await accounts.login(body.username, body.password)


@router.post("/refresh-token")
async def refresh_token(body: RefreshRequest, accounts: AccountsDep, response: Response) -> Tokens:
    _no_store(response)
    return await accounts.refresh(body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, accounts: AccountsDep) -> None:
    await accounts.logout(body.refresh_token)
