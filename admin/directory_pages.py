"""村与律师 in the console: villages and their lawyers, assignments under the caps, binding codes,
spreadsheet import, and each village's yearly work-log 台账."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from admin import auth, directory_import, scope, worklog
from admin.audit import audit
from admin.console import db, flash, render, user_of
from core.clock import local_today, utcnow
from core.models import AdminUser, Assignment, ChannelAccount, Lawyer, Township, Village
from handlers import directory, roster

PAGE_SIZE = 50
MANAGERS = ("superadmin", "county_admin", "township_clerk")
MAX_IMPORT_BYTES = 5 * 1024 * 1024


def _require_manager(user: AdminUser) -> None:
    if user.role not in MANAGERS:
        raise HTTPException(status_code=403, detail="无权限。")


def _village_in_scope(session: Session, user: AdminUser, code: str) -> Village:
    village = directory.village_by_code(session, code)
    allowed = scope.village_ids(session, user)
    if village is None or (allowed is not None and village.id not in allowed):
        raise HTTPException(status_code=404, detail=f"没有编码为 {code} 的村，或不在您的管辖范围。")
    return village


def router(templates: Jinja2Templates) -> APIRouter:
    r = APIRouter(prefix="/admin/directory")

    @r.get("", response_class=HTMLResponse)
    def overview(
        request: Request,
        q: str = "",
        page_no: int = 1,
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> HTMLResponse:
        today = local_today()
        allowed = scope.village_ids(session, user)
        query = (
            select(Village)
            .options(joinedload(Village.township).joinedload(Township.county))
            .join(Township)
            .order_by(Township.county_id, Township.name, Village.name)
        )
        if allowed is not None:
            query = query.where(Village.id.in_(allowed))
        if q.strip():
            query = query.where(or_(Village.name.like(f"%{q.strip()}%"), Village.code == q.strip()))
        page_no = max(page_no, 1)
        villages = session.scalars(query.offset((page_no - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).unique().all()
        ids = [v.id for v in villages[:PAGE_SIZE]]
        assignments = session.scalars(
            select(Assignment)
            .options(joinedload(Assignment.lawyer))
            .where(
                Assignment.village_id.in_(ids),
                Assignment.start_date <= today,
                or_(Assignment.end_date.is_(None), Assignment.end_date >= today),
            )
        ).all()
        bound = set(session.scalars(select(ChannelAccount.lawyer_id).where(ChannelAccount.lawyer_id.is_not(None))))
        by_village: dict[int, list[Assignment]] = {}
        for a in assignments:
            by_village.setdefault(a.village_id, []).append(a)
        lawyers = session.scalars(select(Lawyer).where(Lawyer.active.is_(True)).order_by(Lawyer.name).limit(500)).all()
        counts = dict(
            session.execute(
                select(Assignment.lawyer_id, func.count(Assignment.id))
                .where(Assignment.start_date <= today, or_(Assignment.end_date.is_(None), Assignment.end_date >= today))
                .group_by(Assignment.lawyer_id)
            ).all()
        )
        return render(
            templates,
            request,
            "directory.html",
            user,
            villages=villages[:PAGE_SIZE],
            more=len(villages) > PAGE_SIZE,
            page_no=page_no,
            q=q,
            by_village=by_village,
            bound=bound,
            lawyers=lawyers,
            counts=counts,
            can_manage=user.role in MANAGERS,
            year=dt.date.today().year,
            kinds=directory_import.KIND_NAMES,
            headers=directory_import.KINDS,
            optional=directory_import.OPTIONAL,
        )

    @r.post("/lawyers")
    def add_lawyer(
        request: Request,
        name: str = Form(..., min_length=1, max_length=50),
        firm: str = Form(..., min_length=1, max_length=100),
        phone: str = Form(..., min_length=5, max_length=40),
        csrf: str = Form(""),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> RedirectResponse:
        auth.check_csrf(request, csrf)
        _require_manager(user)
        lawyer = roster.add_lawyer(session, name=name, firm=firm, phone=phone)
        audit(session, user, "lawyer_added", f"lawyer:{lawyer.id}")
        flash(request, f"已添加{lawyer.name}律师。")
        return RedirectResponse("/admin/directory", status_code=303)

    @r.post("/assign")
    def assign(
        request: Request,
        lawyer_id: int = Form(...),
        village_code: str = Form(...),
        start: str = Form(""),
        end: str = Form(""),
        csrf: str = Form(""),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> RedirectResponse:
        auth.check_csrf(request, csrf)
        _require_manager(user)
        village = _village_in_scope(session, user, village_code.strip())
        lawyer = session.get(Lawyer, lawyer_id)
        if lawyer is None:
            raise HTTPException(status_code=404, detail="没有这位律师")
        try:
            begin = dt.date.fromisoformat(start) if start else local_today()
            finish = dt.date.fromisoformat(end) if end else None
            roster.assign(
                session,
                settings=request.app.state.container.settings,
                lawyer=lawyer,
                village=village,
                start=begin,
                end=finish,
            )
        except ValueError as exc:  # PolicyError is a ValueError: the message is meant for the admin
            flash(request, f"没有分配：{exc}")
            return RedirectResponse("/admin/directory", status_code=303)
        audit(session, user, "lawyer_assigned", f"lawyer:{lawyer.id}", f"village:{village.code}")
        flash(request, f"{lawyer.name}律师 → {village.name}。")
        return RedirectResponse("/admin/directory", status_code=303)

    @r.post("/assignments/{assignment_id}/end")
    def end_assignment(
        request: Request,
        assignment_id: int,
        csrf: str = Form(""),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> RedirectResponse:
        auth.check_csrf(request, csrf)
        _require_manager(user)
        assignment = session.get(Assignment, assignment_id)
        allowed = scope.village_ids(session, user)
        if assignment is None or (allowed is not None and assignment.village_id not in allowed):
            raise HTTPException(status_code=404, detail="没有这个分配")
        assignment.end_date = local_today()
        audit(session, user, "assignment_ended", f"assignment:{assignment.id}")
        flash(request, "已结束这项分配（今天为最后一天）。")
        return RedirectResponse("/admin/directory", status_code=303)

    @r.post("/lawyers/{lawyer_id}/bind-code", response_class=HTMLResponse)
    def bind_code(
        request: Request,
        lawyer_id: int,
        csrf: str = Form(""),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> HTMLResponse:
        auth.check_csrf(request, csrf)
        _require_manager(user)
        lawyer = session.get(Lawyer, lawyer_id)
        if lawyer is None:
            raise HTTPException(status_code=404, detail="没有这位律师")
        issued = roster.issue_bind_code(
            session,
            settings=request.app.state.container.settings,
            lawyer=lawyer,
            now=utcnow(),
            actor=f"admin:{user.username}",
        )
        return render(templates, request, "bind_code.html", user, lawyer=lawyer, issued=issued)

    @r.post("/lawyers/{lawyer_id}/unbind")
    def unbind(
        request: Request,
        lawyer_id: int,
        csrf: str = Form(""),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> RedirectResponse:
        auth.check_csrf(request, csrf)
        _require_manager(user)
        for account in directory.lawyer_accounts(session, lawyer_id):
            roster.unbind(session, account=account, now=utcnow(), actor=f"admin:{user.username}")
        flash(request, "已解除这位律师的所有绑定账号。")
        return RedirectResponse("/admin/directory", status_code=303)

    @r.post("/import", response_class=HTMLResponse)
    async def import_sheet(
        request: Request,
        kind: str = Form(...),
        file: UploadFile = File(...),
        csrf: str = Form(""),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> HTMLResponse:
        auth.check_csrf(request, csrf)
        if user.role not in ("superadmin", "county_admin"):
            raise HTTPException(status_code=403, detail="无权限：名单导入由旗县司法局管理员操作。")
        data = await file.read(MAX_IMPORT_BYTES + 1)
        result = directory_import.ImportResult(kind)
        if len(data) > MAX_IMPORT_BYTES:
            result.errors.append(directory_import.RowError(0, "文件超过5MB"))
        else:
            try:
                rows = directory_import.read_table(file.filename or "upload.csv", data)
                result = directory_import.import_rows(
                    session, settings=request.app.state.container.settings, kind=kind, rows=rows
                )
            except directory_import.TableError as exc:
                result.errors.append(directory_import.RowError(0, str(exc)))
        if not result.errors:
            audit(session, user, "directory_imported", kind, f"{result.applied} rows")
        response = render(
            templates,
            request,
            "directory_import.html",
            user,
            result=result,
            kind_name=directory_import.KIND_NAMES.get(kind, kind),
        )
        response.status_code = 200 if not result.errors else 422
        return response

    @r.get("/worklog")
    def worklog_export(
        request: Request,
        village: str,
        year: int,
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> Response:
        target = _village_in_scope(session, user, village)
        content = worklog.build_workbook(session, target, year)
        audit(session, user, "worklog_exported", f"village:{target.code}", str(year))
        filename = quote(f"{target.name}-{year}-工作台账.xlsx")
        return Response(
            content,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
        )

    return r
