"""统计报表 and 知识库缺口 in the console.

统计报表: the figures of admin.figures for a period and an area, each table with its chart (SVG
drawn on the server) and an Excel download; the whole report downloads as one workbook, the
same one ``villagelaw report`` writes.

知识库缺口: questions that went to lawyers or that the knowledge base answered poorly, clustered
(knowledge_base.gaps), with a link that opens the new-article form pre-filled with a cluster's
questions, and a button that turns a lawyer's answer on a closed ticket into a draft article.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy import and_, desc, exists, func, or_, select
from sqlalchemy.orm import Session, joinedload

from admin import auth, charts, figures, scope, stats_snapshots
from admin.audit import audit, audit_shown
from admin.console import db, flash, now_of, render, user_of
from admin.kb_pages import EDITORS, INTENT_NAMES
from core.clock import to_local
from core.models import (
    AdminUser,
    ChannelAccount,
    County,
    KbArticle,
    Message,
    Ticket,
    TicketEvent,
    Township,
    Villager,
)
from knowledge_base import gaps
from knowledge_base import service as kb
from scheduling import compliance

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GAP_SOURCE_LIMIT = 2000  # most recent tickets and most recent poorly answered messages
CLUSTERS_PER_PAGE = 20
CLOSED_PER_PAGE = 20


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def resolve(
    session: Session, user: AdminUser, *, period: str | None, county: str | None, township: str | None, now: dt.datetime
) -> tuple[figures.Period, scope.Area]:
    try:
        chosen = figures.parse_period(period, today=to_local(now).date())
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    try:
        area = scope.area(session, user, county_id=_int(county), township_id=_int(township))
    except scope.OutOfScope:
        raise HTTPException(status_code=403, detail="无权限：这个地区不在您的管辖范围内。") from None
    return chosen, area


def area_choices(session: Session, user: AdminUser, county: str | None) -> dict[str, Any]:
    """The county and township pickers, limited to what this admin may see."""
    if user.role == "lawyer":
        return {"counties": [], "townships": []}
    if user.role == "township_clerk":
        return {"counties": [], "townships": []}
    counties: list[County] = []
    if user.role == "superadmin":
        counties = list(session.scalars(select(County).order_by(County.league, County.name).limit(500)))
    county_id = user.county_id if user.role == "county_admin" else _int(county)
    townships: list[Township] = []
    if county_id:
        townships = list(
            session.scalars(select(Township).where(Township.county_id == county_id).order_by(Township.name))
        )
    return {"counties": counties, "townships": townships}


def _query(period: figures.Period, county: str | None, township: str | None, **extra: Any) -> str:
    params = {"period": period.key, "county": county or "", "township": township or "", **extra}
    return urlencode({k: v for k, v in params.items() if v not in ("", None)})


def router(templates: Jinja2Templates) -> APIRouter:
    r = APIRouter(prefix="/admin")

    # ------------------------------------------------------------------ 统计报表

    @r.get("/stats", response_class=HTMLResponse)
    def stats_page(
        request: Request,
        period: str | None = None,
        county: str | None = None,
        township: str | None = None,
        cpage: int = 1,
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> HTMLResponse:
        now = now_of(request)
        chosen, area = resolve(session, user, period=period, county=county, township=township, now=now)
        cpage = max(cpage, 1)
        result = stats_snapshots.figures_for_page(
            session, request.app.state.container.settings, area=area, period=chosen, page=cpage, now=now
        )
        village_total = figures.count_villages(session, area)
        today = to_local(now).date()
        shortcuts = [
            ("本月", f"{today:%Y-%m}"),
            ("上月", f"{(today.replace(day=1) - dt.timedelta(days=1)):%Y-%m}"),
            ("本季度", f"{today.year}-Q{(today.month - 1) // 3 + 1}"),
            ("本年", str(today.year)),
        ]
        return render(
            templates,
            request,
            "stats.html",
            user,
            figures=result,
            charts={t.key: Markup(charts.svg(t)) for t in result.tables},
            captions={t.key: charts.caption(t) for t in result.tables},
            compliance_counts=figures.compliance_status_counts(result.table("compliance")),
            status_badges={label: status for status, label in compliance.STATUS_LABELS.items()},
            period=chosen,
            county=county or "",
            township=township or "",
            query=_query(chosen, county, township),
            shortcuts=shortcuts,
            cpage=cpage,
            cpages=max(1, -(-village_total // figures.PAGE_VILLAGES)),
            page_size=figures.PAGE_VILLAGES,
            village_total=village_total,
            computed_at=to_local(result.generated_at),
            **area_choices(session, user, county),
        )

    @r.get("/stats.xlsx")
    def stats_export(
        request: Request,
        table: str = "all",
        period: str | None = None,
        county: str | None = None,
        township: str | None = None,
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> Response:
        now = now_of(request)
        chosen, area = resolve(session, user, period=period, county=county, township=township, now=now)
        if table != "all" and table not in figures.TABLE_KEYS:
            raise HTTPException(status_code=404, detail="没有这张表")
        only = None if table == "all" else [table]
        result = figures.compute(
            session, request.app.state.container.settings, period=chosen, area=area, now=now, only=only
        )
        body = figures.to_workbook(result)
        audit(session, user, "stats_exported", table, f"{chosen.key} {area.label}", now=now)
        name = f"villagelaw-{table}-{chosen.key}.xlsx"
        return Response(body, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # ------------------------------------------------------------------ 知识库缺口

    @r.get("/gaps", response_class=HTMLResponse)
    def gaps_page(
        request: Request,
        period: str | None = None,
        county: str | None = None,
        township: str | None = None,
        page_no: int = 1,
        closed_page: int = 1,
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> HTMLResponse:
        now = now_of(request)
        chosen, area = resolve(session, user, period=period, county=county, township=township, now=now)
        settings = request.app.state.container.settings
        items = gap_items(session, area, chosen, kb_suggest_score=settings.kb_suggest_score)
        clusters = gaps.cluster(items)
        page_no = max(page_no, 1)
        shown = clusters[(page_no - 1) * CLUSTERS_PER_PAGE : page_no * CLUSTERS_PER_PAGE]
        answered = _answered_closed(session, [ref for c in shown for ref in c.refs if ref.startswith("T-")])
        closed_page = max(closed_page, 1)
        closed = closed_tickets(
            session, area, chosen, offset=(closed_page - 1) * CLOSED_PER_PAGE, limit=CLOSED_PER_PAGE + 1
        )
        proposed = set(
            session.scalars(select(KbArticle.slug).where(KbArticle.slug.in_([draft_slug(t.id) for t, _ in closed])))
        )
        viewed = list(dict.fromkeys([t.code or "" for t, _ in closed[:CLOSED_PER_PAGE]] + sorted(answered)[:20]))
        audit_shown(session, user, "kb-gaps", viewed, now=now)
        return render(
            templates,
            request,
            "gaps.html",
            user,
            period=chosen,
            county=county or "",
            township=township or "",
            area_label=area.label,
            clusters=shown,
            cluster_offset=(page_no - 1) * CLUSTERS_PER_PAGE,
            total_clusters=len(clusters),
            total_items=len(items),
            page_no=page_no,
            more=len(clusters) > page_no * CLUSTERS_PER_PAGE,
            answered=answered,
            closed=closed[:CLOSED_PER_PAGE],
            closed_more=len(closed) > CLOSED_PER_PAGE,
            closed_page=closed_page,
            proposed=proposed,
            draft_slug=draft_slug,
            new_article_link=new_article_link,
            intents=INTENT_NAMES,
            can_edit=user.role in EDITORS,
            query=_query(chosen, county, township),
            **area_choices(session, user, county),
        )

    @r.post("/gaps/draft", response_model=None)
    def propose_draft(
        request: Request,
        ticket_id: int = Form(...),
        questions: str = Form(""),
        csrf: str = Form(""),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> Response:
        auth.check_csrf(request, csrf)
        if user.role not in EDITORS:
            raise HTTPException(status_code=403, detail="无权限：只有旗县司法局管理员可以编辑知识库。")
        now = now_of(request)
        ticket = session.get(Ticket, ticket_id)
        area = scope.area(session, user)
        if ticket is None or not session.scalar(
            select(func.count(Ticket.id)).where(Ticket.id == ticket_id, area.ticket_filter())
        ):
            raise HTTPException(status_code=404, detail="没有这张工单，或者它不在您的管辖范围内。")
        slug = draft_slug(ticket.id)
        if kb.get(session, slug) is not None:
            flash(request, "这张工单的答复已经提议过，草稿在这里。")
            return RedirectResponse(f"/admin/kb/{slug}", status_code=303)
        if ticket.status != "closed":
            raise HTTPException(status_code=409, detail="工单还没有结办：结办后才能把律师答复提议为文章。")
        answers = list(
            session.scalars(
                select(TicketEvent.detail)
                .where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == "answered")
                .order_by(TicketEvent.at, TicketEvent.id)
            )
        )
        asked = [ticket.question, *(q for q in questions.splitlines() if q.strip())]
        try:
            draft = gaps.draft_from_answer(
                slug=slug,
                questions=asked,
                answers=[a for a in answers if a],
                intent=ticket.intent,
                source=f"来源{ticket.code}",
                today=to_local(now).date(),
            )
        except ValueError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        kb.save(session, draft.article, author=user.username, now=now)
        audit(session, user, "kb_draft_proposed", slug, f"from ticket {ticket.code}", now=now)
        notes = ["已根据律师答复生成草稿（未发布），请编辑、核对法律依据并填写审核人后再发布。"]
        if draft.truncated:
            notes.append("律师答复超过300字，已截断。")
        if not draft.cited:
            notes.append(f"答复中没有写明法条，法律依据暂为“{gaps.PLACEHOLDER_LAW}”，请补充。")
        flash(request, "".join(notes))
        return RedirectResponse(f"/admin/kb/{slug}", status_code=303)

    return r


# ---------------------------------------------------------------------- queries


def draft_slug(ticket_id: int) -> str:
    return f"draft-ticket-{ticket_id}"


def new_article_link(cluster: gaps.Cluster) -> str:
    params = {"title": cluster.title, "questions": "\n".join(cluster.sample_questions())}
    if cluster.intent:
        params["intent"] = cluster.intent
    return "/admin/kb/new?" + urlencode(params)


def gap_items(
    session: Session, area: scope.Area, period: figures.Period, *, kb_suggest_score: float
) -> list[gaps.GapItem]:
    """The most recent questions that went to a lawyer, and those the knowledge base answered
    poorly (a low retrieval score, only suggestions, or no answer at all)."""
    start, end = period.utc_bounds
    tickets = session.execute(
        select(Ticket.question, Ticket.intent, Ticket.code)
        .where(
            Ticket.created_at >= start,
            Ticket.created_at < end,
            Ticket.kind.in_(("consult", "major_event")),
            area.ticket_filter(),
        )
        .order_by(desc(Ticket.id))
        .limit(GAP_SOURCE_LIMIT)
    ).all()
    poorly = or_(Message.answered_by.in_(("unsure", "suggest")), Message.kb_score < kb_suggest_score)
    messages = (
        select(Message.text, Message.intent, Message.id)
        .where(
            Message.direction == "in",
            Message.created_at >= start,
            Message.created_at < end,
            Message.answered_by.in_(("kb", "suggest", "unsure")),
            poorly,
        )
        .order_by(desc(Message.id))
        .limit(GAP_SOURCE_LIMIT)
    )
    if area.villages is not None:
        messages = (
            messages.join(ChannelAccount, ChannelAccount.id == Message.account_id)
            .join(Villager, Villager.id == ChannelAccount.villager_id)
            .where(area.village_filter(Villager.village_id))
        )
    items = [gaps.GapItem(q, "ticket", i, c) for q, i, c in tickets if q]
    items += [gaps.GapItem(t, "low_score", i, f"M{m}") for t, i, m in session.execute(messages).all() if t]
    return items


def _has_answer() -> Any:
    return exists().where(TicketEvent.ticket_id == Ticket.id, TicketEvent.action == "answered")


def _answered_closed(session: Session, codes: list[str]) -> dict[str, int]:
    """Ticket code → id, for the closed tickets among ``codes`` that have an answer."""
    if not codes:
        return {}
    rows = session.execute(
        select(Ticket.code, Ticket.id).where(Ticket.code.in_(codes), Ticket.status == "closed", _has_answer())
    ).all()
    return {code: ticket_id for code, ticket_id in rows if code}


def closed_tickets(
    session: Session, area: scope.Area, period: figures.Period, *, offset: int, limit: int
) -> list[tuple[Ticket, str]]:
    """Closed tickets of the period with the (first) answer given, newest first."""
    start, end = period.utc_bounds
    first_answer = (
        select(TicketEvent.detail)
        .where(TicketEvent.ticket_id == Ticket.id, TicketEvent.action == "answered")
        .order_by(TicketEvent.at, TicketEvent.id)
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Ticket, first_answer)
        .options(joinedload(Ticket.lawyer), joinedload(Ticket.village))
        .where(
            and_(Ticket.created_at >= start, Ticket.created_at < end),
            Ticket.status == "closed",
            Ticket.kind.in_(("consult", "major_event")),
            area.ticket_filter(),
            _has_answer(),
        )
        .order_by(desc(Ticket.id))
        .offset(offset)
        .limit(limit)
    ).all()
    return [(ticket, answer or "") for ticket, answer in rows]
