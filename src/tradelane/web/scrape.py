"""``GET /metrics`` on the console: the ledger's Prometheus metrics (``tradelane.metrics``).

Prometheus has no session: it sends ``Authorization: Bearer <token>``, the token named by
``console.metrics_token_env`` (or ``_file``). A logged-in user of any role may look too.
Anyone else gets 401, never a redirect to the login page, which a scraper cannot follow.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from tradelane.metrics import CONTENT_TYPE
from tradelane.web.roles import current_user

router = APIRouter()


def _bearer_ok(request: Request, token: str | None) -> bool:
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    return (token is not None and scheme.lower() == "bearer"
            and hmac.compare_digest(sent.strip().encode(), token.encode()))


@router.get("/metrics")
def metrics(request: Request) -> Response:
    state = request.app.state
    if not _bearer_ok(request, state.metrics_token) and current_user(request) is None:
        return PlainTextResponse(
            "Metrics need the console's bearer token (console.metrics_token_env) or a login.\n",
            401, headers={"WWW-Authenticate": 'Bearer realm="tradelane console"'})
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE,
                    headers={"Cache-Control": "no-store"})
