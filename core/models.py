"""The domain, as tables. Times are naive UTC (see core.clock)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.clock import utcnow

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _now_column() -> Mapped[dt.datetime]:
    return mapped_column(DateTime, default=utcnow, nullable=False)


# --------------------------------------------------------------------------- directory


class County(Base):
    """A 旗/县 with its 盟/市; the level where policy caps and legal-aid centres are set."""

    __tablename__ = "counties"
    id: Mapped[int] = mapped_column(primary_key=True)
    league: Mapped[str] = mapped_column(String(50))  # 盟/市
    name: Mapped[str] = mapped_column(String(50))  # 旗/县
    underserved: Mapped[bool] = mapped_column(Boolean, default=False)
    legal_aid_centre: Mapped[str | None] = mapped_column(String(200))  # name and address
    legal_aid_phone: Mapped[str | None] = mapped_column(String(40))
    townships: Mapped[list[Township]] = relationship(back_populates="county", order_by="Township.name")
    __table_args__ = (UniqueConstraint("league", "name"),)


class Township(Base):
    """A 苏木/乡/镇 and its 司法所 — the admin queue for tickets nobody else can take."""

    __tablename__ = "townships"
    id: Mapped[int] = mapped_column(primary_key=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("counties.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    office_phone: Mapped[str | None] = mapped_column(String(40))
    county: Mapped[County] = relationship(back_populates="townships")
    villages: Mapped[list[Village]] = relationship(back_populates="township", order_by="Village.name")
    __table_args__ = (UniqueConstraint("county_id", "name"),)


class Village(Base):
    """A 嘎查/村. ``code`` is the short public id used in deep links and QR codes."""

    __tablename__ = "villages"
    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(ForeignKey("townships.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    duty_place: Mapped[str | None] = mapped_column(String(100))  # e.g. 嘎查党群服务中心
    township: Mapped[Township] = relationship(back_populates="villages")
    __table_args__ = (UniqueConstraint("township_id", "name"),)

    @property
    def full_name(self) -> str:
        t = self.township
        return full_place_name(t.county.name, t.name, self.name)


def full_place_name(county: str, township: str, village: str) -> str:
    """How a village is named in full to a villager: 阿巴嘎旗别力古台镇巴彦图嘎嘎查."""
    return f"{county}{township}{village}"


class Lawyer(Base):
    __tablename__ = "lawyers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    firm: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(40))
    practice_areas: Mapped[list[Any]] = mapped_column(default=list)
    languages: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = _now_column()


class Assignment(Base):
    """A lawyer advising a village from ``start_date`` until ``end_date`` (open-ended when null)."""

    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(primary_key=True)
    lawyer_id: Mapped[int] = mapped_column(ForeignKey("lawyers.id"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id"), index=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    lawyer: Mapped[Lawyer] = relationship()
    village: Mapped[Village] = relationship()


class BindCode(Base):
    """A one-time code linking a messenger account to a lawyer; only its hash is stored."""

    __tablename__ = "bind_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    lawyer_id: Mapped[int] = mapped_column(ForeignKey("lawyers.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(128), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = _now_column()


# --------------------------------------------------------------------------- people and channels


class Villager(Base):
    __tablename__ = "villagers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(100))
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"))
    reminders_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = _now_column()
    forgotten_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    village: Mapped[Village | None] = relationship()
    # With the ids in it, an area's villagers are found from the index alone (migration 0007).
    __table_args__ = (Index("ix_villagers_village_people", "village_id", "id"),)


class ChannelAccount(Base):
    """One messenger identity. Belongs to a villager, or — once bound — to a lawyer."""

    __tablename__ = "channel_accounts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(100))
    villager_id: Mapped[int | None] = mapped_column(ForeignKey("villagers.id"))
    lawyer_id: Mapped[int | None] = mapped_column(ForeignKey("lawyers.id"), index=True)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))
    #: Some of its outbox messages are held (unreachable, or outside WeChat's window): the next
    #: message they write releases them. A flag, so that the common message skips that UPDATE.
    holds_messages: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_inbound_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: The villager rate limit: inbound messages since the window started (handlers/router.py).
    rate_window_start: Mapped[dt.datetime | None] = mapped_column(DateTime)
    rate_window_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = _now_column()
    villager: Mapped[Villager | None] = relationship()
    lawyer: Mapped[Lawyer | None] = relationship()
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_channel_accounts_identity"),
        # a villager's accounts from the index alone, as for ix_villagers_village_people
        Index("ix_channel_accounts_villager_accounts", "villager_id", "id"),
    )


class Conversation(Base):
    """Which flow step an account is in. Kept here, not in a messenger library, so it survives restarts."""

    __tablename__ = "conversations"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"), unique=True)
    flow: Mapped[str | None] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Message(Base):
    """Every message in and out. Inbound rows are stored before processing (status ``received``)."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"))
    direction: Mapped[str] = mapped_column(String(3))  # in / out
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(12), default="text")
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[str | None] = mapped_column(String(200))
    buttons: Mapped[list[Any] | None] = mapped_column()
    #: Channel details needed to process the message again after a crash (reply_to, attachment).
    meta: Mapped[dict[str, Any] | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), default="received")  # received/processed/failed/sent
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    intent: Mapped[str | None] = mapped_column(String(40))
    confidence: Mapped[float | None] = mapped_column(Float)
    answered_by: Mapped[str | None] = mapped_column(String(20))  # kb / lawyer / bot / handoff
    kb_slug: Mapped[str | None] = mapped_column(String(100))
    kb_score: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now_column()
    processed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        # Redelivery guard: the channel's own id is unique per channel for inbound messages.
        Index(
            "uq_messages_inbound_external",
            "channel",
            "external_id",
            unique=True,
            postgresql_where=sql_text("direction = 'in' AND external_id IS NOT NULL"),
            sqlite_where=sql_text("direction = 'in' AND external_id IS NOT NULL"),
        ),
        Index("ix_messages_account_created", "account_id", "created_at"),
        Index(
            "ix_messages_unprocessed",
            "status",
            "created_at",
            postgresql_where=sql_text("status = 'received'"),
            sqlite_where=sql_text("status = 'received'"),
        ),
        # console: failed processing on the dashboard; inbound messages by period for statistics
        Index(
            "ix_messages_failed",
            "id",
            postgresql_where=sql_text("status = 'failed'"),
            sqlite_where=sql_text("status = 'failed'"),
        ),
        Index(
            "ix_messages_in_created",
            "created_at",
            postgresql_include=["answered_by", "intent", "channel", "account_id"],
            postgresql_where=sql_text("direction = 'in'"),
            sqlite_where=sql_text("direction = 'in'"),
        ),
    )


# --------------------------------------------------------------------------- tickets


class Ticket(Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str | None] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="consult")  # consult / major_event / complaint
    status: Mapped[str] = mapped_column(String(12), default="open")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    villager_id: Mapped[int | None] = mapped_column(ForeignKey("villagers.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("channel_accounts.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"), index=True)
    lawyer_id: Mapped[int | None] = mapped_column(ForeignKey("lawyers.id"))
    township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"), index=True)
    intent: Mapped[str | None] = mapped_column(String(40))
    question: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now_column()
    sla_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    sla_reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    first_response_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    #: The time of the latest event (``tickets.log`` keeps it), so that the auto-close scan reads a
    #: range of one index instead of probing every answered ticket's events.
    last_event_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    villager: Mapped[Villager | None] = relationship()
    village: Mapped[Village | None] = relationship()
    lawyer: Mapped[Lawyer | None] = relationship()
    account: Mapped[ChannelAccount | None] = relationship()
    __table_args__ = (
        Index("ix_tickets_lawyer_status", "lawyer_id", "status"),
        Index("ix_tickets_sla_scan", "status", "sla_due_at"),
        Index("ix_tickets_created", "created_at"),
        Index("ix_tickets_silent", "status", "last_event_at"),
    )


class TicketEvent(Base):
    __tablename__ = "ticket_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[dt.datetime] = _now_column()
    actor: Mapped[str] = mapped_column(String(60))  # villager:12 / lawyer:3 / admin:alice / system
    action: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str | None] = mapped_column(Text)
    #: The auto-close pass re-checks a ticket's last event from this index alone.
    __table_args__ = (Index("ix_ticket_events_ticket_at", "ticket_id", "at"),)


# --------------------------------------------------------------------------- duty calendar


class DutyRule(Base):
    """A recurrence (iCalendar RRULE) that plans duty sessions ahead."""

    __tablename__ = "duty_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    lawyer_id: Mapped[int] = mapped_column(ForeignKey("lawyers.id"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id"), index=True)
    rrule: Mapped[str] = mapped_column(String(300))
    start_time: Mapped[str] = mapped_column(String(5))  # local HH:MM
    duration_minutes: Mapped[int] = mapped_column(Integer)
    place: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), default="onsite")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = _now_column()


class DutySession(Base):
    __tablename__ = "duty_sessions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lawyer_id: Mapped[int] = mapped_column(ForeignKey("lawyers.id"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("duty_rules.id"))
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime)
    place: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), default="onsite")  # onsite / lecture / mediation
    status: Mapped[str] = mapped_column(String(12), default="planned")  # planned/done/cancelled/missed
    hours: Mapped[float | None] = mapped_column(Float)
    people_served: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped when moved: new reminders
    created_at: Mapped[dt.datetime] = _now_column()
    lawyer: Mapped[Lawyer] = relationship()
    village: Mapped[Village] = relationship()
    __table_args__ = (
        Index("ix_duty_sessions_village_start", "village_id", "starts_at"),
        Index("ix_duty_sessions_start", "starts_at"),
        UniqueConstraint("rule_id", "starts_at", name="uq_duty_sessions_rule_start"),
    )


# --------------------------------------------------------------------------- work log, outbox, audit


class WorkLogEntry(Base):
    """一事一记: one service to a villager or a village, as the yearly 台账 needs it."""

    __tablename__ = "work_log_entries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"))
    lawyer_id: Mapped[int | None] = mapped_column(ForeignKey("lawyers.id"), index=True)
    villager_id: Mapped[int | None] = mapped_column(ForeignKey("villagers.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    duty_session_id: Mapped[int | None] = mapped_column(ForeignKey("duty_sessions.id"))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime)
    person: Mapped[str | None] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(20))  # online / phone / onsite
    content: Mapped[str] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    hours: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = _now_column()
    __table_args__ = (Index("ix_work_log_village_time", "village_id", "occurred_at"),)


class OutboxMessage(Base):
    """A message to someone other than the sender of the current message, written in the same
    transaction as the state change that caused it and delivered by bot.outbox."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list[Any] | None] = mapped_column()
    purpose: Mapped[str] = mapped_column(String(30))  # notify / relay / reminder / reply / survey …
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending/sent/failed/held
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: After this it is not sent (a reminder that says 今天 or 明日); None: it is never too late.
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    external_message_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = _now_column()
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    account: Mapped[ChannelAccount] = relationship()
    __table_args__ = (
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            postgresql_where=sql_text("status = 'pending'"),
            sqlite_where=sql_text("status = 'pending'"),
        ),
        Index("ix_outbox_external", "channel", "external_message_id"),
        Index(
            "ix_outbox_failed",
            "id",
            postgresql_where=sql_text("status = 'failed'"),
            sqlite_where=sql_text("status = 'failed'"),
        ),
    )


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    at: Mapped[dt.datetime] = _now_column()
    outcome: Mapped[str] = mapped_column(String(12))  # sent / transient / permanent / held / expired
    error: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = _now_column()
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_audit_events_at", "at"),)


# --------------------------------------------------------------------------- admin, knowledge base, misc


class AdminUser(Base):
    __tablename__ = "admin_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(20))  # superadmin / county_admin / township_clerk / lawyer
    county_id: Mapped[int | None] = mapped_column(ForeignKey("counties.id"))
    township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"))
    lawyer_id: Mapped[int | None] = mapped_column(ForeignKey("lawyers.id"))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = _now_column()


class KbArticle(Base):
    """The live, editable copy of a knowledge-base article (files in knowledge_base/content seed it)."""

    __tablename__ = "kb_articles"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    intent: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(100))
    questions: Mapped[list[Any]] = mapped_column(default=list)
    answer: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[Any]] = mapped_column(default=list)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    reviewed_by: Mapped[str] = mapped_column(String(100))
    reviewed_at: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class KbRevision(Base):
    __tablename__ = "kb_revisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(80))
    at: Mapped[dt.datetime] = _now_column()
    snapshot: Mapped[dict[str, Any]] = mapped_column()
    __table_args__ = (UniqueConstraint("article_id", "version", name="uq_kb_revisions_article_version"),)


class LegalAidCheck(Base):
    """One legal-aid pre-assessment interview, for follow-up and statistics."""

    __tablename__ = "legal_aid_checks"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"))
    started_at: Mapped[dt.datetime] = _now_column()
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    outcome: Mapped[str | None] = mapped_column(String(20))  # likely / maybe / unlikely / appoint
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))


class Lease(Base):
    """A named lease so that only one process runs the scheduler."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class CacheEntry(Base):
    """Small values shared across processes (e.g. WeChat's access token)."""

    __tablename__ = "cache_entries"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
