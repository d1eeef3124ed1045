"""Push a message, pop the replies (errbot's test-bot style), through the real Router."""

from __future__ import annotations

import itertools

from admin.container import Container
from core.messages import IncomingMessage, Kind, OutgoingMessage

_ids = itertools.count(1)


class Chat:
    def __init__(self, container: Container, user: str = "u1", *, channel: str = "webchat", name: str | None = None):
        self.container = container
        self.user = user
        self.channel = channel
        self.name = name
        self.last: list[OutgoingMessage] = []

    def say(
        self,
        text: str = "",
        *,
        payload: str | None = None,
        kind: Kind = Kind.TEXT,
        message_id: str | None = None,
        reply_to: str | None = None,
    ) -> list[OutgoingMessage]:
        incoming = IncomingMessage(
            channel=self.channel,
            user_id=self.user,
            message_id=message_id or f"{self.user}-{next(_ids)}",
            text=text,
            payload=payload,
            kind=kind,
            display_name=self.name,
            reply_to=reply_to,
        )
        self.last = self.container.router.handle(incoming).replies
        return self.last

    def tap(self, label_part: str) -> list[OutgoingMessage]:
        for reply in reversed(self.last):
            for button in reply.buttons:
                if label_part in button.label:
                    return self.say(payload=button.payload)
        raise AssertionError(
            f"no button containing {label_part!r} in {[b.label for r in self.last for b in r.buttons]}"
        )

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.last)

    def buttons(self) -> list[str]:
        return [b.label for r in self.last for b in r.buttons]

    def choose_village(self, county: str, township: str, village: str) -> None:
        self.say("/village")
        if county in self.buttons():
            self.tap(county)
        if township in self.buttons():
            self.tap(township)
        self.tap(village)
