"""The admin console's shell: login, logout, navigation, and the page helper every section uses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from admin import auth
from core.clock import to_local, utcnow
from core.models import AdminUser

#: (path, label) of every section, in the order of the navigation bar. A module that adds a
#: section may append to it; ``nav_for`` drops repeated paths and keeps this order.
NAV: list[tuple[str, str]] = [
    ("/admin", "概览"),
    ("/admin/tickets", "咨询工单"),
    ("/admin/kb", "知识库"),
    ("/admin/directory", "村与律师"),
    ("/admin/duty", "坐班日历"),
    ("/admin/stats", "统计报表"),
    ("/admin/audit", "审计日志"),
]
#: Sections only some roles see (the pages check again: hiding a link is not access control).
NAV_ROLES: dict[str, tuple[str, ...]] = {
    "/admin/directory": ("superadmin", "county_admin", "township_clerk"),
    "/admin/audit": ("superadmin", "county_admin"),
}
#: Other paths that belong to a section, so its tab stays highlighted there.
NAV_ALSO: dict[str, tuple[str, ...]] = {
    "/admin/duty": ("/admin/compliance",),
    "/admin/stats": ("/admin/gaps", "/admin/cards"),
}


def nav_for(user: AdminUser | None, path: str) -> list[tuple[str, str, bool]]:
    """(href, label, active) of the sections this user may open."""
    if user is None:
        return []
    seen: set[str] = set()
    out = []
    for href, label in NAV:
        if href in seen or user.role not in NAV_ROLES.get(href, (user.role,)):
            continue
        seen.add(href)
        prefixes = (href, *NAV_ALSO.get(href, ())) if href != "/admin" else ()
        active = path == href or any(path.startswith(p) for p in prefixes)
        out.append((href, label, active))
    return out


def now_of(request: Request) -> dt.datetime:
    """The console reasons at the router's clock (the real time, or a frozen one in tests)."""
    container = request.app.state.container
    return container.router.clock() if container is not None else utcnow()  # type: ignore[no-any-return]


def db(request: Request) -> Iterator[Session]:
    session = request.app.state.container.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def user_of(request: Request, session: Session = Depends(db)) -> AdminUser:
    return auth.current_user(request, session)


def render(
    templates: Jinja2Templates, request: Request, name: str, user: AdminUser | None, **context: Any
) -> HTMLResponse:
    flashes = request.session.pop("flash", []) if "flash" in request.session else []
    return templates.TemplateResponse(
        request,
        name,
        {
            "user": user,
            "nav": nav_for(user, request.url.path),
            "csrf": auth.csrf_token(request),
            "role_name": auth.ROLES.get(user.role, user.role) if user else "",
            "flashes": flashes,
            **context,
        },
    )


def flash(request: Request, message: str) -> None:
    request.session["flash"] = [*request.session.get("flash", []), message]


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never an open redirect to another host.
    if not target or not target.startswith("/admin") or urlparse(target).netloc:
        return "/admin"
    return target


def local_time(value: dt.datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    """A naive-UTC instant as local time, for tables."""
    return to_local(value).strftime(fmt) if value is not None else ""


def router(templates: Jinja2Templates) -> APIRouter:
    r = APIRouter(prefix="/admin")
    templates.env.globals["local"] = local_time

    @r.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/admin") -> HTMLResponse:
        return render(templates, request, "login.html", None, next=_safe_next(next), error=None)

    @r.post("/login", response_model=None)
    def login(
        request: Request,
        username: str = Form(..., max_length=100),
        password: str = Form(..., max_length=200),
        csrf: str = Form(""),
        next: str = Form("/admin"),
        session: Session = Depends(db),
    ) -> Response:
        auth.check_csrf(request, csrf)
        settings = request.app.state.container.settings
        result = auth.authenticate(session, settings=settings, username=username, password=password, now=utcnow())
        if result.user is None:
            response = render(templates, request, "login.html", None, next=_safe_next(next), error=result.error)
            response.status_code = 401
            return response
        request.session.clear()
        request.session["uid"] = result.user.id
        return RedirectResponse(_safe_next(next), status_code=303)

    @r.post("/logout")
    def logout(request: Request, csrf: str = Form("")) -> RedirectResponse:
        auth.check_csrf(request, csrf)
        request.session.clear()
        return RedirectResponse("/admin/login", status_code=303)

    @r.get("", response_class=HTMLResponse)
    def dashboard(request: Request, user: AdminUser = Depends(user_of), session: Session = Depends(db)) -> HTMLResponse:
        from admin import dashboard as dash
        from admin.audit import audit_shown, codes_of
        from handlers import texts

        now = now_of(request)
        overview = dash.overview(session, user, now=now)
        audit_shown(session, user, "dashboard", codes_of(overview["urgent"]), now=now)  # their questions are shown
        return render(
            templates,
            request,
            "dashboard.html",
            user,
            ticket_status=texts.TICKET_STATUS,
            kinds=texts.SESSION_KINDS,
            duty_status=texts.DUTY_STATUS,
            **overview,
        )

    return r
