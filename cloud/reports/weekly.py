"""Weekly e-mail reports: every Monday at 09:00 in the tenant's time zone, each head-office user whose role
reads reports gets last week's Sending figures and their stores' table, in their own scope, through the
tenant's delivery e-mail channel (its SMTP settings), with a link to the dashboard.

Two jobs on cloud/jobs: `reports.weekly_plan` (hourly) schedules one `reports.weekly_send` per tenant for
the next Monday 09:00; the send job's lock names the tenant and the week, so planning again while it waits
adds nothing, and after it ran the next Monday is a week later. A tenant without an enabled e-mail channel
gets nothing (logged). No table of its own: who receives it follows from users and roles.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cloud.accounts.models import Tenant, User
from cloud.accounts.roles import Permission, Role
from cloud.accounts.scope import resolve
from cloud.accounts.users import masked, scope_of
from cloud.delivery import config as delivery_config
from cloud.delivery.cascade import Channel
from cloud.delivery.channels.base import Message
from cloud.delivery.channels.email import EmailChannel, EmailSettings
from cloud.jobs import Job, JobArgs
from cloud.logs import event
from cloud.reports.filters import DEFAULT_TIME_ZONE, Filters
from cloud.reports.scope import Viewer, stores_in_view
from cloud.reports.sending import sending
from cloud.reports.tables import Dashboard, format_value, page_of
from cloud.web.templating import environment

log = logging.getLogger("cloud.reports")
WEEKLY_PLAN = Job("reports.weekly_plan", every_s=3600)
WEEKLY_SEND = Job("reports.weekly_send", lock_by="key", max_attempts=4, retry_base_s=60)
SEND_AT = time(9, 0)  # Monday, the tenant's local time
STORE_ROWS = 20


def next_send(now: datetime, time_zone: str = DEFAULT_TIME_ZONE) -> datetime:
    """The first Monday 09:00 local strictly after `now`, in UTC."""
    zone = ZoneInfo(time_zone)
    local = now.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    at = datetime.combine(monday, SEND_AT, zone)
    if at <= local:
        at = datetime.combine(monday + timedelta(days=7), SEND_AT, zone)
    return at.astimezone(UTC)


def last_week(send_at: datetime, time_zone: str = DEFAULT_TIME_ZONE) -> tuple[date, date]:
    """Monday to Sunday of the week before the send's Monday."""
    monday = send_at.astimezone(ZoneInfo(time_zone)).date()
    monday -= timedelta(days=monday.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


def week_key(tenant_id: int, send_at: datetime) -> str:
    year, week, _ = send_at.astimezone(ZoneInfo(DEFAULT_TIME_ZONE)).isocalendar()
    return f"{tenant_id}:{year}-W{week:02d}"


@dataclass(frozen=True, slots=True)
class Letter:
    subject: str
    text: str
    html: str
    link: str


def compose(dashboard: Dashboard, filters: Filters, public_url: str, tenant: str, scope: str) -> Letter:
    """The letter for one user: the figures, their stores' table (the first rows by receipts), the link."""
    link = f"{public_url.rstrip('/')}/reports/sending?{filters.filter_query()}"
    stores = dashboard.table("stores")
    rows = page_of(stores, "receipts", True, 1, size=STORE_ROWS) if stores else None
    period = f"{filters.since:%d.%m.%Y} — {filters.until:%d.%m.%Y}"
    subject = f"echeck: отправка чеков за неделю {period}"
    lines = [f"{tenant}: отправка чеков за {period} ({scope}).", ""]
    lines += [f"{f.label}: {format_value(f.value, f.kind)}" for f in dashboard.figures]
    if rows and stores:
        lines += ["", "Магазины:"]
        lines += [
            f"- {r['store']}: чеков {format_value(r['receipts'], stores.columns[2].kind)}, "
            f"с контактом {format_value(r['capture'], stores.columns[4].kind)}"
            for r in rows.rows
        ]
    lines += ["", f"Отчёт целиком: {link}"]
    html = (
        environment()
        .get_template("reports/weekly_email.html")
        .render(
            dashboard=dashboard,
            period=period,
            tenant=tenant,
            scope=scope,
            stores=stores,
            rows=rows,
            link=link,
            fmt=format_value,
        )
    )
    return Letter(subject, "\n".join(lines), html, link)


class WeeklyReports:
    """The two jobs' handlers (bound in cloud/bootstrap.py)."""

    def __init__(self, engine: Engine, public_url: str, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.public_url = public_url
        self.clock = clock

    def plan(self, args: JobArgs) -> None:
        at = next_send(self.clock())
        with Session(self.engine) as session:
            tenants = [t for t in session.exec(select(Tenant.id)) if t is not None]
            WEEKLY_SEND.schedule_new(session, [{"tenant_id": t, "key": week_key(t, at)} for t in tenants], at)
            session.commit()

    def send(self, args: JobArgs) -> None:
        tenant_id = int(args["tenant_id"])
        now = self.clock()
        since, until = last_week(now)
        filters = Filters(since=since, until=until)
        with Session(self.engine) as session:
            delivery = delivery_config.load(session, tenant_id)
            settings = delivery.channels.get(Channel.EMAIL)
            if settings is None:
                event(log, logging.INFO, "reports.weekly.no_email_channel", tenant_id=tenant_id)
                return
            channel = EmailChannel(EmailSettings.model_validate(settings), price=0)
            people = session.exec(
                select(User).where(User.tenant_id == tenant_id, col(User.disabled_at).is_(None))
            ).all()
            for user in people:
                if not Role(user.role).allows(Permission.REPORTS):
                    continue
                scope = scope_of(user)
                viewer = Viewer(tenant_id, resolve(session, tenant_id, scope))
                dashboard = sending(session, stores_in_view(session, viewer, filters), filters)
                letter = compose(dashboard, filters, self.public_url, delivery.tenant_name, scope.describe())
                channel.send(
                    Message(
                        to=user.email,
                        subject=letter.subject,
                        text=letter.text,
                        html=letter.html,
                        link=letter.link,
                        reference=f"rw{tenant_id}u{user.id}w{since:%Y%m%d}",
                    )
                )
                event(log, logging.INFO, "reports.weekly.sent", tenant_id=tenant_id, to=masked(user.email))
