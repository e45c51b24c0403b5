"""Which reads a read replica may serve, and the Session-Token of read-your-writes.

The use cases do not know where their reads come from: the edge marks the request
(`adapters.replica.replica_reads`) and the resource store picks the replica or the
primary for each statement. A write's response carries the primary's WAL position
after it committed; a read that sends it back sees that write.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request
from litestar.types import Message, Scope

from adapters.replica import InvalidSessionToken, ReplicaRead, parse_token, replica_reads
from adapters.resource_store import PostgresResourceStore
from api.http.errors import ApiError
from api.http.parameters import SESSION_TOKEN
from application.errors import DatabaseUnavailable

logger = logging.getLogger(__name__)

REPLICA_READ = "session_token"
"""The parameter of the handlers whose reads a replica may serve
(`api.http.parameters.SessionToken`): a read that takes a write's Session-Token."""
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
HEADER_NAME = SESSION_TOKEN.lower().encode()


def mark_reads(request: Request[Any, Any, Any]) -> None:
    """Lets the replica serve this request's reads, if its handler is a REPLICA_READ."""
    if REPLICA_READ not in request.route_handler.parsed_fn_signature.parameters:
        return
    raw = request.headers.get(SESSION_TOKEN)
    try:
        token = None if raw is None else parse_token(raw)
    except InvalidSessionToken as error:
        if not credentials(request):
            return  # the request is a 401: that says more than its token's form
        raise ApiError(400, f"{error}.") from None
    replica_reads.set(ReplicaRead(token))


def credentials(request: Request[Any, Any, Any]) -> bool:
    """Whether the request carries a key or a signature to check."""
    return "authorization" in request.headers or "signature" in request.query_params


async def answer_token(store: PostgresResourceStore, message: Message, scope: Scope) -> None:
    """`before_send`: a successful write's Session-Token (with a replica configured),
    read once the write has committed and before its answer leaves."""
    if message["type"] != "http.response.start" or scope.get("method") not in WRITES:
        return
    if not 200 <= message["status"] < 300:
        return
    try:
        token = await store.session_token()
    except DatabaseUnavailable as error:
        # The write has committed and its answer is under way: it goes without a
        # token (a read then may not see it on the replica) rather than as a 500.
        logger.warning("a write's answer goes without its Session-Token: %s", error)
        return
    if token is not None:
        message["headers"] = [*message.get("headers", ()), (HEADER_NAME, token.encode())]
