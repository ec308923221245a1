"""The one audited path that changes runtime state (paused, dry-run, leverage cap, symbols), shared by the
control service (people) and the trading cycle (the system actor: kill-switch, daily-loss breaker), and
the key under which the cycle records its last run. Below both, so neither imports the other for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from core.models import AuditEntry, RuntimeState
from core.protocols import Clock, StateStore

LAST_CYCLE_KEY = "last_cycle_at"
DATA_WARNING_KEY = "data_warning"  # why the last cycle could enter nothing on its data ("" when fit)


def _describe(state: RuntimeState, attr: str) -> str:
    value = getattr(state, attr)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


async def change_state(
    store: StateStore,
    defaults: RuntimeState,
    clock: Clock,
    actor: str,
    action: str,
    derive: Callable[[RuntimeState], Mapping[str, object]] | None = None,
    **changes: object,
) -> RuntimeState:
    """Load, change, save and audit runtime state — the one path for people and for the system actor
    (kill-switch, daily-loss breaker), one change at a time (`store.changing()`). `derive` computes changes
    from the current state (a symbol edit) and may refuse with UserInputError; nothing is saved then. A
    change that changes nothing is not audited."""
    async with store.changing():
        old = await store.load_state(defaults)
        if derive is not None:
            changes = {**changes, **derive(old)}
        new = replace(old, **changes)  # type: ignore[arg-type]
        if new == old:
            return old
        await store.save_state(new)
        changed = [name for name in ("paused", "dry_run", "max_leverage", "symbols", "pause_reason")
                   if getattr(old, name) != getattr(new, name)]
        await store.append_audit(
            AuditEntry(
                at=clock.now(),
                actor=actor,
                action=action,
                old="; ".join(f"{n}={_describe(old, n)}" for n in changed),
                new="; ".join(f"{n}={_describe(new, n)}" for n in changed),
            )
        )
    return new
