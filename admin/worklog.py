"""一村一卷、一事一记: the yearly work-log 台账 of one village as an Excel workbook."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import to_local, to_utc
from core.models import Lawyer, Village, WorkLogEntry
from core.spreadsheet import safe_row

METHODS = {"online": "线上", "phone": "电话", "onsite": "现场"}
HEADER = ("序号", "时间", "服务对象", "律师", "方式", "服务内容", "结果", "时长（小时）")


def entries(session: Session, village_id: int, year: int) -> list[WorkLogEntry]:
    start = to_utc(dt.datetime(year, 1, 1))
    end = to_utc(dt.datetime(year + 1, 1, 1))
    return list(
        session.scalars(
            select(WorkLogEntry)
            .where(
                WorkLogEntry.village_id == village_id, WorkLogEntry.occurred_at >= start, WorkLogEntry.occurred_at < end
            )
            .order_by(WorkLogEntry.occurred_at, WorkLogEntry.id)
        )
    )


def build_workbook(session: Session, village: Village, year: int) -> bytes:
    rows = entries(session, village.id, year)
    lawyers = {
        lw.id: lw.name
        for lw in session.scalars(select(Lawyer).where(Lawyer.id.in_({r.lawyer_id for r in rows if r.lawyer_id})))
    }
    # openpyxl only when a workbook is written: importing it costs a serving process about 30 MB
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = f"{year}年台账"
    ws.append([f"{village.full_name} {year}年度 村法律顾问工作台账"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(list(HEADER))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for index, entry in enumerate(rows, start=1):
        row = [
            index,
            to_local(entry.occurred_at).strftime("%Y-%m-%d %H:%M"),
            entry.person or "",
            lawyers.get(entry.lawyer_id or 0, "司法所"),
            METHODS.get(entry.method, entry.method),
            entry.content,
            entry.result or "",
            entry.hours if entry.hours is not None else "",
        ]
        ws.append(safe_row(ws, row))
        for cell in ws[ws.max_row]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.append([])
    counts = Counter(r.method for r in rows)
    ws.append(["合计", f"{len(rows)}件"] + [f"{METHODS[m]}{counts.get(m, 0)}件" for m in METHODS])
    ws.append(["现场服务时长", sum(r.hours or 0 for r in rows if r.method == "onsite")])
    for column, width in zip("ABCDEFGH", (6, 17, 12, 10, 6, 50, 40, 10), strict=True):
        ws.column_dimensions[column].width = width
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
