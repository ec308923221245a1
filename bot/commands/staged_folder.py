"""A report folder that is either finished or not there: files are written into `OUT/.incomplete/` and moved
into OUT only once all of them are written, so a Ctrl-C (or a kill) never leaves a folder that looks finished.

`in_thread` is `asyncio.to_thread` for writers: when the command is cancelled (asyncio turns Ctrl-C into a
cancellation of the main task) it lets the thread finish before passing the cancellation on, so no thread
writes into the staging folder after it was cleaned up.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

STAGING = ".incomplete"


async def in_thread[T](fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    future = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


def _publish(staging: Path, out: Path) -> None:
    # plain renames, no await in between: a cancellation cannot land inside; run.json last, as the seal
    names = sorted(p.name for p in staging.iterdir())
    names.sort(key=lambda name: name == "run.json")
    for name in names:
        os.replace(staging / name, out / name)
    staging.rmdir()


@asynccontextmanager
async def staged_folder(out: Path) -> AsyncIterator[Path]:
    """Yields the staging folder; on success its files replace those in `out`, on any failure or
    cancellation it is removed and `out` is left as it was."""
    staging = out / STAGING
    await in_thread(shutil.rmtree, staging, True)  # left over by a killed run
    await in_thread(staging.mkdir, parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # small; done before anything else can run
        raise
    _publish(staging, out)
