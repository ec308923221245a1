"""bot/reports/raster.py: ticks a person can read, shapes where the data puts them, and no matplotlib on the way."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from bot.reports.raster import SCALE, Canvas, Panel, date_ticks, encode_png, number_labels, number_ticks, rgba

ROOT = Path(__file__).resolve().parents[3]


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_number_ticks_are_round_and_inside_the_range() -> None:
    assert number_ticks(9_100, 28_900) == [10_000, 15_000, 20_000, 25_000]
    assert number_ticks(9_100, 28_900, target=9) == [10_000, 12_500, 15_000, 17_500, 20_000, 22_500, 25_000, 27_500]
    assert number_ticks(-31.2, 1.5, target=4) == [-30, -20, -10, 0]
    assert number_labels([-30, -20, -10, 0]) == ["\u221230", "\u221220", "\u221210", "0"]
    assert number_labels([0.0, 0.25, 0.5]) == ["0.00", "0.25", "0.50"]
    assert number_labels(number_ticks(0, 1)) == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]


def test_date_ticks_follow_the_calendar() -> None:
    ticks, labels = date_ticks(ms(2022, 12, 20), ms(2024, 6, 3))
    assert labels == ["2023", "Mar", "May", "Jul", "Sep", "Nov", "2024", "Mar", "May"]
    assert ticks[0] == ms(2023, 1, 1) and ticks[-1] == ms(2024, 5, 1)
    ticks, labels = date_ticks(ms(2024, 3, 1, 20), ms(2024, 3, 3, 2))
    assert labels == ["Mar 02", "06:00", "12:00", "18:00", "Mar 03"] and ticks[0] == ms(2024, 3, 2)
    _, labels = date_ticks(ms(2019, 1, 1), ms(2024, 6, 1))
    assert labels == ["2019", "2020", "2021", "2022", "2023", "2024"]


def test_a_line_and_a_fill_land_where_the_data_puts_them() -> None:
    canvas = Canvas(200, 100)
    ax = Panel(canvas, (0, 0, 200 * SCALE, 100 * SCALE), (0.0, 10.0), (-10.0, 10.0))
    ax.plot(np.array([0.0, 10.0]), np.array([5.0, 5.0]), "#1f77b4", 2.0)  # y = 5: a quarter from the top
    ax.fill_to_zero(np.arange(0, 11, dtype=float), np.full(11, -10.0), "#d62728", 1.0)  # the lower half, red
    image = np.asarray(Image.open(io.BytesIO(canvas.png())).convert("RGB")).astype(int)
    assert image.shape == (100, 200, 3)
    blue, red = np.array(rgba("#1f77b4")[:3]), np.array(rgba("#d62728")[:3])
    assert np.abs(image[25, 100] - blue).sum() < 60  # on the line
    assert np.abs(image[10, 100] - 255).sum() == 0 and np.abs(image[40, 100] - 255).sum() == 0  # off it: white
    assert np.abs(image[75, 100] - red).sum() < 10 and np.abs(image[95, 5] - red).sum() < 10


def test_the_png_writer_round_trips_through_pillow() -> None:
    pixels = np.random.default_rng(3).integers(0, 256, (7, 11, 3), dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(pixels))).convert("RGB"))
    assert np.array_equal(decoded, pixels)


def test_every_marker_shape_is_drawn_centred_on_its_point() -> None:
    for marker in "^vosDX":
        canvas = Canvas(40, 40)
        canvas.markers([20 * SCALE], [20 * SCALE], marker, "#000000", 10)
        image = np.asarray(Image.open(io.BytesIO(canvas.png())).convert("L"))
        dark = np.argwhere(image < 128)
        assert len(dark) > 20, marker
        centre = (dark.min(axis=0) + dark.max(axis=0)) / 2  # of its bounding box, as matplotlib places them
        assert np.all(np.abs(centre - 19.5) <= 1), (marker, centre)


def test_the_replay_report_path_imports_no_matplotlib() -> None:
    """matplotlib's import alone took 0.25 CPU-s of every `aitrader replay` and `compare` (#18)."""
    code = ("import sys, bot.commands.replay_cmd, bot.commands.replay_folder, bot.commands.compare_cmd, "
            "bot.reports.report_chart, bot.reports.tearsheet, bot.reports.compare_chart; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
