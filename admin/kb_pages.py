"""知识库 in the console: list, edit with live preview, publish, revisions and revert, try a question,
import/export the same files the repository holds."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from admin import auth
from admin.audit import audit
from admin.console import db, flash, render, user_of
from core.models import AdminUser, KbArticle
from handlers.answer import article_text
from knowledge_base import service as kb
from knowledge_base.articles import (
    ARTICLE_INTENTS,
    Article,
    LoadError,
    StatuteIndex,
    citation_errors,
    parse_article,
)

EDITORS = ("superadmin", "county_admin")
PAGE_SIZE = 50
INTENT_NAMES = {
    "land": "土地",
    "marriage_family": "婚姻家庭",
    "labor": "劳动",
    "debt_contract": "借贷合同",
    "traffic_accident": "交通事故",
    "criminal": "刑事",
    "tort": "侵权",
    "other_legal": "其他",
    "legal_aid": "法律援助",
    "ask_lawyer": "找律师",
    "duty_schedule": "坐班",
    "lawyer_contact": "律师联系",
    "emergency": "紧急",
    "collective_dispute": "群体纠纷",
}
_CITATION_LINE = re.compile(r"^\s*《?([^》\s]+)》?\s*第?\s*(\d+)\s*条?\s*(?:之\s*(\d+))?\s*$")


@lru_cache(maxsize=4)
def _statutes(path: Path) -> StatuteIndex | None:
    return StatuteIndex.from_jsonl(path) if path.exists() else None


def _require_editor(user: AdminUser) -> None:
    if user.role not in EDITORS:
        raise HTTPException(status_code=403, detail="无权限：只有旗县司法局管理员可以编辑知识库。")


def form_to_article(form: dict[str, str], *, statutes: StatuteIndex | None) -> tuple[Article | None, list[str]]:
    """The edit form's text fields → a validated Article, or the errors in plain words."""
    citations = []
    errors: list[str] = []
    for line in (form.get("citations") or "").splitlines():
        if not line.strip():
            continue
        match = _CITATION_LINE.match(line)
        if not match:
            errors.append(f"引用格式不对：“{line.strip()}”（应为：民法典 1079 或 刑法 276之1）")
            continue
        citations.append({"law": match.group(1), "article": int(match.group(2)), "sub": int(match.group(3) or 0)})
    data: dict[str, Any] = {
        "slug": (form.get("slug") or "").strip(),
        "intent": form.get("intent"),
        "title": (form.get("title") or "").strip(),
        "questions": [q.strip() for q in (form.get("questions") or "").splitlines() if q.strip()],
        "answer": (form.get("answer") or "").strip(),
        "citations": citations,
        "tags": [t.strip() for t in re.split(r"[,，、\s]+", form.get("tags") or "") if t.strip()],
        "reviewed_by": (form.get("reviewed_by") or "").strip(),
        "reviewed_at": form.get("reviewed_at") or dt.date.today().isoformat(),
        "status": form.get("status") or "draft",
    }
    try:
        article = Article.model_validate(data)
    except ValidationError as exc:
        errors.extend(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return None, errors
    if statutes is not None:
        errors.extend(citation_errors([article], statutes))
    return (article, []) if not errors else (None, errors)


def _form_of(row: KbArticle | None) -> dict[str, str]:
    if row is None:
        return {"status": "draft", "reviewed_at": dt.date.today().isoformat(), "intent": "land"}
    return {
        "slug": row.slug,
        "intent": row.intent,
        "title": row.title,
        "questions": "\n".join(row.questions or []),
        "answer": row.answer,
        "citations": "\n".join(
            f"{c['law']} {c['article']}" + (f"之{c['sub']}" if c.get("sub") else "") for c in row.citations or []
        ),
        "tags": "、".join(row.tags or []),
        "reviewed_by": row.reviewed_by,
        "reviewed_at": row.reviewed_at.isoformat(),
        "status": row.status,
    }


def router(templates: Jinja2Templates) -> APIRouter:
    r = APIRouter(prefix="/admin/kb")

    def page(request: Request, name: str, user: AdminUser, **context: Any) -> HTMLResponse:
        return render(templates, request, name, user, intents=INTENT_NAMES, **context)

    @r.get("", response_class=HTMLResponse)
    def list_articles(
        request: Request,
        q: str = "",
        intent: str = "",
        status: str = "",
        page_no: int = 1,
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> HTMLResponse:
        query = select(KbArticle).order_by(KbArticle.intent, KbArticle.slug)
        if q.strip():
            like = f"%{q.strip()}%"
            query = query.where(or_(KbArticle.title.like(like), KbArticle.answer.like(like), KbArticle.slug.like(like)))
        if intent in ARTICLE_INTENTS:
            query = query.where(KbArticle.intent == intent)
        if status in ("draft", "published"):
            query = query.where(KbArticle.status == status)
        page_no = max(page_no, 1)
        rows = session.scalars(query.offset((page_no - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
        return page(
            request,
            "kb_list.html",
            user,
            rows=rows[:PAGE_SIZE],
            more=len(rows) > PAGE_SIZE,
            page_no=page_no,
            q=q,
            intent=intent,
            status=status,
            can_edit=user.role in EDITORS,
        )

    @r.get("/new", response_class=HTMLResponse)
    def new_article(request: Request, user: AdminUser = Depends(user_of)) -> HTMLResponse:
        _require_editor(user)
        form = _form_of(None)
        for key in ("title", "questions", "intent"):
            if request.query_params.get(key):
                form[key] = request.query_params[key]
        return page(request, "kb_edit.html", user, form=form, row=None, errors=[])

    @r.get("/{slug}", response_class=HTMLResponse)
    def edit_article(request: Request, slug: str, user: AdminUser = Depends(user_of), session: Session = Depends(db)):  # type: ignore[no-untyped-def]
        row = kb.get(session, slug)
        if row is None:
            raise HTTPException(status_code=404, detail="没有这篇文章")
        return page(
            request, "kb_edit.html", user, form=_form_of(row), row=row, errors=[], can_edit=user.role in EDITORS
        )

    @r.post("/save", response_model=None)
    async def save_article(
        request: Request, user: AdminUser = Depends(user_of), session: Session = Depends(db)
    ) -> Response:
        _require_editor(user)
        form = {k: str(v) for k, v in (await request.form()).items()}
        auth.check_csrf(request, form.get("csrf"))
        statutes = _statutes(request.app.state.container.settings.laws_path)
        article, errors = form_to_article(form, statutes=statutes)
        existing = kb.get(session, form.get("slug", "").strip())
        if form.get("is_new") == "1" and existing is not None:
            errors.append(f"slug {existing.slug} 已被使用")
        if article is None or errors:
            response = page(request, "kb_edit.html", user, form=form, row=existing, errors=errors, can_edit=True)
            response.status_code = 422
            return response
        result = kb.save(session, article, author=user.username)
        if result.changed:
            audit(session, user, "kb_article_saved", article.slug, f"version {result.row.version} {article.status}")
            state = "已发布" if article.status == "published" else "草稿"
            flash(request, f"已保存“{article.title}”（第{result.row.version}版，{state}）。")
        else:
            flash(request, "内容没有变化。")
        request.app.state.container.retriever.invalidate()
        return RedirectResponse(f"/admin/kb/{article.slug}", status_code=303)

    @r.post("/preview")
    async def preview(request: Request, user: AdminUser = Depends(user_of)) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        auth.check_csrf(request, form.get("csrf"))
        article, errors = form_to_article(
            {**form, "slug": form.get("slug") or "preview"},
            statutes=_statutes(request.app.state.container.settings.laws_path),
        )
        if article is None:
            return JSONResponse({"text": "", "errors": errors})
        text = article_text(
            title=article.title, answer=article.answer, citations=[c.model_dump() for c in article.citations]
        )
        return JSONResponse({"text": text, "errors": []})

    @r.get("/{slug}/revisions", response_class=HTMLResponse)
    def revisions(request: Request, slug: str, user: AdminUser = Depends(user_of), session: Session = Depends(db)):  # type: ignore[no-untyped-def]
        row = kb.get(session, slug)
        if row is None:
            raise HTTPException(status_code=404, detail="没有这篇文章")
        revs = list(kb.revisions(session, row.id))
        diffs = [
            (rev, kb.revision_diff(revs[i + 1].snapshot if i + 1 < len(revs) else None, rev.snapshot))
            for i, rev in enumerate(revs)
        ]
        return page(request, "kb_revisions.html", user, row=row, diffs=diffs, can_edit=user.role in EDITORS)

    @r.post("/{slug}/revert", response_model=None)
    def revert(
        request: Request,
        slug: str,
        version: int = Form(...),
        csrf: str = Form(""),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> Response:
        _require_editor(user)
        auth.check_csrf(request, csrf)
        row = kb.get(session, slug)
        if row is None:
            raise HTTPException(status_code=404, detail="没有这篇文章")
        result = kb.revert(session, row.id, version, author=user.username)
        audit(session, user, "kb_article_reverted", slug, f"to version {version} → {result.row.version}")
        request.app.state.container.retriever.invalidate()
        flash(request, f"已恢复到第{version}版（保存为第{result.row.version}版）。")
        return RedirectResponse(f"/admin/kb/{slug}", status_code=303)

    @r.post("/try")
    async def try_question(request: Request, user: AdminUser = Depends(user_of)) -> JSONResponse:
        form = await request.form()
        auth.check_csrf(request, str(form.get("csrf") or ""))
        question = str(form.get("question") or "").strip()[:500]
        container = request.app.state.container
        result = container.services.classifier.parse(question)
        scores = {s.intent: s.confidence for s in result.ranking}
        hits = container.retriever.search(question, intent_scores=scores, limit=3)
        return JSONResponse(
            {
                "intent": result.intent,
                "intent_name": INTENT_NAMES.get(result.intent, result.intent),
                "confidence": round(result.confidence, 3),
                "articles": [{"slug": h.slug, "title": h.title, "score": round(h.score, 3)} for h in hits],
            }
        )

    @r.get("/io/export")
    def export(
        request: Request, user: AdminUser = Depends(user_of), session: Session = Depends(db)
    ) -> StreamingResponse:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for row in session.scalars(select(KbArticle).order_by(KbArticle.slug)):
                zf.writestr(f"{row.intent}/{row.slug}.yml", kb.to_article(row).to_yaml())
        audit(session, user, "kb_exported", "kb")
        buffer.seek(0)
        headers = {"Content-Disposition": "attachment; filename=knowledge_base.zip"}
        return StreamingResponse(buffer, media_type="application/zip", headers=headers)

    @r.post("/io/import", response_class=HTMLResponse)
    async def import_files(
        request: Request,
        files: list[UploadFile] = File(...),
        csrf: str = Form(""),
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> HTMLResponse:
        _require_editor(user)
        auth.check_csrf(request, csrf)
        sources = await _read_uploads(files)
        articles, errors = parse_sources(sources, statutes=_statutes(request.app.state.container.settings.laws_path))
        report = kb.ImportReport(errors=errors)
        if not errors:
            report = kb.import_articles(session, articles, author=user.username)
            audit(session, user, "kb_imported", "kb", f"created {len(report.created)} updated {len(report.updated)}")
            request.app.state.container.retriever.invalidate()
        response = page(request, "kb_import.html", user, report=report, files=len(sources))
        response.status_code = 200 if not errors else 422
        return response

    return r


MAX_UPLOAD_BYTES = 5 * 1024 * 1024


async def _read_uploads(files: list[UploadFile]) -> list[tuple[str, str]]:
    """(file name, text) for every .yml uploaded directly or inside a .zip."""
    out: list[tuple[str, str]] = []
    for upload in files:
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        name = upload.filename or "upload"
        if len(data) > MAX_UPLOAD_BYTES:
            out.append((name, "\x00too-large"))
            continue
        if name.lower().endswith(".zip"):
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as zf:
                    for info in zf.infolist():
                        if info.filename.endswith((".yml", ".yaml")) and info.file_size <= MAX_UPLOAD_BYTES:
                            out.append((info.filename, zf.read(info).decode("utf-8", errors="replace")))
            except zipfile.BadZipFile:
                out.append((name, "\x00bad-zip"))
            continue
        out.append((name, data.decode("utf-8", errors="replace")))
    return out


def parse_sources(
    sources: list[tuple[str, str]], *, statutes: StatuteIndex | None
) -> tuple[list[Article], list[LoadError]]:
    articles: list[Article] = []
    errors: list[LoadError] = []
    seen: set[str] = set()
    for name, text in sources:
        if text == "\x00too-large":
            errors.append(LoadError(name, None, "文件超过5MB"))
            continue
        if text == "\x00bad-zip":
            errors.append(LoadError(name, None, "不是有效的zip文件"))
            continue
        article, errs = parse_article(text, path=name)
        errors.extend(errs)
        if article is None:
            continue
        if article.slug in seen:
            errors.append(LoadError(name, None, f"slug {article.slug} 重复"))
            continue
        seen.add(article.slug)
        if statutes is not None:
            errors.extend(LoadError(name, None, e) for e in citation_errors([article], statutes))
        articles.append(article)
    if not sources:
        errors.append(LoadError("(无文件)", None, "请选择要导入的 .yml 或 .zip 文件"))
    return articles, errors
