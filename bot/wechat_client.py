"""wechatpy's client as we use it: our API base URL, an access token shared by every process in
``cache_entries`` and refreshed before it expires, timeouts, and WeChat's errors as outbox outcomes.

The token is refreshed ``TOKEN_REFRESH_MARGIN`` before it expires by whichever process takes the
``leases`` row first; the others keep using the old token, which WeChat honours for a few minutes
after a new one is issued. Every call reads the token from the database, so all processes move to
the new one at once and the daily token quota is never at risk.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import requests
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage

from core import cache_entries
from core.clock import utcnow
from core.config import Settings
from core.db import is_postgres, read_only, transaction
from core.models import CacheEntry, Lease
from core.ports import DeliveryError, HeldDeliveryError, PermanentDeliveryError, TransientDeliveryError

log = logging.getLogger(__name__)

TOKEN_REFRESH_MARGIN = dt.timedelta(minutes=10)
TOKEN_LEASE = dt.timedelta(seconds=30)
TOKEN_WAIT_SECONDS = 5.0
HTTP_TIMEOUT_SECONDS = 10.0

# WeChat API error codes (https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html)
HELD_CODES = {45015: "outside the 48-hour window", 45047: "customer-service quota for this window used up"}
UNREACHABLE_CODES = {43004: "unsubscribed", 40003: "invalid openid", 43019: "user blacklisted the account"}
RATE_LIMIT_CODES = {45009: 600.0, 45011: 60.0}  # daily API quota / per-minute quota: retry after (s)


class DatabaseTokenStorage(SessionStorage):  # type: ignore[misc]
    """wechatpy session storage in ``cache_entries``: every process shares one access token."""

    def __init__(self, factory: sessionmaker[Session], *, prefix: str = "wechat:", clock: Callable[[], Any] = utcnow):
        self.factory = factory
        self.reader = read_only(factory)
        self.prefix = prefix
        self.clock = clock

    def _key(self, key: str) -> str:
        return (self.prefix + key)[:100]

    def entry(self, key: str) -> tuple[Any, dt.datetime | None] | None:
        with self.reader() as session:
            row = session.get(CacheEntry, self._key(key))
            if row is None or (row.expires_at is not None and row.expires_at <= self.clock()):
                return None
            return json.loads(row.value), row.expires_at

    def get(self, key: str, default: Any = None) -> Any:
        entry = self.entry(key)
        return default if entry is None else entry[0]

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        expires_at = self.clock() + dt.timedelta(seconds=int(ttl)) if ttl else None
        with transaction(self.factory) as session:
            cache_entries.put(session, self._key(key), json.dumps(value), expires_at=expires_at)

    def delete(self, key: str) -> None:
        with transaction(self.factory) as session:
            cache_entries.drop(session, self._key(key))


def try_lease(factory: sessionmaker[Session], *, name: str, holder: str, ttl: dt.timedelta) -> bool:
    now = utcnow()
    with transaction(factory) as session:
        lease = session.get(Lease, name, with_for_update=is_postgres(session))
        if lease is None:
            try:
                with session.begin_nested():
                    session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
            except IntegrityError:
                return False
            return True
        if lease.expires_at > now and lease.holder != holder:
            return False
        lease.holder = holder
        lease.expires_at = now + ttl
        return True


def end_lease(factory: sessionmaker[Session], *, name: str, holder: str) -> None:
    with transaction(factory) as session:
        session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


class _TimeoutSession(requests.Session):
    """wechatpy fetches the access token without a timeout; a hung WeChat must not hang us."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class OfficialAccountClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client with our API base URL (for the token too) and a token shared in the
    database, refreshed ``TOKEN_REFRESH_MARGIN`` before it expires by one process at a time."""

    def __init__(self, settings: Settings, factory: sessionmaker[Session]) -> None:
        storage = DatabaseTokenStorage(factory)
        super().__init__(
            settings.wechat_app_id, settings.wechat_app_secret, session=storage, timeout=HTTP_TIMEOUT_SECONDS
        )
        base = settings.wechat_api_base_url
        self.API_BASE_URL = base if base.endswith("/") else base + "/"
        self._http = _TimeoutSession(HTTP_TIMEOUT_SECONDS)
        self.storage = storage
        self.factory = factory
        self.holder = f"{id(self):x}@{_hostname()}"

    def fetch_access_token(self) -> dict[str, Any]:
        return dict(
            self._fetch_access_token(
                url=self.API_BASE_URL + "token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )
        )

    @staticmethod
    def _fresh(entry: tuple[Any, dt.datetime | None] | None) -> bool:
        return entry is not None and (entry[1] is None or entry[1] - utcnow() > TOKEN_REFRESH_MARGIN)

    @property
    def access_token(self) -> str:
        key = self.access_token_key
        entry = self.storage.entry(key)
        if entry is not None and self._fresh(entry):
            return str(entry[0])
        name = f"wechat-token:{self.appid}"[:50]
        if try_lease(self.factory, name=name, holder=self.holder, ttl=TOKEN_LEASE):
            try:
                if not self._fresh(self.storage.entry(key)):  # the previous holder may have just refreshed
                    self.fetch_access_token()
            finally:
                end_lease(self.factory, name=name, holder=self.holder)
            return str(self.storage.get(key))
        if entry is not None:
            return str(entry[0])  # still valid for a few minutes while another process refreshes it
        deadline = time.monotonic() + TOKEN_WAIT_SECONDS
        while time.monotonic() < deadline:  # another process is fetching the first token: wait for it
            time.sleep(0.1)
            entry = self.storage.entry(key)
            if entry is not None:
                return str(entry[0])
        self.fetch_access_token()
        return str(self.storage.get(key))


def _hostname() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def delivery_error(exc: Exception) -> DeliveryError:
    """WeChat's answer (or silence) as retry-later, hold-until-they-write or give-up."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, requests.RequestException):
        return TransientDeliveryError(f"WeChat unreachable: {type(exc).__name__}")
    if isinstance(exc, WeChatClientException):
        code = exc.errcode
        if code is None:
            status = getattr(exc.response, "status_code", None)
            return TransientDeliveryError(f"WeChat HTTP {status}")
        code = int(code)
        if code in HELD_CODES:
            return HeldDeliveryError(f"WeChat {code}: {HELD_CODES[code]}")
        if code in UNREACHABLE_CODES:
            return PermanentDeliveryError(f"WeChat {code}: {UNREACHABLE_CODES[code]}")
        if code in RATE_LIMIT_CODES:
            return TransientDeliveryError(f"WeChat {code}: rate limited", retry_after=RATE_LIMIT_CODES[code])
        if code == 40164:
            log.warning("WeChat refuses calls from this server's IP: add it to the IP whitelist (40164)")
        # -1 (system busy), token trouble, anything unknown: retry with backoff; the outbox gives
        # up after its attempt limit and the row shows as failed.
        return TransientDeliveryError(f"WeChat {code}: {exc.errmsg}")
    return TransientDeliveryError(f"{type(exc).__name__}: {exc}")


def menu_definition(menu: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """WeChat's menu JSON for ``(label, command)`` pairs; a tuple of pairs makes a sub-menu.
    Each button is a click whose key is the command, delivered to us as ``evt:menu:<command>``."""

    def button(label: str, target: Any) -> dict[str, Any]:
        if isinstance(target, tuple):
            return {"name": label, "sub_button": [button(*child) for child in target]}
        return {"type": "click", "name": label, "key": target}

    return {"button": [button(*item) for item in menu]}


def _permanent_qrcode(client: WeChatClient, scene: str) -> dict[str, Any]:
    return client.qrcode.create(  # type: ignore[no-any-return]
        {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}}
    )


def village_qrcode(client: WeChatClient, village_code: str) -> str:
    """A permanent parametric QR code for a village's notice board: scanning it follows the account
    and binds the village (``qrscene_v<code>``). Returns the image URL."""
    return str(client.qrcode.get_url(_permanent_qrcode(client, f"v{village_code}")["ticket"]))


def scene_qr_content(client: WeChatClient, scene: str) -> str:
    """What the permanent QR code for ``scene`` encodes, so the village card can draw it locally."""
    return str(_permanent_qrcode(client, scene)["url"])
