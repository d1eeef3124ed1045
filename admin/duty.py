"""坐班日历 and 坐班考核 in the console: a month calendar per area, sessions and recurring rules
(create / edit / cancel / record), and the compliance report with its Excel download.

Everything is scoped to the admin's area (admin.scope); a lawyer's web login sees their villages
read-only. Forms carry the CSRF token; the rules themselves live in scheduling.calendar.
"""

from __future__ import annotations

import calendar as month_grid
import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from admin import auth, scope
from admin.audit import audit
from admin.console import db, flash, render, user_of
from core.clock import WEEKDAYS, local_today, to_local, utcnow
from core.models import AdminUser, DutyRule, DutySession, Lawyer, Township, Village
from handlers import directory, texts
from scheduling import calendar, compliance

EDITORS = ("superadmin", "county_admin", "township_clerk")
STATUS_CLASS = {"planned": "", "done": "green", "cancelled": "", "missed": "red"}


def _editor(user: AdminUser) -> None:
    if user.role not in EDITORS:
        raise HTTPException(status_code=403, detail="无权限：只有司法局、司法所工作人员可以修改坐班安排。")


def _villages(session: Session, user: AdminUser) -> list[Village]:
    ids = scope.village_ids(session, user)
    query = select(Village).options(joinedload(Village.township).joinedload(Township.county))
    if ids is not None:
        query = query.where(Village.id.in_(ids))
    return sorted(session.scalars(query).all(), key=lambda v: (v.township.county.name, v.township.name, v.name))


def _village_in_scope(session: Session, user: AdminUser, village_id: int) -> Village:
    ids = scope.village_ids(session, user)
    village = session.get(Village, village_id)
    if village is None or (ids is not None and village_id not in ids):
        raise HTTPException(status_code=403, detail="无权限：这个村不在您的管辖范围内。")
    return village


def _duty_in_scope(session: Session, user: AdminUser, duty_id: int) -> DutySession:
    duty = session.get(DutySession, duty_id)
    if duty is None:
        raise HTTPException(status_code=404, detail="没有这次坐班")
    _village_in_scope(session, user, duty.village_id)
    return duty


def _lawyers_for(session: Session, villages: list[Village]) -> list[Lawyer]:
    today = local_today()
    seen: dict[int, Lawyer] = {}
    for village in villages:
        for a in directory.current_assignments(session, village.id, on=today):
            seen.setdefault(a.lawyer_id, a.lawyer)
    return sorted(seen.values(), key=lambda lw: lw.name)


def _month(value: str | None) -> tuple[int, int]:
    if value:
        try:
            return compliance.parse_month(value)
        except ValueError:
            pass
    today = to_local(utcnow())
    return today.year, today.month


def _shift(year: int, month: int, delta: int) -> str:
    index = year * 12 + month - 1 + delta
    return f"{index // 12}-{index % 12 + 1:02d}"


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _back(duty_or_day: DutySession | dt.date) -> str:
    day = duty_or_day if isinstance(duty_or_day, dt.date) else to_local(duty_or_day.starts_at).date()
    return f"/admin/duty?month={day:%Y-%m}"


def _form_context(session: Session, user: AdminUser, **extra: Any) -> dict[str, Any]:
    villages = _villages(session, user)
    return {
        "villages": villages,
        "lawyers": _lawyers_for(session, villages),
        "kinds": texts.SESSION_KINDS,
        "presets": calendar.PRESETS,
        "can_edit": user.role in EDITORS,
        **extra,
    }


def router(templates: Jinja2Templates) -> APIRouter:
    r = APIRouter(prefix="/admin")

    # ------------------------------------------------------------------ calendar

    @r.get("/duty", response_class=HTMLResponse)
    def month_view(
        request: Request,
        month: str | None = None,
        township: str | None = None,
        lawyer: str | None = None,
        village: str | None = None,
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> HTMLResponse:
        year, mon = _month(month)
        start, end = compliance.local_bounds(year, mon)
        villages = _villages(session, user)
        township_id, lawyer_id, village_id = _int(township), _int(lawyer), _int(village)
        shown = [v for v in villages if township_id in (None, v.township_id) and village_id in (None, v.id)]
        query = (
            select(DutySession)
            .options(joinedload(DutySession.village), joinedload(DutySession.lawyer))
            .where(
                DutySession.starts_at >= start,
                DutySession.starts_at < end,
                DutySession.village_id.in_([v.id for v in shown]),
            )
            .order_by(DutySession.starts_at)
        )
        if lawyer_id is not None:
            query = query.where(DutySession.lawyer_id == lawyer_id)
        by_day: dict[dt.date, list[DutySession]] = {}
        for duty in session.scalars(query):
            by_day.setdefault(to_local(duty.starts_at).date(), []).append(duty)
        weeks = month_grid.Calendar(firstweekday=0).monthdatescalendar(year, mon)
        townships = sorted({v.township for v in villages}, key=lambda t: (t.county.name, t.name))
        return render(
            templates,
            request,
            "duty.html",
            user,
            year=year,
            month=mon,
            weeks=weeks,
            by_day=by_day,
            weekdays=WEEKDAYS,
            prev_month=_shift(year, mon, -1),
            next_month=_shift(year, mon, 1),
            townships=townships,
            villages=villages,
            lawyers=_lawyers_for(session, villages),
            selected={"township": township_id, "lawyer": lawyer_id, "village": village_id},
            can_edit=user.role in EDITORS,
            local=to_local,
            kinds=texts.SESSION_KINDS,
            statuses=texts.DUTY_STATUS,
            status_class=STATUS_CLASS,
            total=sum(len(v) for v in by_day.values()),
        )

    # ------------------------------------------------------------------ sessions

    @r.get("/duty/new", response_class=HTMLResponse)
    def new_form(
        request: Request, date: str | None = None, user: AdminUser = Depends(user_of), session: Session = Depends(db)
    ) -> HTMLResponse:
        _editor(user)
        day = date or f"{local_today() + dt.timedelta(days=7):%Y-%m-%d}"
        values = {"date": day, "start": "09:00", "end": "13:00", "kind": "onsite", "place": ""}
        return render(
            templates, request, "duty_form.html", user, **_form_context(session, user, duty=None, values=values)
        )

    @r.post("/duty/new", response_model=None)
    def create(
        request: Request,
        csrf: str = Form(""),
        village_id: int = Form(...),
        lawyer_id: int = Form(...),
        date: str = Form(..., max_length=10),
        start: str = Form(..., max_length=5),
        end: str = Form(..., max_length=5),
        place: str = Form("", max_length=100),
        kind: str = Form("onsite", max_length=20),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> Response:
        auth.check_csrf(request, csrf)
        _editor(user)
        village = _village_in_scope(session, user, village_id)
        values = {"village_id": village_id, "lawyer_id": lawyer_id, "date": date, "start": start, "end": end,
                  "place": place, "kind": kind}  # fmt: skip
        try:
            lawyer = _lawyer(session, lawyer_id)
            starts_at, ends_at = calendar.local_range(_date(date), start, end)
            with session.begin_nested():
                duty = calendar.create_session(
                    session,
                    lawyer=lawyer,
                    village=village,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    place=place,
                    kind=kind,
                    now=utcnow(),
                    actor=f"admin:{user.username}",
                )
        except calendar.CalendarError as exc:
            return _form_error(templates, request, session, user, str(exc), duty=None, values=values)
        flash(request, f"已添加坐班：{village.name} {date} {start}–{end}")
        return RedirectResponse(_back(duty), status_code=303)

    @r.get("/duty/{duty_id:int}", response_class=HTMLResponse)
    def edit_form(
        request: Request, duty_id: int, user: AdminUser = Depends(user_of), session: Session = Depends(db)
    ) -> HTMLResponse:
        duty = _duty_in_scope(session, user, duty_id)
        return render(
            templates, request, "duty_form.html", user, **_form_context(session, user, duty=duty, values=_values(duty))
        )

    @r.post("/duty/{duty_id:int}", response_model=None)
    def update(
        request: Request,
        duty_id: int,
        csrf: str = Form(""),
        lawyer_id: int = Form(...),
        date: str = Form(..., max_length=10),
        start: str = Form(..., max_length=5),
        end: str = Form(..., max_length=5),
        place: str = Form("", max_length=100),
        kind: str = Form("onsite", max_length=20),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> Response:
        auth.check_csrf(request, csrf)
        _editor(user)
        duty = _duty_in_scope(session, user, duty_id)
        values = {"village_id": duty.village_id, "lawyer_id": lawyer_id, "date": date, "start": start, "end": end,
                  "place": place, "kind": kind}  # fmt: skip
        try:
            lawyer = _lawyer(session, lawyer_id)
            starts_at, ends_at = calendar.local_range(_date(date), start, end)
            with session.begin_nested():
                notices = calendar.update_session(
                    session,
                    duty,
                    lawyer=lawyer,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    place=place,
                    kind=kind,
                    now=utcnow(),
                    actor=f"admin:{user.username}",
                )
        except calendar.CalendarError as exc:
            session.refresh(duty)
            return _form_error(templates, request, session, user, str(exc), duty=duty, values=values)
        flash(request, "已保存。" + (f"已通知{notices}位收到过提醒的人改期。" if notices else ""))
        return RedirectResponse(_back(duty), status_code=303)

    @r.post("/duty/{duty_id:int}/cancel", response_model=None)
    def cancel(
        request: Request,
        duty_id: int,
        csrf: str = Form(""),
        reason: str = Form("", max_length=500),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> Response:
        auth.check_csrf(request, csrf)
        _editor(user)
        duty = _duty_in_scope(session, user, duty_id)
        try:
            with session.begin_nested():
                notices = calendar.cancel_session(
                    session, duty, reason=reason, now=utcnow(), actor=f"admin:{user.username}"
                )
        except calendar.CalendarError as exc:
            flash(request, str(exc))
            return RedirectResponse(f"/admin/duty/{duty_id}", status_code=303)
        flash(request, "已取消这次坐班。" + (f"已通知{notices}位收到过提醒的人。" if notices else ""))
        return RedirectResponse(_back(duty), status_code=303)

    @r.post("/duty/{duty_id:int}/record", response_model=None)
    def record(
        request: Request,
        duty_id: int,
        csrf: str = Form(""),
        outcome: str = Form(..., max_length=10),
        hours: str = Form("", max_length=10),
        people: str = Form("", max_length=10),
        reason: str = Form("", max_length=500),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> Response:
        auth.check_csrf(request, csrf)
        _editor(user)
        duty = _duty_in_scope(session, user, duty_id)
        actor = f"admin:{user.username}"
        try:
            with session.begin_nested():
                if outcome == "done":
                    calendar.record_done(
                        session, duty, hours=_number(hours, "时长"), people=int(_number(people, "接待人数")),
                        now=utcnow(), actor=actor,
                    )  # fmt: skip
                else:
                    calendar.record_missed(session, duty, reason=reason, now=utcnow(), actor=actor)
        except calendar.CalendarError as exc:
            flash(request, str(exc))
            return RedirectResponse(f"/admin/duty/{duty_id}", status_code=303)
        flash(request, "已记录。")
        return RedirectResponse(_back(duty), status_code=303)

    # ------------------------------------------------------------------ recurring rules

    @r.get("/duty/rules", response_class=HTMLResponse)
    def rules_page(
        request: Request, user: AdminUser = Depends(user_of), session: Session = Depends(db)
    ) -> HTMLResponse:
        return _rules_page(templates, request, session, user, error=None, values={})

    @r.post("/duty/rules", response_model=None)
    def create_rule(
        request: Request,
        csrf: str = Form(""),
        village_id: int = Form(...),
        lawyer_id: int = Form(...),
        rrule: str = Form(..., max_length=300),
        start: str = Form("09:00", max_length=5),
        hours: str = Form("4", max_length=5),
        place: str = Form("", max_length=100),
        kind: str = Form("onsite", max_length=20),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> Response:
        auth.check_csrf(request, csrf)
        _editor(user)
        village = _village_in_scope(session, user, village_id)
        values = {"village_id": village_id, "lawyer_id": lawyer_id, "rrule": rrule, "start": start, "hours": hours,
                  "place": place, "kind": kind}  # fmt: skip
        try:
            with session.begin_nested():
                rule, planned = calendar.create_rule(
                    session,
                    settings=request.app.state.container.settings,
                    lawyer=_lawyer(session, lawyer_id),
                    village=village,
                    rrule=rrule,
                    start_time=start,
                    duration_minutes=round(_number(hours, "时长") * 60),
                    place=place,
                    kind=kind,
                    now=utcnow(),
                    actor=f"admin:{user.username}",
                )
        except calendar.CalendarError as exc:
            response = _rules_page(templates, request, session, user, error=str(exc), values=values)
            response.status_code = 400
            return response
        flash(request, f"已添加规则：{village.name} {calendar.describe_rrule(rule.rrule)}，已排出{planned}次坐班。")
        return RedirectResponse("/admin/duty/rules", status_code=303)

    @r.post("/duty/rules/{rule_id:int}/stop", response_model=None)
    def stop_rule(
        request: Request,
        rule_id: int,
        csrf: str = Form(""),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> Response:
        auth.check_csrf(request, csrf)
        _editor(user)
        rule = session.get(DutyRule, rule_id)
        if rule is None:
            raise HTTPException(status_code=404, detail="没有这条规则")
        _village_in_scope(session, user, rule.village_id)
        cancelled = calendar.deactivate_rule(session, rule, now=utcnow(), actor=f"admin:{user.username}")
        flash(request, f"已停用规则，取消了之后的{cancelled}次坐班。")
        return RedirectResponse("/admin/duty/rules", status_code=303)

    # ------------------------------------------------------------------ compliance

    @r.get("/compliance", response_class=HTMLResponse)
    def compliance_page(
        request: Request,
        month: str | None = None,
        county: str | None = None,
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> HTMLResponse:
        year, mon = _month(month)
        rules, rows = _compliance_rows(request, session, user, year, mon, _int(county))
        counties = sorted({v.township.county for v in _villages(session, user)}, key=lambda c: c.name)
        return render(
            templates,
            request,
            "compliance.html",
            user,
            year=year,
            month=mon,
            rows=rows,
            rules=compliance.rules_lines(rules),
            labels=compliance.STATUS_LABELS,
            counties=counties,
            county=_int(county),
            prev_month=_shift(year, mon, -1),
            next_month=_shift(year, mon, 1),
            counts={s: sum(1 for r in rows if r.result.status == s) for s in compliance.STATUS_LABELS},
        )

    @r.get("/compliance.xlsx")
    def compliance_xlsx(
        request: Request,
        month: str | None = None,
        county: str | None = None,
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> Response:
        year, mon = _month(month)
        rules, rows = _compliance_rows(request, session, user, year, mon, _int(county))
        body = compliance.to_xlsx(rows, rules, year=year, month=mon)
        name = f"compliance-{year}-{mon:02d}.xlsx"
        audit(session, user, "compliance_exported", name, f"county={_int(county)} rows={len(rows)}")
        return Response(
            body,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return r


def _compliance_rows(
    request: Request, session: Session, user: AdminUser, year: int, month: int, county_id: int | None
) -> tuple[compliance.Rules, list[compliance.Row]]:
    rules = compliance.Rules.from_settings(request.app.state.container.settings)
    ids = [v.id for v in _villages(session, user) if county_id in (None, v.township.county_id)]
    lawyer_id = user.lawyer_id if user.role == "lawyer" else None
    rows = compliance.report(session, rules, year=year, month=month, now=utcnow(), village_ids=ids, lawyer_id=lawyer_id)
    return rules, rows


def _rules_page(
    templates: Jinja2Templates,
    request: Request,
    session: Session,
    user: AdminUser,
    *,
    error: str | None,
    values: dict[str, Any],
) -> HTMLResponse:
    villages = _villages(session, user)
    rules = session.scalars(
        select(DutyRule).where(DutyRule.village_id.in_([v.id for v in villages])).order_by(DutyRule.id.desc())
    ).all()
    names = {v.id: v.name for v in villages}
    lawyers = {
        lw.id: lw.name for lw in session.scalars(select(Lawyer).where(Lawyer.id.in_({r.lawyer_id for r in rules})))
    }
    return render(
        templates,
        request,
        "duty_rules.html",
        user,
        **_form_context(
            session,
            user,
            rules=rules,
            village_names=names,
            lawyer_names=lawyers,
            describe=calendar.describe_rrule,
            error=error,
            values={"start": "09:00", "hours": "4", "kind": "onsite", **values},
        ),
    )


def _form_error(
    templates: Jinja2Templates,
    request: Request,
    session: Session,
    user: AdminUser,
    error: str,
    *,
    duty: DutySession | None,
    values: dict[str, Any],
) -> HTMLResponse:
    response = render(
        templates,
        request,
        "duty_form.html",
        user,
        **_form_context(session, user, duty=duty, values=values, error=error),
    )
    response.status_code = 400
    return response


def _values(duty: DutySession) -> dict[str, Any]:
    start, end = to_local(duty.starts_at), to_local(duty.ends_at)
    return {
        "village_id": duty.village_id,
        "lawyer_id": duty.lawyer_id,
        "date": f"{start:%Y-%m-%d}",
        "start": f"{start:%H:%M}",
        "end": f"{end:%H:%M}",
        "place": duty.place,
        "kind": duty.kind,
    }


def _lawyer(session: Session, lawyer_id: int) -> Lawyer:
    lawyer = session.get(Lawyer, lawyer_id)
    if lawyer is None or not lawyer.active:
        raise calendar.CalendarError("请选择律师")
    return lawyer


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise calendar.CalendarError("日期格式应为 YYYY-MM-DD") from None


def _number(value: str, name: str) -> float:
    try:
        return float(value.strip())
    except ValueError:
        raise calendar.CalendarError(f"请填写{name}（数字）") from None
