"""The admin console's shell: login, logout, navigation, and the page helper every section uses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from admin import auth
from core.clock import utcnow
from core.models import AdminUser

#: (path, label) of every section, in the order of the navigation bar.
NAV: list[tuple[str, str]] = [("/admin", "概览")]
NAV += [("/admin/duty", "坐班日历"), ("/admin/compliance", "坐班考核")]


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
            "nav": NAV,
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


def router(templates: Jinja2Templates) -> APIRouter:
    r = APIRouter(prefix="/admin")

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

        return render(templates, request, "dashboard.html", user, **dash.overview(session, user, now=utcnow()))

    return r
