"""Spreadsheet import of villages, lawyers and assignments (司法所 keep these lists in Excel).

All or nothing: every row is checked and applied inside one savepoint; any error rolls the whole
file back and every problem is reported with its row number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings
from core.models import County, Lawyer, Township, Village
from handlers import directory, roster

KINDS = {
    "villages": ("盟市", "旗县", "苏木乡镇", "嘎查村", "编码"),
    "lawyers": ("姓名", "律师事务所", "电话"),
    "assignments": ("律师电话", "村编码", "开始日期"),
}
OPTIONAL = {
    "villages": ("坐班地点", "服务薄弱"),
    "lawyers": ("执业领域", "语言"),
    "assignments": ("结束日期",),
}
KIND_NAMES = {"villages": "村（嘎查）", "lawyers": "律师", "assignments": "律师与村的分配"}
YES = {"是", "y", "yes", "true", "1", "√"}


@dataclass
class RowError:
    row: int
    message: str


@dataclass
class ImportResult:
    kind: str
    applied: int = 0
    errors: list[RowError] = field(default_factory=list)


class TableError(ValueError):
    pass


def read_table(filename: str, data: bytes) -> list[dict[str, str]]:
    """Rows of a CSV (UTF-8, UTF-8 with BOM or GBK) or the first sheet of an .xlsx, keyed by header."""
    if filename.lower().endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook  # only here: importing it costs a serving process about 30 MB

        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        except Exception as exc:
            raise TableError(f"无法读取Excel文件：{type(exc).__name__}") from None
        rows = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    else:
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise TableError("文件编码无法识别，请另存为 UTF-8 的 CSV 或 Excel")
        rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text))]
    rows = [r for r in rows if any(c for c in r)]
    if not rows:
        raise TableError("文件是空的")
    header = [h.strip() for h in rows[0]]
    return [dict(zip(header, r + [""] * (len(header) - len(r)), strict=False)) for r in rows[1:]]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def import_rows(session: Session, *, settings: Settings, kind: str, rows: list[dict[str, str]]) -> ImportResult:
    result = ImportResult(kind)
    if kind not in KINDS:
        result.errors.append(RowError(0, f"未知的类型：{kind}"))
        return result
    missing = [h for h in KINDS[kind] if rows and h not in rows[0]]
    if missing:
        result.errors.append(RowError(1, f"缺少表头：{'、'.join(missing)}（需要：{'、'.join(KINDS[kind])}）"))
        return result
    apply: Callable[[Session, Settings, dict[str, str]], None] = APPLY[kind]
    savepoint = session.begin_nested()
    for number, row in enumerate(rows, start=2):  # row 1 is the header, as Excel counts
        try:
            with session.begin_nested():
                apply(session, settings, row)
                session.flush()
            result.applied += 1
        except (ValueError, roster.PolicyError) as exc:
            result.errors.append(RowError(number, str(exc)))
    if result.errors:
        savepoint.rollback()
        result.applied = 0
    else:
        savepoint.commit()
    return result


def _required(row: dict[str, str], *names: str) -> Iterator[str]:
    for name in names:
        value = (row.get(name) or "").strip()
        if not value:
            raise ValueError(f"“{name}”不能为空")
        yield value


def _village(session: Session, settings: Settings, row: dict[str, str]) -> None:
    league, county_name, township_name, name, code = _required(row, *KINDS["villages"])
    county = session.scalar(select(County).where(County.league == league, County.name == county_name))
    underserved = (row.get("服务薄弱") or "").strip().lower() in YES
    if county is None:
        county = County(league=league, name=county_name, underserved=underserved)
        session.add(county)
        session.flush()
    elif row.get("服务薄弱"):
        county.underserved = underserved
    township = session.scalar(select(Township).where(Township.county_id == county.id, Township.name == township_name))
    if township is None:
        township = Township(county_id=county.id, name=township_name)
        session.add(township)
        session.flush()
    village = directory.village_by_code(session, code)
    place = (row.get("坐班地点") or "").strip() or None
    if village is None:
        same_name = session.scalar(select(Village).where(Village.township_id == township.id, Village.name == name))
        if same_name is not None:
            raise ValueError(f"{township_name}已有{name}（编码 {same_name.code}），编码不一致")
        session.add(Village(township_id=township.id, name=name, code=code, duty_place=place))
    else:
        village.township_id, village.name = township.id, name
        village.duty_place = place or village.duty_place


def _lawyer(session: Session, settings: Settings, row: dict[str, str]) -> None:
    name, firm, phone = _required(row, *KINDS["lawyers"])
    if not phone.replace("-", "").isdigit() or len(phone) < 7:
        raise ValueError(f"电话“{phone}”不是有效号码")
    areas = [a for a in (row.get("执业领域") or "").replace("，", "、").replace(",", "、").split("、") if a]
    languages = [a for a in (row.get("语言") or "").replace("，", "、").replace(",", "、").split("、") if a]
    lawyer = session.scalar(select(Lawyer).where(Lawyer.phone == phone))
    if lawyer is None:
        roster.add_lawyer(session, name=name, firm=firm, phone=phone, practice_areas=areas, languages=languages or None)
    else:
        lawyer.name, lawyer.firm = name, firm
        lawyer.practice_areas = areas or lawyer.practice_areas
        lawyer.languages = languages or lawyer.languages


def _date(value: str, label: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.replace("/", "-").replace(".", "-"))
    except ValueError:
        raise ValueError(f"{label}“{value}”不是日期（格式 2026-12-01）") from None


def _assignment(session: Session, settings: Settings, row: dict[str, str]) -> None:
    phone, code, start = _required(row, *KINDS["assignments"])
    lawyer = session.scalar(select(Lawyer).where(Lawyer.phone == phone))
    if lawyer is None:
        raise ValueError(f"找不到电话为 {phone} 的律师（请先导入律师）")
    village = directory.village_by_code(session, code)
    if village is None:
        raise ValueError(f"找不到编码为 {code} 的村（请先导入村）")
    end = (row.get("结束日期") or "").strip()
    roster.assign(
        session,
        settings=settings,
        lawyer=lawyer,
        village=village,
        start=_date(start, "开始日期"),
        end=_date(end, "结束日期") if end else None,
    )


APPLY: dict[str, Callable[[Session, Settings, dict[str, str]], None]] = {
    "villages": _village,
    "lawyers": _lawyer,
    "assignments": _assignment,
}
