"""审计日志: who logged in, edited, viewed and exported what — newest first, filterable, paged by
id (keyset: the next page is ``id < last id``, as fast on page 1000 as on page 1).

A system administrator sees every event; a county admin sees the events of the admins of their
county (their own, their clerks', their lawyers' web logins)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import String, literal, or_, select
from sqlalchemy.orm import Session

from admin.console import db, render, user_of
from core.clock import to_utc
from core.models import AdminUser, AuditEvent, Township

PAGE_SIZE = 50
VIEWERS = ("superadmin", "county_admin")
#: Actions written by the code, for the filter's suggestions (any text may be typed).
KNOWN_ACTIONS = (
    "login",
    "login_failed",
    "login_locked",
    "ticket_viewed",
    "tickets_viewed",
    "ticket_access_denied",
    "major_event_reported",
    "kb_article_saved",
    "kb_article_reverted",
    "kb_draft_proposed",
    "kb_imported",
    "kb_exported",
    "stats_exported",
    "report_exported",
    "card_downloaded",
)


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip()) if value and value.strip() else None
    except ValueError:
        raise HTTPException(status_code=400, detail="日期格式应为 YYYY-MM-DD") from None


def router(templates: Jinja2Templates) -> APIRouter:
    r = APIRouter(prefix="/admin")

    @r.get("/audit", response_class=HTMLResponse)
    def audit_page(
        request: Request,
        actor: str = "",
        action: str = "",
        date_from: str = "",
        date_to: str = "",
        before: int | None = None,
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> HTMLResponse:
        if user.role not in VIEWERS:
            raise HTTPException(status_code=403, detail="无权限：只有旗县司法局管理员可以查看审计日志。")
        query = select(AuditEvent).order_by(AuditEvent.id.desc())
        if user.role == "county_admin":
            townships = select(Township.id).where(Township.county_id == user.county_id)
            admins = select(literal("admin:", String) + AdminUser.username).where(
                or_(AdminUser.county_id == user.county_id, AdminUser.township_id.in_(townships))
            )
            query = query.where(AuditEvent.actor.in_(admins))
        if actor.strip():
            query = query.where(AuditEvent.actor.like(f"%{actor.strip()[:80]}%"))
        if action.strip():
            query = query.where(AuditEvent.action == action.strip()[:50])
        first, last = _date(date_from), _date(date_to)
        if first:
            query = query.where(AuditEvent.at >= to_utc(dt.datetime.combine(first, dt.time())))
        if last:
            query = query.where(AuditEvent.at < to_utc(dt.datetime.combine(last + dt.timedelta(days=1), dt.time())))
        if before:
            query = query.where(AuditEvent.id < before)
        rows = session.scalars(query.limit(PAGE_SIZE + 1)).all()
        filters = {"actor": actor, "action": action, "date_from": date_from, "date_to": date_to}
        next_query = (
            urlencode({**{k: v for k, v in filters.items() if v}, "before": rows[PAGE_SIZE - 1].id})
            if len(rows) > PAGE_SIZE
            else None
        )
        return render(
            templates,
            request,
            "audit.html",
            user,
            rows=rows[:PAGE_SIZE],
            next_query=next_query,
            first_query=urlencode({k: v for k, v in filters.items() if v}),
            paged=before is not None,
            known_actions=KNOWN_ACTIONS,
            **filters,
        )

    return r
