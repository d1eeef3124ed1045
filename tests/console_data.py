"""Constructed activity for the console tests: messages, tickets, ratings, legal-aid checks and
failures in November 2026 on top of the demo directory, with figures known by hand.

Areas of the demo: 阿巴嘎旗 = 别力古台镇 (ab01–ab03, 乌日娜) + 洪格尔高勒镇 (ab04, ab05 张建国; ab06
王海涛); 正蓝旗 = 上都镇 (zl01–zl03, 巴特尔) + 桑根达来镇 (zl04–zl06, 李秀兰). The clock of the
tests is 2026-12-01 10:00 local, so every November ticket's SLA deadline is in the past.

Expected for 阿巴嘎旗 in 2026-11 (the tests assert these):
- consultations 7 (A: kb, kb, unsure, handoff; B: suggest, kb, legal_aid) + 1 relay (not counted);
  knowledge base 3 (42.9%), handed to a lawyer 1 (14.3%); webchat 4, telegram 3;
  weeks 11-02–11-08: 3, 11-09–11-15: 2, 11-16–11-22: 2.
- tickets T1 (乌日娜, answered after 2 h, rating 5), T2 (张建国, answered after 30 h — a breach,
  escalated, rating 3), T3 (张建国, unanswered, escalated), T5 (司法所 queue, answered by an admin
  after 5 h): 4 tickets, SLA breaches 2, satisfaction average 4.0 of 2 ratings.
- legal aid: 2 started, 1 completed (likely).
正蓝旗 adds C's emergency and kb messages, T4 (巴特尔, urgent, 30 min, rating 4) and a check.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.auth import hash_password
from core.clock import LOCAL_TZ, to_utc
from core.models import (
    AdminUser,
    ChannelAccount,
    County,
    DutySession,
    Lawyer,
    LegalAidCheck,
    Message,
    OutboxMessage,
    Ticket,
    TicketEvent,
    Township,
    Village,
    Villager,
)

PASSWORD = "console-test-pw"
T1_ANSWER = (
    "根据《劳动合同法》第三十条，用人单位应当按时足额支付劳动报酬。可以先向劳动保障监察投诉，"
    "或者申请劳动仲裁；需要帮忙可以打我电话13904790199。"
)


def local(month: int, day: int, hour: int = 10, minute: int = 0, year: int = 2026) -> dt.datetime:
    return to_utc(dt.datetime(year, month, day, hour, minute, tzinfo=LOCAL_TZ))


def _village(session: Session, code: str) -> Village:
    village = session.scalar(select(Village).where(Village.code == code))
    assert village is not None
    return village


def _lawyer(session: Session, name: str) -> Lawyer:
    lawyer = session.scalar(select(Lawyer).where(Lawyer.name == name))
    assert lawyer is not None
    return lawyer


def _villager(session: Session, code: str, channel: str, external: str) -> ChannelAccount:
    villager = Villager(display_name=external, village_id=_village(session, code).id, created_at=local(10, 1))
    session.add(villager)
    session.flush()
    account = ChannelAccount(channel=channel, external_id=external, villager_id=villager.id, created_at=local(10, 1))
    session.add(account)
    session.flush()
    return account


def _ask(
    session: Session,
    account: ChannelAccount,
    at: dt.datetime,
    answered_by: str | None,
    intent: str | None,
    text: str = "问题",
    kb_score: float | None = None,
    status: str = "processed",
) -> Message:
    message = Message(
        account_id=account.id,
        direction="in",
        channel=account.channel,
        external_id=f"{account.external_id}-{at.isoformat()}-{answered_by}",
        text=text,
        status=status,
        intent=intent,
        answered_by=answered_by,
        kb_score=kb_score,
        created_at=at,
        processed_at=at,
    )
    session.add(message)
    return message


def _ticket(
    session: Session,
    code: str,
    account: ChannelAccount,
    village_code: str,
    lawyer: str | None,
    at: dt.datetime,
    question: str,
    intent: str,
    *,
    answered_after: float | None = None,
    answered_by: str = "lawyer",
    answer: str = "律师的答复：请带上合同和欠条来坐班时面谈，我们一起看怎么处理。",
    status: str = "closed",
    rating: int | None = None,
    escalated: bool = False,
    urgent: bool = False,
    kind: str = "consult",
) -> Ticket:
    village = _village(session, village_code)
    lawyer_row = _lawyer(session, lawyer) if lawyer else None
    ticket = Ticket(
        code=code,
        kind=kind,
        status=status,
        urgent=urgent,
        villager_id=account.villager_id,
        account_id=account.id,
        village_id=village.id,
        township_id=village.township_id,
        lawyer_id=lawyer_row.id if lawyer_row else None,
        intent=intent,
        question=question,
        created_at=at,
        sla_due_at=at + dt.timedelta(hours=24),
        rating=rating,
    )
    if answered_after is not None:
        ticket.first_response_at = at + dt.timedelta(hours=answered_after)
    if escalated:
        ticket.escalated_at = at + dt.timedelta(hours=24)
    if status == "closed":
        ticket.closed_at = at + dt.timedelta(hours=48)
    session.add(ticket)
    session.flush()
    session.add(TicketEvent(ticket_id=ticket.id, at=at, actor=f"villager:{account.villager_id}", action="opened"))
    if answered_after is not None:
        actor = f"lawyer:{lawyer_row.id}" if answered_by == "lawyer" and lawyer_row else "admin:clerk"
        session.add(
            TicketEvent(ticket_id=ticket.id, at=ticket.first_response_at, actor=actor, action="answered", detail=answer)
        )
    return ticket


def build(session: Session) -> dict[str, Any]:
    """The activity described in the module docstring, plus admin users of every role."""
    a = _villager(session, "ab01", "webchat", "villager-a")
    b = _villager(session, "ab04", "telegram", "villager-b")
    c = _villager(session, "zl01", "wechat", "villager-c")
    # 阿巴嘎旗
    _ask(session, a, local(11, 3, 10), "kb", "land")
    _ask(session, a, local(11, 3, 11), "kb", "land")
    _ask(session, a, local(11, 10, 9), "unsure", "labor", "老板拖欠工资三个月怎么办")
    _ask(session, a, local(11, 10, 10), "handoff", "labor")
    _ask(session, a, local(11, 12, 10), "relay", "labor")
    _ask(session, b, local(11, 4, 10), "suggest", "debt_contract", "借钱不还怎么办", kb_score=0.15)
    _ask(session, b, local(11, 17, 10), "kb", "marriage_family")
    _ask(session, b, local(11, 17, 11), "legal_aid", "legal_aid")
    # 正蓝旗, and messages outside the period
    _ask(session, c, local(11, 5, 10), "emergency", "emergency")
    _ask(session, c, local(11, 24, 10), "kb", "land")
    _ask(session, c, local(10, 31, 10), "kb", "land")
    _ask(session, a, local(12, 1, 9), "kb", "land")
    _ask(session, c, local(11, 6, 10), None, None, "坏掉的消息", status="failed")

    t1 = _ticket(
        session,
        "T-0001",
        a,
        "ab01",
        "乌日娜",
        local(11, 10, 10),
        "老板拖欠工资三个月怎么办",
        "labor",
        answered_after=2,
        rating=5,
        answer=T1_ANSWER,
    )
    _ticket(
        session,
        "T-0002",
        b,
        "ab04",
        "张建国",
        local(11, 11, 10),
        "包工头拖欠工资不给怎么办",
        "labor",
        answered_after=30,
        rating=3,
        escalated=True,
    )
    _ticket(
        session,
        "T-0003",
        b,
        "ab05",
        "张建国",
        local(11, 20, 10),
        "借钱不还怎么要回来",
        "debt_contract",
        status="escalated",
        escalated=True,
    )
    _ticket(
        session,
        "T-0004",
        c,
        "zl01",
        "巴特尔",
        local(11, 12, 10),
        "邻居打人了怎么办",
        "tort",
        answered_after=0.5,
        rating=4,
        urgent=True,
    )
    _ticket(
        session,
        "T-0005",
        a,
        "ab02",
        None,
        local(11, 15, 10),
        "宅基地被邻居占了怎么办",
        "land",
        answered_after=5,
        answered_by="admin",
    )
    # Today (2026-12-01): an urgent major event, still open.
    _ticket(
        session,
        "T-0006",
        a,
        "ab03",
        "乌日娜",
        local(12, 1, 9),
        "村里几十户的草场被占，大家要去上访",
        "collective_dispute",
        status="open",
        urgent=True,
        kind="major_event",
    )

    assert a.villager and b.villager and c.villager
    checks = [
        (b, local(11, 17, 11), local(11, 17, 12), "likely"),
        (a, local(11, 10, 11), None, None),
        (c, local(11, 5, 11), local(11, 5, 12), "unlikely"),
    ]
    for account, started, completed, outcome in checks:
        session.add(
            LegalAidCheck(
                account_id=account.id,
                village_id=account.villager.village_id,  # type: ignore[union-attr]
                started_at=started,
                completed_at=completed,
                outcome=outcome,
            )
        )
    session.add(
        OutboxMessage(
            account_id=b.id,
            channel="telegram",
            text="回复",
            purpose="relay",
            status="failed",
            last_error="Forbidden: bot was blocked by the user",
            created_at=local(11, 20, 12),
        )
    )
    # 乌日娜 has bound a messenger account; a new village nobody advises yet.
    session.add(
        ChannelAccount(channel="telegram", external_id="lawyer-wurina", lawyer_id=_lawyer(session, "乌日娜").id)
    )
    session.add(Village(township_id=_village(session, "ab01").township_id, name="新建嘎查", code="ab07"))
    session.add(
        DutySession(
            lawyer_id=_lawyer(session, "乌日娜").id,
            village_id=_village(session, "ab01").id,
            starts_at=local(12, 2, 9),
            ends_at=local(12, 2, 13),
            place="嘎查党群服务中心",
            kind="onsite",
        )
    )

    abaga = session.scalar(select(County).where(County.name == "阿巴嘎旗"))
    zhenglan = session.scalar(select(County).where(County.name == "正蓝旗"))
    assert abaga is not None and zhenglan is not None
    bieligutai = session.scalar(select(Township).where(Township.name == "别力古台镇"))
    shangdu = session.scalar(select(Township).where(Township.name == "上都镇"))
    assert bieligutai is not None and shangdu is not None
    users = [
        AdminUser(username="county", role="county_admin", county_id=abaga.id, display_name="阿巴嘎旗司法局"),
        AdminUser(username="clerk", role="township_clerk", county_id=abaga.id, township_id=bieligutai.id),
        AdminUser(username="clerk2", role="township_clerk", county_id=zhenglan.id, township_id=shangdu.id),
        AdminUser(username="lawyer", role="lawyer", lawyer_id=_lawyer(session, "张建国").id),
    ]
    for user in users:
        user.password_hash = hash_password(PASSWORD)
    session.add_all(users)
    session.flush()
    return {
        "abaga": abaga.id,
        "zhenglan": zhenglan.id,
        "bieligutai": bieligutai.id,
        "shangdu": shangdu.id,
        "t1": t1.id,
    }
