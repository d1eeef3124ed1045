"""便民联系卡 / 公示牌: the A5 card each village posts — its lawyer, the next duty days, the 12348
hotline and two QR codes (WeChat and Telegram) that open the bot already bound to the village.

One layout (a list of text lines, rules and QR codes in millimetres) is drawn twice: as a PDF by
reportlab with its built-in CID font STSong-Light (always available, no font file needed) and
as a PNG by Pillow. Pillow needs a font file with Chinese glyphs: CARD_FONT_PATH, else Noto Sans
CJK (Debian ``fonts-noto-cjk``), else the first font fontconfig lists for zh-cn; without any, the
PNG is refused with a clear message and the PDF still works.

QR codes are generated locally (``qrcode``). The Telegram code is the deep link
``https://t.me/<TELEGRAM_BOT_USERNAME>?start=v<code>``. The WeChat code must be a parametric QR
code issued by WeChat for scene ``v<code>`` (scanning it follows the account and sends
``qrscene_v<code>``); the app asks ``app.state.wechat_qr_url(scene) -> url`` when the WeChat
adapter provides it and keeps the answer (these codes are permanent). Without it — or without
a bot user name — the card carries a placeholder code, labelled as one in print.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from admin import scope
from admin.audit import audit
from admin.console import db, now_of, render, user_of
from admin.figures import area_village_ids, count_villages
from admin.stats_pages import area_choices
from core.clock import local_date_label, local_time_label, to_local
from core.config import Settings
from core.models import AdminUser, Assignment, CacheEntry, Township, Village
from handlers import directory, texts
from handlers.schedule import upcoming_sessions

log = logging.getLogger(__name__)
A5 = (148.0, 210.0)  # mm
PDF_FONT = "STSong-Light"
NOTO_PATHS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
)
PLACEHOLDER_BASE = "https://example.invalid/"  # RFC 2606: can never resolve
PAGE_SIZE = 50
WechatQr = Callable[[str], str]


class FontMissing(RuntimeError):
    pass


# ---------------------------------------------------------------------- what goes on the card


@dataclass(frozen=True)
class Qr:
    url: str
    caption: str
    placeholder: bool


@dataclass
class CardData:
    village: str
    full_name: str
    code: str
    lawyers: list[tuple[str, str, str]]  # name, firm, phone
    sessions: list[str]
    township_phone: str | None
    qrs: list[Qr] = field(default_factory=list)


def telegram_url(settings: Settings, code: str) -> str | None:
    username = (settings.telegram_bot_username or "").lstrip("@")
    return f"https://t.me/{username}?start=v{code}" if username else None


def wechat_url(session: Session, code: str, resolver: WechatQr | None) -> str | None:
    """The content of the village's WeChat parametric QR code, asked of WeChat once and kept."""
    if resolver is None:
        return None
    key = f"card:wechat-qr:v{code}"
    cached = session.get(CacheEntry, key)
    if cached is not None:
        return cached.value
    # never hold a database transaction (on SQLite: the write lock) across a call to WeChat
    session.commit()
    try:
        url = resolver(f"v{code}")
    except Exception as exc:  # WeChat unreachable: print the placeholder now, try again next time
        log.warning("WeChat QR code for a village card not available: %s", type(exc).__name__)
        return None
    session.add(CacheEntry(key=key, value=url, expires_at=None))
    return url


def card_data(
    session: Session, settings: Settings, village: Village, *, now: dt.datetime, wechat: WechatQr | None = None
) -> CardData:
    lawyers = directory.village_lawyers(session, village.id, on=to_local(now).date())
    sessions = upcoming_sessions(session, village.id, after=now, limit=3)
    code = village.code
    wx = wechat_url(session, code, wechat)
    tg = telegram_url(settings, code)
    return CardData(
        village=village.name,
        full_name=village.full_name,
        code=code,
        lawyers=[(lw.name, lw.firm, lw.phone) for lw in lawyers[:2]],
        sessions=[
            texts.CARD_DUTY_LINE.format(
                date=local_date_label(s.starts_at),
                start=local_time_label(s.starts_at),
                end=local_time_label(s.ends_at),
                place=s.place,
            )
            for s in sessions
        ],
        township_phone=(
            texts.CARD_TOWNSHIP_PHONE.format(township=village.township.name, phone=village.township.office_phone)
            if village.township.office_phone
            else None
        ),
        qrs=[
            Qr(wx or f"{PLACEHOLDER_BASE}wechat/qrscene_v{code}", texts.CARD_WECHAT, wx is None),
            Qr(tg or f"{PLACEHOLDER_BASE}telegram/start=v{code}", texts.CARD_TELEGRAM, tg is None),
        ],
    )


# ---------------------------------------------------------------------- layout (mm from the top left)


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    size: float  # pt
    text: str
    align: str = "left"  # left / centre
    colour: str = "#222222"


@dataclass(frozen=True)
class Rule:
    y: float
    colour: str = "#1f4f6f"
    width: float = 0.6  # mm


@dataclass(frozen=True)
class Code:
    x: float
    y: float  # top
    size: float  # mm
    data: str


def _wrap(text: str, size: float, width_mm: float) -> list[str]:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    limit = width_mm / 25.4 * 72
    lines, current = [], ""
    for ch in text:
        if stringWidth(current + ch, PDF_FONT, size) > limit and current:
            lines.append(current)
            current = ch
        else:
            current += ch
    return [*lines, current] if current else lines


def layout(card: CardData) -> list[Text | Rule | Code]:
    _register_pdf_font()
    width, _ = A5
    margin, centre = 12.0, A5[0] / 2
    ops: list[Text | Rule | Code] = [
        Text(centre, 14, 10, texts.CARD_KICKER, "centre", "#1f4f6f"),
        Text(centre, 26, 22, texts.CARD_TITLE, "centre", "#1f4f6f"),
    ]
    y = 36.0
    for line in _wrap(card.full_name, 15, width - 2 * margin):
        ops.append(Text(centre, y, 15, line, "centre"))
        y += 7
    ops.append(Rule(y - 3))
    y += 5
    ops.append(Text(margin, y, 12, texts.CARD_LAWYER_HEADER, colour="#1f4f6f"))
    y += 7
    if card.lawyers:
        for name, firm, phone in card.lawyers:
            for line in _wrap(texts.CARD_LAWYER_LINE.format(name=name, firm=firm), 12, width - 2 * margin):
                ops.append(Text(margin, y, 12, line))
                y += 6
            ops.append(Text(margin, y, 14, texts.CARD_LAWYER_PHONE.format(phone=phone)))
            y += 8
    else:
        for line in _wrap(texts.CARD_NO_LAWYER, 11, width - 2 * margin):
            ops.append(Text(margin, y, 11, line))
            y += 6
    y += 2
    ops.append(Text(margin, y, 12, texts.CARD_DUTY_HEADER, colour="#1f4f6f"))
    y += 7
    for line in card.sessions or [texts.CARD_NO_DUTY]:
        for part in _wrap(line, 11, width - 2 * margin):
            ops.append(Text(margin, y, 11, part))
            y += 6
    y += 3
    ops.append(Text(centre, y, 16, texts.CARD_HOTLINE, "centre", "#b00020"))
    y += 7
    if card.township_phone:
        ops.append(Text(centre, y, 11, card.township_phone, "centre"))
        y += 6
    ops.append(Rule(y - 2))
    top = y + 3
    size = max(30.0, min(56.0, 188 - 16 - top))  # as large as the card allows, smaller on a crowded one
    for index, qr in enumerate(card.qrs[:2]):
        x = centre - 6 - size if index == 0 else centre + 6
        ops.append(Code(x, top, size, qr.url))
        ops.append(Text(x + size / 2, top + size + 5, 10, qr.caption, "centre"))
        if qr.placeholder:
            what = "微信公众号" if index == 0 else "Telegram 机器人"
            for n, line in enumerate(texts.CARD_PLACEHOLDER):
                ops.append(Text(x + size / 2, top + size + 10 + n * 4, 8, line.format(what=what), "centre", "#b00020"))
    ops.append(Text(centre, 200, 10, texts.CARD_FOOTER, "centre", "#444444"))
    ops.append(Text(centre, 205, 7, texts.CARD_CODE.format(code=card.code), "centre", "#888888"))
    return ops


def _qr_image(data: str) -> Any:
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=2, box_size=10)
    qr.add_data(data)
    qr.make(fit=True)
    return qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")


# ---------------------------------------------------------------------- PDF


@functools.cache
def _register_pdf_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))


def to_pdf(card: CardData) -> bytes:
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    _register_pdf_font()
    width, height = A5
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(width * mm, height * mm))
    pdf.setTitle(f"{texts.CARD_TITLE} {card.full_name}")
    for op in layout(card):
        if isinstance(op, Text):
            pdf.setFont(PDF_FONT, op.size)
            pdf.setFillColor(op.colour)
            y = (height - op.y) * mm
            if op.align == "centre":
                pdf.drawCentredString(op.x * mm, y, op.text)
            else:
                pdf.drawString(op.x * mm, y, op.text)
        elif isinstance(op, Rule):
            pdf.setStrokeColor(op.colour)
            pdf.setLineWidth(op.width * mm)
            pdf.line(12 * mm, (height - op.y) * mm, (width - 12) * mm, (height - op.y) * mm)
        else:
            image = ImageReader(_qr_image(op.data))
            pdf.drawImage(image, op.x * mm, (height - op.y - op.size) * mm, op.size * mm, op.size * mm)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# ---------------------------------------------------------------------- PNG


def find_font(settings: Settings) -> Path | None:
    if settings.card_font_path is not None:
        return settings.card_font_path if settings.card_font_path.exists() else None
    for path in NOTO_PATHS:
        if path.exists():
            return path
    return _fontconfig_zh_font()


@functools.cache
def _fontconfig_zh_font() -> Path | None:
    if shutil.which("fc-list") is None:
        return None
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh-cn", "file"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(line.strip().rstrip(":") for line in out.splitlines() if line.strip())
    return Path(files[0]) if files else None


def to_png(card: CardData, *, font_path: Path | None, dpi: int = 200) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    if font_path is None:
        raise FontMissing(
            "没有可用的中文字体，无法生成PNG（PDF不受影响）：请安装 fonts-noto-cjk 或设置 CARD_FONT_PATH。"
        )
    scale = dpi / 25.4  # px per mm
    width, height = (round(v * scale) for v in A5)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    fonts: dict[float, Any] = {}
    for op in layout(card):
        if isinstance(op, Text):
            if op.size not in fonts:
                fonts[op.size] = ImageFont.truetype(str(font_path), round(op.size / 72 * dpi))
            anchor = "ms" if op.align == "centre" else "ls"
            draw.text((op.x * scale, op.y * scale), op.text, font=fonts[op.size], fill=op.colour, anchor=anchor)
        elif isinstance(op, Rule):
            y = op.y * scale
            draw.line((12 * scale, y, width - 12 * scale, y), fill=op.colour, width=max(1, round(op.width * scale)))
        else:
            side = round(op.size * scale)
            code = _qr_image(op.data).resize((side, side), Image.Resampling.NEAREST)
            image.paste(code, (round(op.x * scale), round(op.y * scale)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(dpi, dpi))
    return buffer.getvalue()


# ---------------------------------------------------------------------- console pages


def _village_in_area(session: Session, user: AdminUser, code: str) -> Village:
    village = session.scalar(
        select(Village).options(joinedload(Village.township).joinedload(Township.county)).where(Village.code == code)
    )
    area = scope.area(session, user)
    if village is None or not session.scalar(
        select(Village.id).where(Village.id == village.id, area.village_filter(Village.id))
    ):
        raise HTTPException(status_code=404, detail="没有这个村，或者它不在您的管辖范围内。")
    return village


def router(templates: Jinja2Templates) -> APIRouter:
    r = APIRouter(prefix="/admin")

    @r.get("/cards", response_class=HTMLResponse)
    def cards_page(
        request: Request,
        county: str | None = None,
        township: str | None = None,
        page_no: int = 1,
        user: AdminUser = Depends(user_of),
        session: Session = Depends(db),
    ) -> HTMLResponse:
        try:
            area = scope.area(
                session,
                user,
                county_id=int(county) if county and county.isdigit() else None,
                township_id=int(township) if township and township.isdigit() else None,
            )
        except scope.OutOfScope:
            raise HTTPException(status_code=403, detail="无权限：这个地区不在您的管辖范围内。") from None
        page_no = max(page_no, 1)
        ids = area_village_ids(session, area, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        villages = session.scalars(
            select(Village).options(joinedload(Village.township).joinedload(Township.county)).where(Village.id.in_(ids))
        ).all()
        order = {vid: i for i, vid in enumerate(ids)}
        today = to_local(now_of(request)).date()
        lawyers: dict[int, list[str]] = {}
        for a in session.scalars(
            select(Assignment)
            .options(joinedload(Assignment.lawyer))
            .where(
                Assignment.village_id.in_(ids),
                Assignment.start_date <= today,
                (Assignment.end_date.is_(None)) | (Assignment.end_date >= today),
            )
            .order_by(Assignment.start_date, Assignment.id)
        ):
            if a.lawyer.active:
                lawyers.setdefault(a.village_id, []).append(a.lawyer.name)
        total = count_villages(session, area)
        settings = request.app.state.container.settings
        return render(
            templates,
            request,
            "cards.html",
            user,
            villages=sorted(villages, key=lambda v: order[v.id]),
            lawyers=lawyers,
            page_no=page_no,
            pages=max(1, -(-total // PAGE_SIZE)),
            total=total,
            county=county or "",
            township=township or "",
            telegram_ready=bool(settings.telegram_bot_username),
            wechat_ready=getattr(request.app.state, "wechat_qr_url", None) is not None,
            png_ready=find_font(settings) is not None,
            **area_choices(session, user, county),
        )

    @r.get("/cards/{code}.{fmt}")
    def card_file(
        request: Request, code: str, fmt: str, user: AdminUser = Depends(user_of), session: Session = Depends(db)
    ) -> Response:
        if fmt not in ("pdf", "png"):
            raise HTTPException(status_code=404, detail="只有 PDF 和 PNG 两种格式")
        village = _village_in_area(session, user, code)
        settings = request.app.state.container.settings
        now = now_of(request)
        card = card_data(session, settings, village, now=now, wechat=getattr(request.app.state, "wechat_qr_url", None))
        if fmt == "pdf":
            body, media = to_pdf(card), "application/pdf"
        else:
            try:
                body, media = to_png(card, font_path=find_font(settings)), "image/png"
            except FontMissing as exc:
                raise HTTPException(status_code=503, detail=str(exc)) from None
        audit(session, user, "card_downloaded", village.code, fmt, now=now)
        name = f"card-{village.code}.{fmt}"
        return Response(body, media_type=media, headers={"Content-Disposition": f'inline; filename="{name}"'})

    return r
