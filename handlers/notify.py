"""Writing messages for other people into the outbox, exactly once per dedup key."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import insert_once
from core.messages import Attachment, Button, Kind, OutgoingMessage
from core.models import ChannelAccount, OutboxMessage

if TYPE_CHECKING:
    from handlers.context import Sender

#: The outbox has no attachment column yet: an attachment row keeps ``<kind>:<ref>`` in ``text``
#: under this purpose (a forwarded file has no caption of its own; its notice is a separate row).
ATTACHMENT_PURPOSE = "attachment"


def enqueue(
    session: Session,
    *,
    account: ChannelAccount | Sender,
    message: OutgoingMessage,
    purpose: str,
    dedup_key: str | None = None,
    ticket_id: int | None = None,
    now: dt.datetime | None = None,
    not_before: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
) -> OutboxMessage:
    """Add one outgoing message, due ``now`` or at ``not_before`` when that is later, and not sent
    at or after ``expires_at``. A second call with the same ``dedup_key`` returns the first row
    instead of sending twice (a re-run scheduler pass, a retried request, a second process)."""
    attachment = message.attachment
    now = now or utcnow()
    values = {
        "account_id": account.id,
        "channel": account.channel,
        "text": f"{attachment.kind.value}:{attachment.ref}" if attachment else message.text,
        "buttons": buttons_to_json(message.buttons),
        "purpose": ATTACHMENT_PURPOSE if attachment else purpose,
        "dedup_key": dedup_key,
        "ticket_id": ticket_id,
        "status": "held" if account.unreachable else "pending",
        "last_error": "account unreachable" if account.unreachable else None,
        "next_attempt_at": max(now, not_before) if not_before is not None else now,
        "expires_at": expires_at,
        "created_at": now,
    }
    if dedup_key is None:
        row = OutboxMessage(**values)
        session.add(row)
        session.flush()  # callers may need its id at once
    else:
        inserted = session.scalar(_INSERT_ONCE(session), values)
        if inserted is None:
            existing = session.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == dedup_key))
            assert existing is not None
            return existing
        row = inserted
    if account.unreachable:
        mark_holding(session, account.id)
    return row


#: One statement instead of a select, a savepoint and an insert (core.db.insert_once says why).
_INSERT_ONCE = insert_once(OutboxMessage, OutboxMessage, index_elements=[OutboxMessage.dedup_key])


def mark_holding(session: Session, account_id: int) -> None:
    """Note that the account has held messages. An UPDATE even when the flag looks set already:
    its row lock orders it with a concurrent release (which holds the same lock), so a release
    can never clear the flag of a message it did not release."""
    session.execute(update(ChannelAccount).where(ChannelAccount.id == account_id).values(holds_messages=True))


def release_held(session: Session, account: ChannelAccount, *, now: dt.datetime) -> None:
    """Send what was held while the account was unreachable, oldest first (the outbox keeps order)."""
    if not account.holds_messages:
        return
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.account_id == account.id, OutboxMessage.status == "held")
        .values(status="pending", next_attempt_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    )
    account.holds_messages = False


def buttons_to_json(buttons: tuple[Button, ...]) -> list[dict[str, str]] | None:
    return [asdict(b) for b in buttons] or None


def buttons_from_json(data: list[dict[str, str]] | None) -> tuple[Button, ...]:
    return tuple(Button(label=b["label"], payload=b["payload"]) for b in data or ())


def as_outgoing(row: OutboxMessage) -> OutgoingMessage:
    if row.purpose == ATTACHMENT_PURPOSE:
        kind, _, ref = row.text.partition(":")
        return OutgoingMessage(text="", attachment=Attachment(Kind(kind), ref))
    return OutgoingMessage(text=row.text, buttons=buttons_from_json(row.buttons))
