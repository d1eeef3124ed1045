"""Channel-neutral message types (stdlib only): every adapter translates to and from these."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    STICKER = "sticker"
    LOCATION = "location"
    FILE = "file"
    EVENT = "event"  # payload "evt:<name>[:<arg>]": subscribe, unsubscribe, menu click, start link


@dataclass(frozen=True)
class Button:
    label: str
    payload: str


@dataclass(frozen=True)
class IncomingMessage:
    channel: str
    user_id: str
    #: The channel's own id for this message (Telegram update_id, WeChat MsgId, web client id);
    #: a redelivery carries the same id and is never answered twice.
    message_id: str | None
    text: str = ""
    payload: str | None = None
    kind: Kind = Kind.TEXT
    display_name: str | None = None
    #: Channel id of the bot message this one replies to (a lawyer answering a notification).
    reply_to: str | None = None
    #: Reference to a photo/document the channel can forward (file id, media id).
    attachment: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A file a channel received earlier, to be sent on as is (a villager's photo to the lawyer).

    ``ref`` is the channel's own reference (Telegram file id): only the same channel can use it."""

    kind: Kind
    ref: str


@dataclass(frozen=True)
class OutgoingMessage:
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)
    attachment: Attachment | None = None

    def with_buttons(self, *buttons: Button) -> OutgoingMessage:
        return OutgoingMessage(self.text, self.buttons + tuple(buttons), self.attachment)
