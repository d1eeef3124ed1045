"""The one settings object. Nothing else in the project reads ``os.environ``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-insecure-change-me"
PLACEHOLDER_MARKERS = ("change-me", "changeme", "placeholder", "xxx")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- runtime
    env: Literal["dev", "test", "prod"] = Field(
        "dev", description="dev, test or prod; prod refuses placeholder secrets"
    )
    host: str = Field("127.0.0.1", description="Address `villagelaw serve` binds to")
    port: int = Field(8000, description="Port `villagelaw serve` listens on")
    database_url: str = Field(
        f"sqlite:///{PROJECT_ROOT / 'var' / 'villagelaw.db'}",
        description="SQLAlchemy URL; SQLite file by default, postgresql+psycopg://… in production",
    )
    secret_key: str = Field(DEV_SECRET, description="Signs admin session cookies and CSRF tokens")
    log_level: str = Field("INFO", description="Python logging level")
    timezone: str = Field("Asia/Shanghai", description="Local time zone for villagers, lawyers and reports")
    run_background_workers: bool = Field(
        True, description="Run the outbox sender and the scheduler inside the web process"
    )
    web_workers: int = Field(
        1, ge=1, le=16, description="Worker processes `villagelaw serve` starts (one per core under load)"
    )
    db_pool_size: int = Field(
        10,
        ge=1,
        description="Blocking requests and tasks each process runs at once (threads), each with a connection kept open",
    )
    db_max_overflow: int = Field(10, ge=0, description="Extra PostgreSQL connections a process may open at peaks")
    webchat_threads: int = Field(
        2,
        ge=1,
        description="Web chat messages each process works on at once (threads); the rest wait their turn",
    )
    db_connect_timeout_seconds: int = Field(
        3,
        ge=1,
        description="Give up connecting to PostgreSQL after this (health checks answer degraded); "
        "under WeChat's 5 s, so a villager there is told to send again",
    )
    recovery_age_seconds: float = Field(
        30, description="A message stored this long ago and still unprocessed is processed by the recovery worker"
    )
    recovery_interval_seconds: float = Field(15, description="How often the recovery worker looks")
    test_processing_delay_seconds: float = Field(
        0,
        ge=0,
        description="Tests only: pause this long in the middle of processing each message (crash tests); "
        "refused in prod",
    )

    # --- conversation
    max_message_chars: int = Field(2000, description="Longest text a villager may send in one message")
    villager_rate_limit_messages: int = Field(
        30, ge=1, description="Messages of one villager processed per window; more are stored and answered 'too fast'"
    )
    villager_rate_limit_window_seconds: int = Field(
        60, ge=1, description="The rate limit's window; it starts with the first message after the last one ended"
    )
    webchat_session_days: int = Field(30, description="How long the web chat page remembers a visitor")

    # --- NLU
    nlu_backend: Literal["embedded", "rasa"] = Field("embedded", description="embedded (in-process) or rasa")
    rasa_url: str = Field("http://127.0.0.1:5005", description="Rasa server base URL (NLU_BACKEND=rasa)")
    rasa_timeout_seconds: float = Field(1.5, description="Give up on Rasa after this and use the embedded model")
    nlu_model_dir: Path = Field(PROJECT_ROOT / "var" / "nlu", description="Where the trained model is cached")
    fit_models_in_child: bool = Field(
        True,
        description="Fit models in a short-lived child process, so a serving process never loads scikit-learn (80 MB)",
    )
    intent_high_confidence: float = Field(0.60, description="At or above: go straight to the intent's handler")
    intent_low_confidence: float = Field(0.30, description="Below: offer the lawyer instead of guessing")
    emergency_min_confidence: float = Field(0.20, description="Emergency wins above this bar: safety first")

    # --- knowledge base
    laws_path: Path = Field(
        PROJECT_ROOT.parent / "shared" / "data" / "laws" / "articles.jsonl",
        description="Statute articles (JSONL) that citations are checked against when present",
    )
    kb_answer_score: float = Field(0.22, description="Retrieval score at or above which the top article is shown")
    kb_suggest_score: float = Field(0.10, description="Between this and the answer score: offer up to 3 articles")

    # --- lawyers and tickets
    max_villages_per_lawyer: int = Field(3, description="Policy cap on villages one lawyer advises")
    max_villages_per_lawyer_underserved: int = Field(8, description="Cap where the county is under-served")
    sla_first_response_hours: float = Field(24, description="Escalate to 司法所 when unanswered this long")
    bind_code_ttl_hours: int = Field(24, description="Lifetime of a lawyer's one-time binding code")

    # --- scheduler
    reminder_grace_hours: float = Field(2, description="Late reminders are still sent within this window")
    scheduler_interval_seconds: int = Field(60, description="How often the reminder/SLA pass runs")
    stats_snapshot_seconds: int = Field(
        300,
        ge=0,
        description="A slow statistics page (all areas) is served from a computation this recent; 0: always live",
    )
    lawyer_evening_reminder_time: str = Field(
        "18:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Local time of the lawyer's reminder on the evening before a duty session",
    )
    lawyer_reminder_hours_before: float = Field(2, description="Second lawyer reminder this many hours before")
    villager_reminder_days_before: int = Field(3, description="Opted-in villagers are reminded this many days before")
    villager_morning_reminder_time: str = Field(
        "07:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Local time of the villagers' reminder on the morning of the duty day",
    )
    duty_plan_months_ahead: int = Field(3, description="Recurrence rules are expanded into sessions this far ahead")
    ticket_autoclose_days: float = Field(7, description="Close answered tickets silent this long and ask for a rating")

    # --- duty compliance (the policy's yardstick; defaults are the policy's numbers)
    compliance_min_sessions_per_month: int = Field(2, description="On-site sessions a lawyer owes each village a month")
    compliance_min_session_hours: float = Field(4, description="Hours for a session to count (also one half-day)")
    compliance_min_hours_per_month: float = Field(8, description="Alternative: on-site hours per village a month")
    compliance_online_offset_share: float = Field(
        0.5, description="Share of the monthly hours that online/phone service may make up"
    )
    compliance_online_hours_per_ticket: float = Field(
        0.5, description="Online hours credited per answered ticket without recorded hours"
    )
    compliance_min_lectures_per_quarter: int = Field(1, description="Legal lectures per village a quarter")
    compliance_min_half_days_per_year: int = Field(12, description="On-site half-days per village a year")

    # --- legal aid
    legal_aid_income_threshold: float = Field(
        1200,
        description="Monthly per-capita household income (元) below which a household counts as in hardship "
        "(法律援助法 Art. 34; the default is an example: set the province's published figure)",
    )
    legal_aid_region: str = Field("内蒙古自治区", description="Region whose hardship threshold is configured")
    legal_aid_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description='Per 盟/市 or 旗/县 hardship thresholds overriding the default, JSON: {"锡林郭勒盟": 1340}',
    )

    # --- admin console
    login_max_failures: int = Field(5, description="Failed logins before an account is locked")
    login_lockout_minutes: int = Field(15, description="How long a locked account stays locked")
    cookie_secure: bool = Field(False, description="Send the admin session cookie over HTTPS only")
    admin_username: str = Field("admin", description="Admin user created by seed-demo")
    admin_password: str = Field("villagelaw-demo", description="Password of the seed-demo admin (change it!)")
    card_font_path: Path | None = Field(
        None,
        description="TrueType/OpenType font with Chinese glyphs for the village card PNG "
        "(default: Noto Sans CJK if installed, else the first zh font fontconfig lists)",
    )

    # --- Telegram (enabled when the token is set)
    telegram_bot_token: str | None = Field(None, description="Bot token from @BotFather")
    telegram_webhook_secret: str | None = Field(None, description="X-Telegram-Bot-Api-Secret-Token value")
    telegram_api_base_url: str = Field("https://api.telegram.org/bot", description="Bot API base URL")
    telegram_polling: bool = Field(False, description="Poll getUpdates instead of receiving the webhook")
    telegram_bot_username: str | None = Field(None, description="For t.me deep links on village cards")

    # --- WeChat Official Account (enabled when token, app id and secret are set)
    wechat_token: str | None = Field(None, description="Token configured in the WeChat console")
    wechat_app_id: str | None = Field(None, description="AppID of the Official Account")
    wechat_app_secret: str | None = Field(None, description="AppSecret of the Official Account")
    wechat_aes_key: str | None = Field(None, description="EncodingAESKey; safe mode when set")
    wechat_api_base_url: str = Field("https://api.weixin.qq.com/cgi-bin/", description="WeChat API base URL")
    wechat_reply_budget_seconds: float = Field(4.0, description="Answer passively within this, else reply later")
    wechat_template_id: str | None = Field(None, description="Template for messages outside the 48 h window")

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def wechat_enabled(self) -> bool:
        return bool(self.wechat_token and self.wechat_app_id and self.wechat_app_secret)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @model_validator(mode="after")
    def _refuse_placeholders_outside_dev(self) -> Settings:
        if self.env != "prod":
            return self
        if self.test_processing_delay_seconds:
            raise ValueError("TEST_PROCESSING_DELAY_SECONDS is for tests only and must be 0 in production")
        checked = {
            "SECRET_KEY": self.secret_key,
            "ADMIN_PASSWORD": self.admin_password,
            "TELEGRAM_WEBHOOK_SECRET": self.telegram_webhook_secret,
            "WECHAT_TOKEN": self.wechat_token,
        }
        bad = [
            name
            for name, value in checked.items()
            if value is not None and (value == DEV_SECRET or any(m in value.lower() for m in PLACEHOLDER_MARKERS))
        ]
        if self.admin_password == "villagelaw-demo":
            bad.append("ADMIN_PASSWORD")
        if self.telegram_enabled and not self.telegram_webhook_secret:
            bad.append("TELEGRAM_WEBHOOK_SECRET (required with TELEGRAM_BOT_TOKEN)")
        if bad:
            raise ValueError("placeholder or missing secrets in production: " + ", ".join(sorted(set(bad))))
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
