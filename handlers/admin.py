"""Admin commands (DESIGN §4.7). Gated once, at router level, by the sender's user id.

Handlers are thin: parse, call one ControlService method, render, answer. A `UserInputError` from the
service travels to the error router, which replies with its message (what is wrong, what is allowed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.telegram import reply_format as fmt
from bot.telegram.leaderboard_format import leaderboard_text
from bot.telegram.scan_format import scan_text
from core.errors import UserInputError
from core.evaluation.leaderboard import LeaderboardService
from core.services.coin_hunter import MAX_TOP, CoinHunter
from core.services.control import Confirmation, ControlService
from handlers.filters import IsAdmin, actor_of

PulseTrigger = Callable[[], Awaitable[object]]

CONFIRM_PREFIX = "cf:"
CANCEL_PREFIX = "cx:"


def confirmation_keyboard(confirmation: Confirmation) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="✅ Confirm", callback_data=CONFIRM_PREFIX + confirmation.token),
                InlineKeyboardButton(text="✖ Cancel", callback_data=CANCEL_PREFIX + confirmation.token),
            ]
        ]
    )


def build_admin_router() -> Router:
    router = Router(name="admin")
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())

    @router.message(Command("leaderboard"))
    async def leaderboard(message: Message, leaderboard: LeaderboardService) -> None:
        await message.answer(leaderboard_text(await leaderboard.board()))

    @router.message(Command("scan"))
    async def scan(message: Message, command: CommandObject, hunter: CoinHunter) -> None:
        arg = (command.args or "").strip()
        if arg and not (arg.isdecimal() and 1 <= int(arg) <= MAX_TOP):
            raise UserInputError(f"/scan takes how many markets to show, 1 to {MAX_TOP}, got {arg[:20]!r}")
        result = await hunter.scan(int(arg) if arg else 10)
        await message.answer(scan_text(result, hunter.filters))

    @router.message(Command("status"))
    async def status(message: Message, control: ControlService) -> None:
        await message.answer(fmt.status_text(await control.status()))

    @router.message(Command("pause"))
    async def pause(message: Message, command: CommandObject, control: ControlService) -> None:
        state = await control.pause(actor_of(message), command.args or "")
        await message.answer(fmt.state_changed_text("Paused: no new entries until /resume.", state))

    @router.message(Command("resume"))
    async def resume(message: Message, control: ControlService) -> None:
        state = await control.resume(actor_of(message))
        await message.answer(fmt.state_changed_text("Resumed: new entries allowed.", state))

    @router.message(Command("leverage"))
    async def leverage(message: Message, command: CommandObject, control: ControlService) -> None:
        if not command.args:
            limits = await control.risk()
            await message.answer(fmt.leverage_text(await control.state(), limits.hard_max_leverage))
            return
        state = await control.set_leverage(actor_of(message), command.args)
        await message.answer(fmt.state_changed_text(f"Max leverage set to {state.max_leverage}.", state))

    @router.message(Command("symbols"))
    async def symbols(message: Message, command: CommandObject, control: ControlService) -> None:
        words = (command.args or "").split()
        if not words:
            await message.answer(fmt.symbols_text(await control.state()))
            return
        verb, names = words[0].lower(), [w.strip(",") for w in words[1:]]
        if verb == "add":
            state = await control.add_symbols(actor_of(message), names)
        elif verb == "remove":
            state = await control.remove_symbols(actor_of(message), names)
        else:
            raise UserInputError(f"/symbols takes add or remove followed by symbols, got {verb!r}")
        await message.answer(fmt.state_changed_text("Symbols updated.", state))

    @router.message(Command("dryrun"))
    async def dry_run(message: Message, command: CommandObject, control: ControlService) -> None:
        arg = (command.args or "").strip().lower()
        if not arg:
            await message.answer(fmt.dry_run_text(await control.state()))
        elif arg == "on":
            state = await control.set_dry_run(actor_of(message), True)
            await message.answer(fmt.state_changed_text("Dry-run is on: paper trading.", state))
        elif arg == "off":
            confirmation = await control.request_confirmation(actor_of(message), "live")
            await message.answer(
                fmt.confirmation_prompt(confirmation), reply_markup=confirmation_keyboard(confirmation)
            )
        else:
            raise UserInputError(f"/dryrun takes on or off, got {arg!r}")

    @router.message(Command("positions"))
    async def positions(message: Message, control: ControlService) -> None:
        await message.answer(fmt.positions_text(await control.position_views()))

    @router.message(Command("close"))
    async def close(message: Message, command: CommandObject, control: ControlService) -> None:
        if not command.args or len(command.args.split()) != 1:
            raise UserInputError("/close takes exactly one symbol of an open position, e.g. /close BTC/USDT:USDT")
        events = await control.close_position(actor_of(message), command.args.strip())
        closed = events[0].symbol if events else command.args.strip()  # as the service normalised it
        await message.answer(fmt.events_text(f"Closed {closed}", events))

    @router.message(Command("closeall"))
    async def close_all(message: Message, control: ControlService) -> None:
        confirmation = await control.request_confirmation(actor_of(message), "closeall")
        await message.answer(fmt.confirmation_prompt(confirmation), reply_markup=confirmation_keyboard(confirmation))

    @router.message(Command("cycle"))
    async def cycle(message: Message, control: ControlService) -> None:
        await message.answer(fmt.cycle_text(await control.run_cycle_now(actor_of(message))))

    @router.message(Command("pulse"))
    async def pulse(message: Message, pulse_now: PulseTrigger) -> None:
        await pulse_now()
        await message.answer("✅ Market Pulse queued for the channel.")

    @router.message(Command("risk"))
    async def risk(message: Message, control: ControlService) -> None:
        await message.answer(fmt.risk_text(await control.risk(), await control.state()))

    @router.message(Command("audit"))
    async def audit(message: Message, command: CommandObject, control: ControlService) -> None:
        arg = (command.args or "").strip()
        if arg and (not arg.isdecimal() or len(arg) > 6):  # isdigit() admits "²"; int() refuses 4,300+ digits
            raise UserInputError(f"/audit takes an optional count from 1 to 200, got {arg!r}")
        await message.answer(fmt.audit_text(await control.audit(int(arg) if arg else 20)))

    @router.callback_query(F.data.startswith(CONFIRM_PREFIX))
    async def confirm(query: CallbackQuery, control: ControlService) -> None:
        token = (query.data or "").removeprefix(CONFIRM_PREFIX)
        try:
            result = await control.confirm(actor_of(query), token)
        except UserInputError as error:
            await query.answer(str(error)[:200], show_alert=True)
            return
        await query.answer("Done")
        if isinstance(query.message, Message):
            await query.message.edit_text(f"✅ {escape(result)}")

    @router.callback_query(F.data.startswith(CANCEL_PREFIX))
    async def cancel(query: CallbackQuery, control: ControlService) -> None:
        try:
            await control.cancel_confirmation(actor_of(query), (query.data or "").removeprefix(CANCEL_PREFIX))
        except UserInputError as error:
            await query.answer(str(error)[:200], show_alert=True)
            return
        await query.answer("Cancelled")
        if isinstance(query.message, Message):
            await query.message.edit_text("✖ Cancelled; nothing was changed.")

    return router
