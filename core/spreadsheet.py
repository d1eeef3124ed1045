"""Rows for the Excel workbooks the console and the CLI export (statistics, 台账, 坐班考核).

Text that starts with "=" — a villager's question, a lawyer's note, a name from an imported CSV —
would be stored as a formula that Excel runs when a clerk opens the file. Every writer appends its
rows through ``safe_row``, so such text stays text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def safe_row(sheet: Any, values: Iterable[object]) -> list[object]:
    """``values`` for ``sheet.append``, with every string starting with "=" as a text cell (works
    in openpyxl's normal and write-only modes)."""
    return [_text_cell(sheet, value) if isinstance(value, str) and value.startswith("=") else value for value in values]


def _text_cell(sheet: Any, value: str) -> Any:
    from openpyxl.cell import WriteOnlyCell  # openpyxl only where a workbook is written (30 MB a process)

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    return cell
