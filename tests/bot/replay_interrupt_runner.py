"""Helper process for test_replay_interrupt: `aitrader replay …` with a marker file touched at a chosen point,
so the test knows when to send its SIGINT.

usage: python -m tests.bot.replay_interrupt_runner loop|after MARKER replay ARGS…
  loop:  MARKER appears once the replay loop has done 1,000 bars (the loop goes on)
  after: MARKER appears when the loop is over and report.png is being drawn (which then takes 3 s more)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any


def main() -> None:
    mode, marker = sys.argv[1], Path(sys.argv[2])
    if mode == "loop":
        import core.evaluation.replay as replay

        real = replay.run_replay_cycle

        async def marked(*args: Any, progress: Any = None, **kwargs: Any) -> Any:
            def on_progress(done: int, total: int) -> None:
                if progress is not None:
                    progress(done, total)
                if done >= 1_000 and not marker.exists():
                    marker.touch()

            return await real(*args, progress=on_progress, **kwargs)

        replay.run_replay_cycle = marked
    else:
        import bot.reports.report_chart as chart

        draw = chart.render_report_chart

        def slow(*args: Any, **kwargs: Any) -> Any:
            marker.touch()
            time.sleep(3)
            return draw(*args, **kwargs)

        chart.render_report_chart = slow
    from bot.cli import main as cli

    sys.argv = ["aitrader", *sys.argv[3:]]
    cli()


if __name__ == "__main__":
    main()
