"""`villagelaw` — the command line for operators and scripts."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from core.clock import local_today, utcnow
from core.config import get_settings
from core.db import make_engine, make_session_factory, transaction

app = typer.Typer(help="村律通 villagelaw", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database migrations", no_args_is_help=True)
lawyer_app = typer.Typer(help="Lawyers and their villages", no_args_is_help=True)
kb_app = typer.Typer(help="Knowledge base import/export", no_args_is_help=True)
county_app = typer.Typer(help="Counties (旗/县) and their legal-aid centres", no_args_is_help=True)
telegram_app = typer.Typer(help="Connect the Telegram bot", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(lawyer_app, name="lawyer")
app.add_typer(kb_app, name="kb")
app.add_typer(county_app, name="county")
app.add_typer(telegram_app, name="telegram")
scheduler_app = typer.Typer(help="Duty reminders, ticket SLA and auto-close (the periodic pass)", no_args_is_help=True)
duty_app = typer.Typer(help="Duty calendar: recurring rules and sessions", no_args_is_help=True)
compliance_app = typer.Typer(help="On-site duty compliance against the policy", no_args_is_help=True)
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(duty_app, name="duty")
app.add_typer(compliance_app, name="compliance")
wechat_app = typer.Typer(help="WeChat Official Account: menu and village QR codes", no_args_is_help=True)
app.add_typer(wechat_app, name="wechat")


def _factory():  # type: ignore[no-untyped-def]
    return make_session_factory(make_engine(get_settings().database_url))


def _configure_logging() -> None:
    from core.logs import configure_logging

    configure_logging(get_settings().log_level)


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
    """Serve the web chat, the admin console, webhooks and background workers.

    With WEB_WORKERS > 1 that many processes (admin/serving.py), each building the app through
    ``admin.app:serve_app`` and listening on the port with a socket of its own; they share the
    work through the database (the outbox claims rows, the scheduler takes a lease)."""
    import uvicorn

    from admin.app import create_app, fit_models_in_child, limit_malloc_arenas

    limit_malloc_arenas()
    _configure_logging()
    settings = get_settings()
    if telegram_polling:
        settings = settings.model_copy(update={"telegram_polling": True})
    if settings.telegram_polling and not settings.telegram_enabled:
        typer.echo("--telegram-polling needs TELEGRAM_BOT_TOKEN (from @BotFather)", err=True)
        raise typer.Exit(1)
    if settings.telegram_polling and settings.web_workers > 1:
        typer.echo("Telegram polling needs one receiver: set WEB_WORKERS=1 (or use the webhook)", err=True)
        raise typer.Exit(1)
    bind_host, bind_port = host or settings.host, port or settings.port
    # log_config=None: uvicorn's loggers propagate to ours, which mask personal data.
    if settings.web_workers > 1:
        from admin.serving import Supervisor

        fit_models_in_child(settings)
        config = uvicorn.Config(
            "admin.app:serve_app",
            factory=True,
            workers=settings.web_workers,
            log_config=None,
            host=bind_host,
            port=bind_port,
        )
        raise typer.Exit(Supervisor(config).run())
    else:
        uvicorn.run(create_app(settings), log_config=None, host=bind_host, port=bind_port)


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

    today = local_today()
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
                start=dt.date.fromisoformat(start) if start else local_today(),
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


# ------------------------------------------------------------------ counties


@county_app.command("legal-aid")
def county_legal_aid(
    name: str,
    centre: Annotated[str | None, typer.Option(help="Name and address of the legal-aid centre")] = None,
    phone: Annotated[str | None, typer.Option(help="Its phone number")] = None,
) -> None:
    """Show or set where villagers of county NAME apply for legal aid (shown by the legal-aid check)."""
    from core.models import County

    with transaction(_factory()) as session:
        counties = session.scalars(select(County).where(County.name == name)).all()
        if not counties:
            typer.echo(f"no county named {name}", err=True)
            raise typer.Exit(1)
        for county in counties:
            if centre is not None:
                county.legal_aid_centre = centre.strip() or None
            if phone is not None:
                county.legal_aid_phone = phone.strip() or None
            where = f"{county.legal_aid_centre or '-'}\t{county.legal_aid_phone or '-'}"
            typer.echo(f"{county.league}{county.name}\t{where}")


# ------------------------------------------------------------------ Telegram


def _telegram_settings():  # type: ignore[no-untyped-def]
    settings = get_settings()
    if not settings.telegram_enabled:
        typer.echo("TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)", err=True)
        raise typer.Exit(1)
    return settings


@telegram_app.command("set-webhook")
def telegram_set_webhook(
    url: Annotated[str, typer.Argument(help="Public HTTPS address of this app, e.g. https://law.example.cn")],
) -> None:
    """Register POST <url>/telegram/webhook with Telegram, with TELEGRAM_WEBHOOK_SECRET."""
    import asyncio

    from telegram.error import TelegramError

    from bot import telegram

    settings = _telegram_settings()
    try:
        full = asyncio.run(telegram.set_webhook(settings, url))
    except (ValueError, TelegramError) as exc:
        typer.echo(f"set-webhook failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"webhook set: {full}")


@telegram_app.command("delete-webhook")
def telegram_delete_webhook() -> None:
    """Stop webhook delivery (needed before polling from another machine)."""
    import asyncio

    from bot import telegram

    asyncio.run(telegram.delete_webhook(_telegram_settings()))
    typer.echo("webhook deleted")


@telegram_app.command("set-commands")
def telegram_set_commands() -> None:
    """Refresh the Chinese command menu (also done at every start), e.g. after a lawyer binds."""
    import asyncio

    from bot import telegram

    count = asyncio.run(telegram.set_commands(_telegram_settings(), _factory()))
    typer.echo(f"command menu set; lawyer menu in {count} chats")


# ------------------------------------------------------------------ scheduler, duty calendar, compliance


def _instant(value: str) -> dt.datetime:
    """ISO time with offset (2026-12-01T18:00+08:00) or local naive → naive UTC."""
    from core.clock import to_utc

    try:
        return to_utc(dt.datetime.fromisoformat(value.strip()))
    except ValueError:
        raise typer.BadParameter(f"not an ISO time: {value!r} (e.g. 2026-12-01T18:00+08:00)") from None


@scheduler_app.command("run-once")
def scheduler_run_once(
    now: Annotated[str | None, typer.Option(help="Pass time, e.g. 2026-12-01T18:00+08:00 (default: now)")] = None,
    force: Annotated[bool, typer.Option("--force", help="Run even while another process holds the lease")] = False,
) -> None:
    """Run one scheduler pass (plan rules, duty reminders, ticket SLA, auto-close) and print what it did."""
    from scheduling import runner as sched

    _configure_logging()
    settings = get_settings()
    factory = _factory()
    at = _instant(now) if now else utcnow()
    worker = sched.SchedulerRunner(factory, settings, holder=f"cli:{sched.default_holder()}", clock=lambda: at)
    if not worker.acquire():
        from scheduling import lease

        state = lease.current(factory, name=lease.SCHEDULER_LEASE)
        holder = f"{state.holder} until {state.expires_at:%Y-%m-%d %H:%M:%S} UTC" if state else "another process"
        if not force:
            typer.echo(f"the scheduler lease is held by {holder}; it runs the passes. Use --force to run anyway.")
            raise typer.Exit(1)
        typer.echo(f"lease held by {holder}; running anyway (--force): every send is deduplicated")
    try:
        report = sched.run_pass(factory, settings, now=at)
    finally:
        worker.release()
    typer.echo(f"pass at {at:%Y-%m-%d %H:%M} UTC: {report.summary()}")
    for error in report.errors:
        typer.echo(f"ERROR {error}", err=True)
    if report.errors:
        raise typer.Exit(1)


@scheduler_app.command("status")
def scheduler_status() -> None:
    """Who holds the scheduler lease."""
    from scheduling import lease

    state = lease.current(_factory(), name=lease.SCHEDULER_LEASE)
    if state is None:
        typer.echo("no process holds the scheduler lease")
        return
    alive = "held" if state.expires_at > utcnow() else "expired"
    typer.echo(f"{alive} by {state.holder} until {state.expires_at:%Y-%m-%d %H:%M:%S} UTC")


@duty_app.command("rule-add")
def duty_rule_add(
    lawyer_id: int,
    village_code: str,
    rrule: Annotated[str, typer.Option(help="iCalendar RRULE, e.g. FREQ=MONTHLY;BYDAY=+2TU,+4TU")],
    start: Annotated[str, typer.Option(help="Local start time HH:MM")] = "09:00",
    hours: Annotated[float, typer.Option(help="Duration in hours")] = 4.0,
    place: Annotated[str, typer.Option(help="Default: the village's duty place")] = "",
    kind: Annotated[str, typer.Option(help="onsite, lecture or mediation")] = "onsite",
) -> None:
    """Add a recurring duty rule and plan its sessions ahead."""
    from core.models import Lawyer
    from handlers import directory
    from scheduling import calendar

    with transaction(_factory()) as session:
        lawyer = session.get(Lawyer, lawyer_id)
        village = directory.village_by_code(session, village_code)
        if lawyer is None or village is None:
            typer.echo("no such lawyer or village", err=True)
            raise typer.Exit(1)
        try:
            rule, planned = calendar.create_rule(
                session,
                settings=get_settings(),
                lawyer=lawyer,
                village=village,
                rrule=rrule,
                start_time=start,
                duration_minutes=round(hours * 60),
                place=place,
                kind=kind,
                now=utcnow(),
                actor="cli",
            )
        except calendar.CalendarError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        typer.echo(
            f"rule {rule.id}: {calendar.describe_rrule(rule.rrule)} {rule.start_time}, {planned} sessions planned"
        )


@duty_app.command("list")
def duty_list(
    month: Annotated[str, typer.Option(help="YYYY-MM (local)")],
    village_code: Annotated[str | None, typer.Option("--village", help="Village code")] = None,
) -> None:
    """Sessions of a month."""
    from core.clock import local_date_label, local_time_label
    from core.models import DutySession
    from handlers import directory
    from scheduling.compliance import local_bounds, parse_month

    try:
        year, mon = parse_month(month)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    start, end = local_bounds(year, mon)
    with _factory()() as session:
        query = select(DutySession).where(DutySession.starts_at >= start, DutySession.starts_at < end)
        if village_code:
            village = directory.village_by_code(session, village_code)
            if village is None:
                typer.echo("no such village", err=True)
                raise typer.Exit(1)
            query = query.where(DutySession.village_id == village.id)
        for d in session.scalars(query.order_by(DutySession.starts_at)):
            typer.echo(
                f"{d.id}\t{local_date_label(d.starts_at)} {local_time_label(d.starts_at)}–{local_time_label(d.ends_at)}"
                f"\t{d.village.name}\t{d.lawyer.name}\t{d.kind}\t{d.status}\tv{d.version}"
            )


@compliance_app.command("report")
def compliance_report(
    month: Annotated[str, typer.Option(help="YYYY-MM (local)")],
    county: Annotated[str | None, typer.Option(help="Only this 旗县 (name)")] = None,
    xlsx: Annotated[Path | None, typer.Option(help="Also write an Excel file here")] = None,
) -> None:
    """Per lawyer per village: on-site sessions and hours, online credit, lectures, half-days — red/amber/green."""
    from core.models import County, Township, Village
    from scheduling import compliance

    try:
        year, mon = compliance.parse_month(month)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    rules = compliance.Rules.from_settings(get_settings())
    with _factory()() as session:
        village_ids = None
        if county:
            village_ids = list(
                session.scalars(select(Village.id).join(Township).join(County).where(County.name == county))
            )
            if not village_ids:
                typer.echo(f"no villages in county {county!r}", err=True)
                raise typer.Exit(1)
        rows = compliance.report(session, rules, year=year, month=mon, now=utcnow(), village_ids=village_ids)
    typer.echo(compliance.to_text(rows, rules, year=year, month=mon))
    if xlsx is not None:
        xlsx.write_bytes(compliance.to_xlsx(rows, rules, year=year, month=mon))
        typer.echo(f"written {xlsx}")


worklog_app = typer.Typer(help="Work-log 台账 (一村一卷、一事一记)", no_args_is_help=True)
app.add_typer(worklog_app, name="worklog")


@worklog_app.command("export")
def worklog_export(
    village: Annotated[str, typer.Option(help="Village code")],
    year: Annotated[int, typer.Option(help="Calendar year")],
    out: Annotated[Path | None, typer.Option(help="Excel file to write")] = None,
) -> None:
    """Export one village's yearly work log as an Excel 台账."""
    from admin import worklog
    from handlers import directory

    with _factory()() as session:
        target = directory.village_by_code(session, village)
        if target is None:
            typer.echo(f"no village with code {village}", err=True)
            raise typer.Exit(1)
        content = worklog.build_workbook(session, target, year)
        count = len(worklog.entries(session, target.id, year))
    path = out or Path(f"worklog-{village}-{year}.xlsx")
    path.write_bytes(content)
    typer.echo(f"{count} entries → {path}")


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


@app.command("report")
def monthly_report(
    month: Annotated[str, typer.Option(help="YYYY-MM (local), or 2026-Q4 / 2026 for a quarter or a year")],
    county: Annotated[str | None, typer.Option(help="旗县 name or id (default: every county)")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Excel file to write (default: villagelaw-report-<month>[-<county>].xlsx)")
    ] = None,
) -> None:
    """The monthly statistics report as an Excel workbook: the same figures as the console's 统计报表."""
    from admin import figures, scope
    from core.models import AdminUser, AuditEvent, County

    settings = get_settings()
    now = utcnow()
    try:
        period = figures.parse_period(month, today=now.date())
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    with transaction(_factory()) as session:
        county_id = None
        if county:
            found = session.scalar(
                select(County).where((County.name == county.strip()) | (County.id == _as_int(county)))
            )
            if found is None:
                typer.echo(f"no county {county!r}", err=True)
                raise typer.Exit(1)
            county_id = found.id
        area = scope.area(session, AdminUser(username="cli", role="superadmin"), county_id=county_id)
        result = figures.compute(session, settings, period=period, area=area, now=now)
        target = out or Path(f"villagelaw-report-{period.key}{'-' + area.label if county_id else ''}.xlsx")
        target.write_bytes(figures.to_workbook(result))
        session.add(AuditEvent(at=now, actor="cli", action="report_exported", target=str(target.name)[:120],
                               detail=f"{period.key} {area.label}"))  # fmt: skip
    summary = result.summary
    typer.echo(
        f"{period.label} {area.label}: 咨询{summary['consultations']}，知识库直接答复{summary['kb_share']}，"
        f"转律师{summary['lawyer_share']}，工单{summary['tickets']}，平均满意度{summary['rating_average']}"
    )
    typer.echo(f"written {target}")


def _as_int(value: str) -> int:
    return int(value) if value.strip().isdigit() else -1


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
