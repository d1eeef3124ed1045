"""咨询工单 in the console: the tickets of the admin's area, the 司法所 queue, answering and closing.

A clerk sees their township's tickets (complaints included); a lawyer with a web login sees only
their villages' tickets and never complaints. Opening a ticket is audited.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session, joinedload

from admin import auth, scope
from admin.audit import audit, audit_shown, codes_of
from admin.console import db, flash, render, user_of
from core.clock import local_today, utcnow
from core.models import AdminUser, Lawyer, Message, Ticket, TicketEvent
from handlers import directory, texts, tickets

PAGE_SIZE = 50
#: The list's tabs (tickets_list.html)
VIEWS = ("active", "queue", "overdue", "complaints", "all")
STATUS_NAMES = texts.TICKET_STATUS
KIND_NAMES = {"consult": "咨询", "major_event": "重大事项", "complaint": "投诉"}


def visible(session: Session, user: AdminUser) -> ColumnElement[bool]:
    """Which tickets this admin may see."""
    if user.role == "superadmin":
        return true()
    villages = scope.village_ids(session, user) or []
    if user.role == "lawyer":
        mine = Ticket.lawyer_id == user.lawyer_id if user.lawyer_id else false()
        return (Ticket.kind != "complaint") & ((Ticket.village_id.in_(villages)) | mine)
    townships = scope.township_ids(session, user) or []
    return Ticket.village_id.in_(villages) | Ticket.township_id.in_(townships)


def _ticket(session: Session, user: AdminUser, code: str) -> Ticket:
    ticket = session.scalar(
        select(Ticket)
        .options(joinedload(Ticket.village), joinedload(Ticket.lawyer))
        .where(Ticket.code == code.upper(), visible(session, user))
    )
    if ticket is None:
        audit(session, user, "ticket_access_denied", code)
        session.commit()
        raise HTTPException(status_code=404, detail="没有这个工单，或者您无权查看。")
    return ticket


def router(templates: Jinja2Templates) -> APIRouter:
    r = APIRouter(prefix="/admin/tickets")

    def page(request: Request, name: str, user: AdminUser, **context: Any) -> HTMLResponse:
        return render(
            templates,
            request,
            name,
            user,
            status_names=STATUS_NAMES,
            kind_names=KIND_NAMES,
            topic_names=tickets.TOPIC_NAMES,
            **context,
        )

    @r.get("", response_class=HTMLResponse)
    def list_tickets(
        request: Request,
        view: str = "active",
        page_no: int = 1,
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> HTMLResponse:
        query = (
            select(Ticket)
            .options(joinedload(Ticket.village), joinedload(Ticket.lawyer))
            .where(visible(session, user))
            .order_by(Ticket.urgent.desc(), Ticket.created_at.desc(), Ticket.id.desc())
        )
        view = view if view in VIEWS else "all"  # what an unknown view shows, and is audited as
        if view == "active":
            query = query.where(Ticket.status.in_(tickets.ACTIVE))
        elif view == "queue":
            query = query.where(tickets.in_admin_queue())
        elif view == "overdue":
            query = query.where(Ticket.status.in_(tickets.AWAITING_FIRST_RESPONSE), Ticket.sla_due_at < utcnow())
        elif view == "complaints":
            query = query.where(Ticket.kind == "complaint")
        page_no = max(page_no, 1)
        rows = session.scalars(query.offset((page_no - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).unique().all()
        audit_shown(session, user, f"tickets:{view}", codes_of(rows[:PAGE_SIZE]))  # the list shows their questions
        return page(
            request,
            "tickets_list.html",
            user,
            rows=rows[:PAGE_SIZE],
            more=len(rows) > PAGE_SIZE,
            page_no=page_no,
            view=view,
        )

    @r.get("/{code}", response_class=HTMLResponse)
    def show(request: Request, code: str, user: AdminUser = Depends(user_of), session: Session = Depends(db)):  # type: ignore[no-untyped-def]
        ticket = _ticket(session, user, code)
        audit(session, user, "ticket_viewed", ticket.code or code)
        events = session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        ).all()
        messages = (
            session.scalars(
                select(Message)
                .where(Message.account_id == ticket.account_id, Message.created_at >= ticket.created_at)
                .order_by(Message.id)
                .limit(200)
            ).all()
            if ticket.account_id
            else []
        )
        today = local_today()
        lawyers = directory.village_lawyers(session, ticket.village_id, on=today) if ticket.village_id else []
        can_act = user.role in ("superadmin", "county_admin", "township_clerk")
        return page(
            request,
            "ticket_detail.html",
            user,
            ticket=ticket,
            events=events,
            messages=messages,
            lawyers=lawyers,
            can_act=can_act,
        )

    def _act(request: Request, user: AdminUser, session: Session, code: str, csrf: str) -> Ticket:
        auth.check_csrf(request, csrf)
        if user.role not in ("superadmin", "county_admin", "township_clerk"):
            raise HTTPException(status_code=403, detail="无权限：律师请在自己的聊天软件里答复。")
        return _ticket(session, user, code)

    @r.post("/{code}/answer")
    def answer(
        request: Request,
        code: str,
        text: str = Form(..., min_length=1, max_length=4000),
        csrf: str = Form(""),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> RedirectResponse:
        ticket = _act(request, user, session, code, csrf)
        if ticket.status == "closed":
            tickets.reopen(session, ticket, actor=f"admin:{user.username}", now=utcnow())
        tickets.answer(
            session,
            ticket,
            text=text.strip(),
            admin=user.username,
            now=utcnow(),
            key=f"admin-answer:{uuid.uuid4().hex}",
        )
        audit(session, user, "ticket_answered", ticket.code or code)
        flash(request, f"答复已发给村民（{ticket.code}）。")
        return RedirectResponse(f"/admin/tickets/{ticket.code}", status_code=303)

    @r.post("/{code}/close")
    def close(
        request: Request,
        code: str,
        csrf: str = Form(""),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> RedirectResponse:
        ticket = _act(request, user, session, code, csrf)
        tickets.close(session, ticket, actor=f"admin:{user.username}", now=utcnow())
        audit(session, user, "ticket_closed", ticket.code or code)
        flash(request, f"已关闭 {ticket.code}。")
        return RedirectResponse(f"/admin/tickets/{ticket.code}", status_code=303)

    @r.post("/{code}/assign")
    def assign(
        request: Request,
        code: str,
        lawyer_id: int = Form(...),
        csrf: str = Form(""),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> RedirectResponse:
        ticket = _act(request, user, session, code, csrf)
        lawyer = session.get(Lawyer, lawyer_id)
        advises = lawyer is not None and tickets.advises(session, lawyer.id, ticket.village_id, now=utcnow())
        if lawyer is None or ticket.kind == "complaint" or not advises:
            raise HTTPException(status_code=422, detail="只能转给这个村的法律顾问。")
        tickets.assign(session, ticket, lawyer, actor=f"admin:{user.username}", now=utcnow())
        audit(session, user, "ticket_assigned", ticket.code or code, f"lawyer:{lawyer.id}")
        flash(request, f"{ticket.code} 已转给{lawyer.name}律师。")
        return RedirectResponse(f"/admin/tickets/{ticket.code}", status_code=303)

    return r
