"""`villagelaw` — the command line for operators and scripts."""

from __future__ import annotations

import datetime as dt
import logging
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from core.clock import utcnow
from core.config import get_settings
from core.db import make_engine, make_session_factory, transaction

app = typer.Typer(help="村律通 villagelaw", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database migrations", no_args_is_help=True)
lawyer_app = typer.Typer(help="Lawyers and their villages", no_args_is_help=True)
kb_app = typer.Typer(help="Knowledge base import/export", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(lawyer_app, name="lawyer")
app.add_typer(kb_app, name="kb")
wechat_app = typer.Typer(help="WeChat Official Account: menu and village QR codes", no_args_is_help=True)
app.add_typer(wechat_app, name="wechat")


def _factory():  # type: ignore[no-untyped-def]
    return make_session_factory(make_engine(get_settings().database_url))


def _configure_logging() -> None:
    logging.basicConfig(level=get_settings().log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply Alembic migrations."""
    from core.migrate import upgrade

    settings = get_settings()
    upgrade(make_engine(settings.database_url), revision)
    typer.echo(f"database at {revision}")


@app.command("seed-demo")
def seed_demo(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Only when no village exists")] = False,
) -> None:
    """Load the demo directory, duty sessions, admin user and knowledge base (idempotent)."""
    from admin import seed

    settings = get_settings()
    with transaction(_factory()) as session:
        if if_empty and not seed.is_empty(session):
            typer.echo("database already has data; demo not loaded")
            return
        counts = seed.seed_demo(session, settings=settings)
    typer.echo("demo data: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides PORT")] = None,
    telegram_polling: Annotated[
        bool, typer.Option("--telegram-polling", help="Poll Telegram instead of a webhook")
    ] = False,
) -> None:
    """Serve the web chat, the admin console, webhooks and background workers."""
    import uvicorn

    from admin.app import create_app

    _configure_logging()
    settings = get_settings()
    if telegram_polling:
        settings = settings.model_copy(update={"telegram_polling": True})
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port, log_level="info")


@app.command()
def chat(user: Annotated[str, typer.Option(help="Terminal user id")] = "terminal") -> None:
    """Talk to the bot in the terminal (the same conversation as the web chat). Type a number to tap a button."""
    from admin.container import build
    from core.messages import IncomingMessage

    container = build(get_settings())
    buttons: list[tuple[str, str]] = []
    typer.echo("村律通 — 输入文字聊天，输入按钮编号点按钮，Ctrl-D 退出。")
    text = "/start"
    while True:
        payload = None
        if text.strip().isdigit() and 0 < int(text.strip()) <= len(buttons):
            payload = buttons[int(text.strip()) - 1][1]
            text = ""
        message = IncomingMessage(channel="cli", user_id=user, message_id=uuid.uuid4().hex, text=text, payload=payload)
        result = container.router.handle(message)
        buttons = []
        for reply in result.replies:
            typer.echo(f"\n🤖 {reply.text}")
            for button in reply.buttons:
                buttons.append((button.label, button.payload))
                typer.echo(f"   [{len(buttons)}] {button.label}")
        try:
            text = input("\n> ")
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            return


# ------------------------------------------------------------------ lawyers


@lawyer_app.command("add")
def lawyer_add(
    name: str,
    firm: Annotated[str, typer.Option()],
    phone: Annotated[str, typer.Option()],
    areas: Annotated[str, typer.Option(help="Comma-separated practice areas")] = "",
    languages: Annotated[str, typer.Option(help="Comma-separated languages")] = "汉语",
) -> None:
    from handlers import roster

    with transaction(_factory()) as session:
        lawyer = roster.add_lawyer(
            session,
            name=name,
            firm=firm,
            phone=phone,
            practice_areas=[a for a in areas.split(",") if a],
            languages=[lang for lang in languages.split(",") if lang],
        )
        typer.echo(f"lawyer {lawyer.id}: {lawyer.name} ({lawyer.firm})")


@lawyer_app.command("list")
def lawyer_list() -> None:
    from core.models import Lawyer
    from handlers import directory

    today = utcnow().date()
    with _factory()() as session:
        for lawyer in session.scalars(select(Lawyer).order_by(Lawyer.id)):
            from core.models import Assignment

            villages = [
                a.village.name
                for a in session.scalars(select(Assignment).where(Assignment.lawyer_id == lawyer.id))
                if a.start_date <= today and (a.end_date is None or a.end_date >= today)
            ]
            bound = len(directory.lawyer_accounts(session, lawyer.id))
            villages_text = "、".join(villages) or "-"
            typer.echo(f"{lawyer.id}\t{lawyer.name}\t{lawyer.firm}\t{lawyer.phone}\t{villages_text}\t绑定账号:{bound}")


@lawyer_app.command("assign")
def lawyer_assign(
    lawyer_id: int,
    village_code: str,
    start: Annotated[str | None, typer.Option(help="YYYY-MM-DD, default today")] = None,
    end: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
) -> None:
    from core.models import Lawyer
    from handlers import directory, roster

    settings = get_settings()
    with transaction(_factory()) as session:
        lawyer = session.get(Lawyer, lawyer_id)
        village = directory.village_by_code(session, village_code)
        if lawyer is None or village is None:
            typer.echo("no such lawyer or village", err=True)
            raise typer.Exit(1)
        try:
            roster.assign(
                session,
                settings=settings,
                lawyer=lawyer,
                village=village,
                start=dt.date.fromisoformat(start) if start else utcnow().date(),
                end=dt.date.fromisoformat(end) if end else None,
            )
        except roster.PolicyError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{lawyer.name} → {village.name}")


@lawyer_app.command("bind-code")
def lawyer_bind_code(lawyer_id: int) -> None:
    """Issue a one-time code the lawyer sends to the bot as `/bind CODE` (valid 24 h)."""
    from core.models import Lawyer
    from handlers import roster

    with transaction(_factory()) as session:
        lawyer = session.get(Lawyer, lawyer_id)
        if lawyer is None:
            typer.echo("no such lawyer", err=True)
            raise typer.Exit(1)
        issued = roster.issue_bind_code(session, settings=get_settings(), lawyer=lawyer, now=utcnow(), actor="cli")
        typer.echo(f"{issued.code}  (expires {issued.expires_at:%Y-%m-%d %H:%M} UTC)")


# ------------------------------------------------------------------ knowledge base


@kb_app.command("import")
def kb_import(directory: Path) -> None:
    """Import every article file under DIRECTORY; nothing is imported if any file is invalid."""
    from knowledge_base import service as kb

    with transaction(_factory()) as session:
        report = kb.import_directory(session, directory, author="cli")
    for error in report.errors:
        typer.echo(f"ERROR {error}", err=True)
    if report.errors:
        raise typer.Exit(1)
    typer.echo(f"created {len(report.created)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}")


@kb_app.command("export")
def kb_export(directory: Path) -> None:
    from knowledge_base import service as kb

    with _factory()() as session:
        count = kb.export_directory(session, directory)
    typer.echo(f"exported {count} articles to {directory}")


# ------------------------------------------------------------------ WeChat


def _wechat_client():  # type: ignore[no-untyped-def]
    from bot.wechat_client import OfficialAccountClient

    settings = get_settings()
    if not settings.wechat_enabled:
        typer.echo("WECHAT_TOKEN, WECHAT_APP_ID and WECHAT_APP_SECRET must be set first.", err=True)
        raise typer.Exit(1)
    return OfficialAccountClient(settings, _factory())


@wechat_app.command("menu")
def wechat_menu() -> None:
    """Install the account's menu (找律师 / 坐班时间 / 换村 / 使用帮助); each button runs a command."""
    from bot.wechat_client import menu_definition
    from handlers import texts

    _wechat_client().menu.create(menu_definition(texts.WECHAT_MENU))
    typer.echo("menu installed")


@wechat_app.command("qrcode")
def wechat_qrcode(village_code: str) -> None:
    """Print the URL of a village's permanent QR code: scanning it follows the account and binds the village."""
    from bot.wechat_client import village_qrcode
    from core.models import Village

    with _factory()() as session:
        village = session.scalar(select(Village).where(Village.code == village_code))
        if village is None:
            typer.echo(f"no village with code {village_code}", err=True)
            raise typer.Exit(1)
        name = village.full_name
    typer.echo(f"{name}: {village_qrcode(_wechat_client(), village_code)}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
