"""A sync hub in FastAPI: the HTTP sync protocol (docs/protocol.md) over a statesync replica.

    pip install statesync fastapi uvicorn
    STATESYNC_HUB_DB=hub.db uvicorn hub:app --port 7878

Environment: STATESYNC_HUB_DB (default hub.db), STATESYNC_HUB_NODE_ID (default hub) and
STATESYNC_HUB_TOKEN (if set, every request needs `Authorization: Bearer <token>`).
Any statesync client syncs with it, e.g. `SyncManager.sync(HttpTransport("http://127.0.0.1:7878"))`.
"""

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Optional

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

import statesync

MAX_BATCH = 1000  # largest page served
MAX_BODY = 64 << 20  # bytes, as statesync's MAX_MESSAGE_BYTES
COMPRESS_FROM = 1024  # pull answers are zstd-compressed from this size, when the client accepts it
TYPES: dict[str, statesync.WireEncoding] = {"application/json": "json", "application/vnd.statesync+binary": "binary"}
CONTENT_TYPE = {encoding: media for media, encoding in TYPES.items()}
STATUS = dict.fromkeys(["INVALID_INPUT", "INVALID_STATE", "CORRUPT", "ALREADY_EXISTS"], 400)  # by error code
STATUS.update(NOT_FOUND=404, UNSUPPORTED_FORMAT=415, CLOSED=503)  # any other code: 500
TOKEN = os.environ.get("STATESYNC_HUB_TOKEN")

DB, NODE_ID = os.environ.get("STATESYNC_HUB_DB", "hub.db"), os.environ.get("STATESYNC_HUB_NODE_ID", "hub")
replica = statesync.SyncManager(NODE_ID, DB)


class HubError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def body(request: Request, authorization: Annotated[Optional[str], Header()] = None) -> bytes:
    """Authorizes the request, then reads its body (the endpoints below run in the threadpool)."""
    if TOKEN is not None and authorization != f"Bearer {TOKEN}":
        raise HubError(401, "UNAUTHORIZED", "a valid bearer token is required")
    data = await request.body()
    if len(data) > MAX_BODY:
        raise HubError(413, "INVALID_INPUT", f"the body is larger than {MAX_BODY} bytes: send smaller pages")
    return data


Body = Annotated[bytes, Depends(body)]
HeaderValue = Annotated[Optional[str], Header()]


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    replica.close()


app = FastAPI(title="statesync hub", lifespan=lifespan)


@app.exception_handler(statesync.SyncError)
@app.exception_handler(HubError)
def typed_error(_: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, (statesync.SyncError, HubError))
    status = e.status if isinstance(e, HubError) else STATUS.get(e.code, 500)
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse({"error": {"code": e.code, "message": e.message}}, status, headers)


@app.exception_handler(HTTPException)
@app.exception_handler(Exception)
def http_error(request: Request, e: Exception) -> JSONResponse:
    status = e.status_code if isinstance(e, HTTPException) else 500
    code = {404: "NOT_FOUND", 405: "INVALID_INPUT"}.get(status, "INTERNAL")
    return typed_error(request, HubError(status, code, str(getattr(e, "detail", e))))


def decoded(data: bytes, content_encoding: Optional[str]) -> bytes:
    coding = (content_encoding or "identity").strip().lower()
    if coding == "zstd":
        return statesync.decompress(data)
    if coding not in ("", "identity"):
        raise HubError(415, "UNSUPPORTED_FORMAT", f"unsupported Content-Encoding {content_encoding!r}")
    return data


def accepted(header: Optional[str]) -> list[str]:
    """The items of an Accept or Accept-Encoding header, in order, less those refused with q=0."""
    items = [[part.strip() for part in item.split(";")] for item in (header or "").split(",")]
    return [item[0].lower() for item in items if not any(p.replace(" ", "") in ("q=0", "q=0.0") for p in item[1:])]


@app.get("/v1/capabilities")
def capabilities(_: Body) -> dict[str, Any]:
    return {
        "protocol": statesync.PROTOCOL_VERSION,
        "node_id": replica.node_id,
        "scoped_sync": True,
        "binary": True,
        "zstd": True,
        "max_batch": MAX_BATCH,
        "max_body_bytes": MAX_BODY,
    }


@app.post("/v1/pull")
def pull(
    data: Body, accept: HeaderValue = None, accept_encoding: HeaderValue = None, content_encoding: HeaderValue = None
) -> Response:
    try:
        request = json.loads(decoded(data, content_encoding))
    except ValueError as e:
        raise HubError(400, "CORRUPT", f"the pull request is not valid JSON: {e}") from None
    if not isinstance(request, dict) or "format" not in request:
        raise HubError(400, "CORRUPT", "the pull request has no format field")
    if request["format"] != statesync.PROTOCOL_VERSION:
        raise HubError(415, "UNSUPPORTED_FORMAT", f"pull request format {request['format']!r}; this hub speaks 1")
    cursor, collections, limit = request.get("cursor"), request.get("collections") or [], request.get("limit")
    names = isinstance(collections, list) and all(isinstance(c, str) for c in collections)
    if not isinstance(cursor, (str, type(None))) or not names:
        raise HubError(400, "INVALID_INPUT", "malformed pull request: cursor must be a string, collections strings")
    if not (limit is None or (type(limit) is int and limit >= 1)):
        raise HubError(400, "INVALID_INPUT", "limit must be at least 1")
    page = replica.changes_since(cursor, collections, MAX_BATCH if limit is None else min(limit, MAX_BATCH))
    offered: list[statesync.WireEncoding] = [TYPES[t] for t in accepted(accept) if t in TYPES]  # in the header's order
    encoding: statesync.WireEncoding = offered[0] if offered else "json"
    answer, headers = statesync.encode(page, encoding), {"Vary": "accept, accept-encoding"}
    if "zstd" in accepted(accept_encoding) and len(answer) >= COMPRESS_FROM:
        answer, headers["Content-Encoding"] = statesync.compress(answer), "zstd"
    return Response(answer, media_type=CONTENT_TYPE[encoding], headers=headers)


@app.post("/v1/push")
def push(data: Body, content_type: HeaderValue = None, content_encoding: HeaderValue = None) -> dict[str, Any]:
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media not in TYPES:
        raise HubError(415, "UNSUPPORTED_FORMAT", f"unsupported Content-Type {content_type!r}")
    # decode_page: a state the replica must refuse is refused alone by reconcile, not the page.
    page = statesync.decode_page(decoded(data, content_encoding), TYPES[media])
    result = replica.reconcile(page.states)
    rejected = [{"id": r.id, "code": r.code, "message": r.message} for r in result.rejections]
    return {"format": statesync.PROTOCOL_VERSION, "result": result.to_dict(), "rejected": rejected}
