"""Who is calling the API: bearer service tokens, checked against their scopes."""

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tokens import InvalidToken, SqlTokenRepository, TokenInfo
from abusedesk.web import container_of

# Longer than any token we issue by far; anything longer is refused unread.
MAX_TOKEN_LENGTH = 200

_bearer = HTTPBearer(
    auto_error=False,
    description="A service token from `abusedesk token create`, as `Authorization: Bearer <token>`.",
)
_tokens = SqlTokenRepository()


class MissingToken(AbuseDeskError):
    """Raise when a request that needs a token brings none."""


def require_token(*scopes: str) -> Callable[..., TokenInfo]:
    """Return a dependency that admits a valid, unrevoked token holding every one of *scopes*.

    With no scopes, any valid token is enough.
    """

    def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> TokenInfo:
        if credentials is None or not credentials.credentials:
            raise MissingToken("send a service token as 'Authorization: Bearer <token>'")
        presented = credentials.credentials.strip()
        if len(presented) > MAX_TOKEN_LENGTH:
            raise InvalidToken("the token is malformed")
        container = container_of(request)
        # Its own short transaction: noting the token's use must not wait for the request.
        with unit_of_work(container.sessions) as session:
            info = _tokens.verify(session, presented, now=utcnow())
        info.require(scopes)
        request.state.token = info
        return info

    return dependency
