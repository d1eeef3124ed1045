"""The intent names: the classifier predicts them, the knowledge base files and handlers use them."""

from __future__ import annotations

LEGAL_TOPICS = (
    "land",
    "marriage_family",
    "labor",
    "debt_contract",
    "traffic_accident",
    "criminal",
    "tort",
    "other_legal",
    "legal_aid",
)
SERVICE_INTENTS = (
    "greet",
    "thanks_bye",
    "ask_lawyer",
    "duty_schedule",
    "lawyer_contact",
    "emergency",
    "collective_dispute",
    "out_of_scope",
)
INTENTS = LEGAL_TOPICS + SERVICE_INTENTS
#: Knowledge-base articles answer legal topics and the service questions that have a fixed answer.
ARTICLE_INTENTS = (*LEGAL_TOPICS, "ask_lawyer", "duty_schedule", "lawyer_contact", "emergency", "collective_dispute")
