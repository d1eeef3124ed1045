"""The FastAPI application: web chat, webhooks, admin console, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin.auth import LoginRequired
from admin.container import Container, build
from bot import webchat
from core import http_errors
from core.config import Settings, get_settings
from core.threads import in_thread

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
#: The console's pages: no framing (clickjacking), nothing but our own scripts, forms and styles
#: (the templates use a few inline style attributes, never inline scripts).
CONSOLE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


def serve_app() -> FastAPI:
    """The app as each uvicorn worker process builds it (``villagelaw serve`` with WEB_WORKERS > 1)."""
    from core.logs import configure_logging

    limit_malloc_arenas()
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates its own malloc arena (up to 8 per core), and each
    arena keeps its freed memory: a serving process grows by tens of MB under load for nothing.
    Two arenas are plenty when the GIL lets one thread run at a time. Call before threads start."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX


def warm_up(container: Container) -> None:
    try:
        container.retriever.index()
        container.services.classifier.parse("你好")
    except Exception:  # the database may still be starting: the first request builds it then
        log.warning("warm-up skipped", exc_info=True)


def fit_models_in_child(settings: Settings) -> None:
    """Bring the model caches (intent model, paraphrase model) up to date in a short-lived child
    process, before the serving workers start: they then load arrays and never import
    scikit-learn, which would cost each of them about 80 MB for as long as it runs."""
    import multiprocessing

    child = multiprocessing.get_context("spawn").Process(target=_fit_models, args=(settings,), name="fit-models")
    child.start()
    child.join()
    if child.exitcode:  # the workers fit what is missing themselves
        log.warning("fitting the models before start failed (exit code %s)", child.exitcode)


def _fit_models(settings: Settings) -> None:
    from core.logs import configure_logging

    configure_logging(settings.log_level)
    # this process is the short-lived one: it fits here rather than spawning yet another
    container = build(settings.model_copy(update={"fit_models_in_child": False}))
    warm_up(container)
    container.engine.dispose()


class SecurityHeaders:
    """Headers on every response; the console's pages (personal data) also refuse framing and caching."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        console = scope["path"].startswith("/admin")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if console:
                    headers.setdefault("X-Frame-Options", "DENY")
                    headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
                    headers.setdefault("Cache-Control", "no-store")
                if self.https:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "container", None) is None:
            app.state.container = await in_thread(build, settings)
        if settings.env != "test":
            # Build the retrieval index and touch the model now, not in the first villager's request
            # (which could otherwise miss WeChat's 5-second window).
            await in_thread(warm_up, app.state.container)
        # Threads for the other blocking requests (console pages, exports) no more than pooled
        # connections: more threads only queue for a connection, and time out doing so under load.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.db_pool_size
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        async with contextlib.AsyncExitStack() as channels:
            # Messenger bots start before the workers that send through them and stop after.
            for lifespan_of in app.state.channel_lifespans:
                await channels.enter_async_context(lifespan_of(app.state.container))
            if settings.run_background_workers:
                from admin.workers import start_workers

                tasks = start_workers(app.state.container, stop)
            app.state.stop = stop
            try:
                yield
            finally:
                stop.set()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    app = FastAPI(title="村律通 villagelaw", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.container = container
    app.state.settings = settings
    # Two threads keep both cores busy while one message waits for PostgreSQL; every thread more
    # only passes the GIL back and forth (docs/PERFORMANCE.md, "fewer threads": 4.3 ms of server
    # CPU per message with two, 4.95–5.75 with one, three or six). Threads of its own, so a slow
    # console export does not hold up the villagers, nor they the console; a plain executor, not
    # anyio's limiter: 1.4 % fewer instructions a message (docs/PERFORMANCE.md, "the web chat's
    # lane").
    app.state.webchat_threads = ThreadPoolExecutor(settings.webchat_threads, thread_name_prefix="webchat")
    #: (container) -> async context manager, added by channels that run something of their own
    app.state.channel_lifespans = []
    # The session cookie: signed, HttpOnly, SameSite=strict, Secure with COOKIE_SECURE, and sent
    # to the console's paths only.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="vl_admin",
        same_site="strict",
        https_only=settings.cookie_secure,
        max_age=8 * 3600,
        path="/admin",
    )
    # Villagers' messages are answered here, past the session cookie and the routing (bot/webchat.py says why).
    app.add_middleware(webchat.MessagesLane)
    app.add_middleware(SecurityHeaders, https=settings.cookie_secure)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    from admin import audit_pages, cards, console, directory_pages, duty, kb_pages, stats_pages, tickets_pages

    app.include_router(webchat.router)
    app.include_router(webchat.page_routes(templates))
    app.include_router(console.router(templates))
    app.include_router(tickets_pages.router(templates))
    app.include_router(kb_pages.router(templates))
    app.include_router(directory_pages.router(templates))
    app.include_router(duty.router(templates))
    app.include_router(stats_pages.router(templates))
    app.include_router(audit_pages.router(templates))
    app.include_router(cards.router(templates))
    _install_channels(app, settings)

    @app.get("/healthz")
    def healthz(request: Request) -> JSONResponse:
        container: Container = request.app.state.container
        try:
            with container.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            database = "ok"
        except Exception:
            database = "unavailable"
        status = "ok" if database == "ok" else "degraded"
        body = {"status": status, "database": database, "channels": sorted(container.channels)}
        return JSONResponse(body, status_code=200 if status == "ok" else 503)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/admin/login?next={request.url.path}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_errors.http_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = ", ".join(".".join(str(p) for p in e["loc"][1:]) or "body" for e in exc.errors())
        return JSONResponse({"error": f"请求参数无效：{fields}"}, status_code=422)

    for database_error in http_errors.DATABASE_DOWN:

        @app.exception_handler(database_error)
        async def _db_down(request: Request, exc: Exception) -> JSONResponse:
            return http_errors.database_down(exc)

    return app


def _install_channels(app: FastAPI, settings: Settings) -> None:
    """Messenger webhooks exist exactly when their credentials are set."""
    if settings.telegram_enabled:
        from bot import telegram

        telegram.install(app, settings)
    if settings.wechat_enabled:
        from bot import wechat

        wechat.install(app, settings)
