"""Demo data: a plausible directory for one 盟 (invented people and places), idempotent."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin.auth import hash_password
from core.clock import to_utc, utcnow
from core.config import Settings
from core.models import AdminUser, Assignment, County, DutySession, Lawyer, Township, Village
from handlers import roster
from knowledge_base import service as kb

LEAGUE = "锡林郭勒盟"
# county → township → villages. Names are invented; codes are what QR codes and deep links carry.
DIRECTORY = {
    ("阿巴嘎旗", True): {
        "别力古台镇": [("巴彦图嘎嘎查", "ab01"), ("宝格都乌拉嘎查", "ab02"), ("查干淖尔嘎查", "ab03")],
        "洪格尔高勒镇": [("伊和淖尔嘎查", "ab04"), ("萨如拉图雅嘎查", "ab05"), ("吉尔嘎郎图嘎查", "ab06")],
    },
    ("正蓝旗", False): {
        "上都镇": [("红星村", "zl01"), ("五一村", "zl02"), ("敦达浩特嘎查", "zl03")],
        "桑根达来镇": [("哈登胡舒嘎查", "zl04"), ("宝日胡舒嘎查", "zl05"), ("东胜村", "zl06")],
    },
}
LAWYERS = [
    ("乌日娜", "锡林浩特草原律师事务所", "13904790101", ["土地", "婚姻家庭"], ["汉语", "蒙古语"]),
    ("张建国", "锡林浩特草原律师事务所", "13904790102", ["劳动", "合同"], ["汉语"]),
    ("巴特尔", "正蓝旗元上都律师事务所", "13904790103", ["土地", "刑事"], ["汉语", "蒙古语"]),
    ("李秀兰", "正蓝旗元上都律师事务所", "13904790104", ["婚姻家庭", "侵权"], ["汉语"]),
    ("王海涛", "阿巴嘎旗法正律师事务所", "13904790105", ["交通事故", "合同"], ["汉语"]),
]
# lawyer index → village codes (at most 3 each, the policy cap)
ASSIGNMENTS = {
    0: ["ab01", "ab02", "ab03"],
    1: ["ab04", "ab05"],
    2: ["zl01", "zl02", "zl03"],
    3: ["zl04", "zl05", "zl06"],
    4: ["ab06"],
}
DUTY_PLACES = ("嘎查党群服务中心", "村委会会议室")


def is_empty(session: Session) -> bool:
    return (session.scalar(select(func.count(Village.id))) or 0) == 0


def seed_demo(session: Session, *, settings: Settings, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    counts = {"villages": 0, "lawyers": 0, "assignments": 0, "duty_sessions": 0, "admins": 0, "kb_articles": 0}
    villages: dict[str, Village] = {}
    for (county_name, underserved), townships in DIRECTORY.items():
        county = session.scalar(select(County).where(County.league == LEAGUE, County.name == county_name))
        if county is None:
            county = County(
                league=LEAGUE,
                name=county_name,
                underserved=underserved,
                legal_aid_centre=f"{county_name}法律援助中心（{county_name}司法局一楼）",
                legal_aid_phone="12348",
            )
            session.add(county)
            session.flush()
        for township_name, rows in townships.items():
            township = session.scalar(
                select(Township).where(Township.county_id == county.id, Township.name == township_name)
            )
            if township is None:
                township = Township(county_id=county.id, name=township_name)
                session.add(township)
                session.flush()
            for village_name, code in rows:
                village = session.scalar(select(Village).where(Village.code == code))
                if village is None:
                    village = Village(
                        township_id=township.id, name=village_name, code=code, duty_place=DUTY_PLACES[len(code) % 2]
                    )
                    session.add(village)
                    session.flush()
                    counts["villages"] += 1
                villages[code] = village
    lawyers: list[Lawyer] = []
    for name, firm, phone, areas, languages in LAWYERS:
        lawyer = session.scalar(select(Lawyer).where(Lawyer.phone == phone))
        if lawyer is None:
            lawyer = roster.add_lawyer(
                session, name=name, firm=firm, phone=phone, practice_areas=areas, languages=languages
            )
            counts["lawyers"] += 1
        lawyers.append(lawyer)
    start = dt.date(now.year, 1, 1)
    for index, codes in ASSIGNMENTS.items():
        for code in codes:
            exists = session.scalar(
                select(Assignment).where(
                    Assignment.lawyer_id == lawyers[index].id, Assignment.village_id == villages[code].id
                )
            )
            if exists is None:
                roster.assign(session, settings=settings, lawyer=lawyers[index], village=villages[code], start=start)
                counts["assignments"] += 1
    counts["duty_sessions"] = _seed_duty(session, lawyers, villages, now=now)
    if session.scalar(select(AdminUser).where(AdminUser.username == settings.admin_username)) is None:
        session.add(
            AdminUser(
                username=settings.admin_username,
                password_hash=hash_password(settings.admin_password),
                display_name="系统管理员",
                role="superadmin",
            )
        )
        counts["admins"] += 1
    report = kb.import_directory(session, author="seed-demo")
    counts["kb_articles"] = len(report.created)
    return counts


def _seed_duty(session: Session, lawyers: list[Lawyer], villages: dict[str, Village], *, now: dt.datetime) -> int:
    """Two half-day sessions per village in the coming month (the policy's minimum rhythm)."""
    if session.scalar(select(func.count(DutySession.id)).where(DutySession.starts_at >= now)):
        return 0
    created = 0
    today = (now + dt.timedelta(hours=8)).date()
    for index, codes in ASSIGNMENTS.items():
        for n, code in enumerate(codes):
            village = villages[code]
            for week in (1, 3):
                day = today + dt.timedelta(days=week * 7 + n * 2)
                local_start = dt.datetime.combine(day, dt.time(9, 0))
                session.add(
                    DutySession(
                        lawyer_id=lawyers[index].id,
                        village_id=village.id,
                        starts_at=to_utc(local_start),
                        ends_at=to_utc(local_start + dt.timedelta(hours=4)),
                        place=village.duty_place or DUTY_PLACES[0],
                        kind="onsite",
                        status="planned",
                    )
                )
                created += 1
    return created
