"""The admins' freqtrade-style reports (DESIGN §4.7): /balance, /profit [days], /performance, /daily [n],
/weekly [n], /monthly [n], /trades [n], /count, /version, /health, /logs [n], /show_config, /reload_config and
/stopentry.

Gated by the sender's user id like the admin router. Thin: parse, one call, render. A bad argument is a
UserInputError, answered by the error router with what is allowed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.telegram import ledger_format as fmt
from bot.telegram import reply_format
from core.errors import UserInputError
from core.services.control import ControlService
from core.services.ledger import LedgerReports
from handlers.filters import IsAdmin, actor_of

ConfigView = Callable[[], Mapping[str, str]]
HealthView = Callable[[], Awaitable[str]]
LogsView = Callable[[int], list[str]]
VersionView = Callable[[], str]
ReloadView = Callable[[str], Awaitable[str]]


def build_admin_reports_router() -> Router:
    router = Router(name="admin_reports")
    router.message.filter(IsAdmin())

    @router.message(Command("balance"))
    async def balance(message: Message, reports: LedgerReports) -> None:
        await message.answer(fmt.balance_text(await reports.balance()))

    @router.message(Command("profit"))
    async def profit(message: Message, command: CommandObject, reports: LedgerReports) -> None:
        await message.answer(fmt.profit_text(await reports.profit(command.args)))

    @router.message(Command("performance"))
    async def performance(message: Message, reports: LedgerReports) -> None:
        await message.answer(fmt.performance_text(await reports.performance()))

    @router.message(Command("daily", "weekly", "monthly"))
    async def periods(message: Message, command: CommandObject, reports: LedgerReports) -> None:
        period = command.command.lower()
        assert period in ("daily", "weekly", "monthly")
        await message.answer(fmt.periods_text(period, await reports.periods(period, command.args)))  # type: ignore[arg-type]

    @router.message(Command("trades"))
    async def trades(message: Message, command: CommandObject, reports: LedgerReports) -> None:
        await message.answer(fmt.trades_text(await reports.trades(command.args)))

    @router.message(Command("count"))
    async def count(message: Message, reports: LedgerReports, control: ControlService) -> None:
        open_count, symbols = await reports.count()
        await message.answer(fmt.count_text(open_count, symbols, (await control.risk()).max_open_positions))

    @router.message(Command("version"))
    async def version(message: Message, version_view: VersionView) -> None:
        await message.answer(version_view())

    @router.message(Command("health"))
    async def health(message: Message, health_view: HealthView) -> None:
        await message.answer(await health_view())

    @router.message(Command("logs"))
    async def logs(message: Message, command: CommandObject, logs_view: LogsView) -> None:
        arg = (command.args or "").strip()
        if arg and (not arg.isdecimal() or not 1 <= int(arg) <= 100):
            raise UserInputError(f"/logs takes an optional count from 1 to 100, got {arg!r}")
        await message.answer(fmt.logs_text(logs_view(int(arg) if arg else 20)))

    @router.message(Command("show_config"))
    async def show_config(message: Message, config_view: ConfigView) -> None:
        await message.answer(fmt.config_text(config_view()))

    @router.message(Command("reload_config"))
    async def reload_config(message: Message, reload_view: ReloadView) -> None:
        await message.answer(await reload_view(actor_of(message)))

    @router.message(Command("stopentry"))
    async def stop_entry(message: Message, command: CommandObject, control: ControlService) -> None:
        state = await control.pause(actor_of(message), command.args or "stopentry")
        await message.answer(reply_format.state_changed_text(
            "No new entries until /resume. Open positions are still managed (stops, targets, trailing).", state
        ))

    return router
