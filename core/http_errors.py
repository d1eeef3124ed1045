"""The JSON errors the HTTP entry points answer with: one place for the app's exception handlers
and for the web chat's lane (``bot.webchat.MessagesLane``), which answers before them."""

from __future__ import annotations

import logging

from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)

DB_DOWN = "服务暂时不可用，消息没有保存，请稍后重发。"
#: A database that cannot be reached (or a pool that cannot lend a connection in time): 503, retry.
DATABASE_DOWN = (OperationalError, DBAPIError, PoolTimeout)


def http_error(exc: HTTPException) -> JSONResponse:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


def database_down(exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return JSONResponse({"error": DB_DOWN}, status_code=503, headers={"Retry-After": "5"})
