"""Charts drawn straight onto a Pillow picture: the canvas and the axes panel the replay's pictures are made of.

Why not matplotlib here: on the README replay it cost ~1.1 CPU-s per run (0.26 s importing it, 0.4 s report.png,
0.45 s the tearsheet's charts), about as long as the replay itself, and most of it went into its general machinery
(layout solver, text layout per artist, tick objects). These pictures need lines, fills, markers, date and number
ticks, labels and legends, which Pillow (already installed with matplotlib) draws in C. Everything is drawn at
SCALE× and reduced with a box filter, which is the antialiasing; text goes through FreeType with matplotlib's
DejaVu Sans, so the pictures keep the fonts they had. Sizes are matplotlib's: points at DPI pixels per inch.
"""

from __future__ import annotations

import importlib.util
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SCALE = 2
DPI = 100
TEXT = "#222222"
FRAME = "#000000"
MINUS = "\u2212"  # matplotlib's minus sign in tick labels


def pt(points: float) -> float:
    """Points → pixels of the drawing (SCALE× the final picture)."""
    return points * DPI / 72 * SCALE


@lru_cache(maxsize=1)
def _font_file() -> str | None:
    spec = importlib.util.find_spec("matplotlib")  # finds the package without importing it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if path.exists():
            return str(path)
    for path in (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),):
        if path.exists():
            return str(path)
    return None


@lru_cache(maxsize=32)
def font(size_pt: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    size = max(1, round(pt(size_pt)))
    path = _font_file()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size)


@lru_cache(maxsize=256)
def rgba(colour: str, alpha: float = 1.0) -> tuple[int, int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16), round(255 * alpha)


class Canvas:
    """A white picture of `width` × `height` final pixels; coordinates are drawing pixels (SCALE×)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width * SCALE, height * SCALE
        self.image = Image.new("RGB", (self.width, self.height), "white")
        self.draw = ImageDraw.Draw(self.image, "RGBA")

    def text_width(self, text: str, size: float) -> float:
        return float(font(size).getlength(text))

    def text(self, x: float, y: float, text: str, size: float = 10, colour: str = TEXT, anchor: str = "la",
             *, rotate: bool = False) -> None:
        """`anchor` as Pillow's (l/m/r then a/t/m/s/b/d); `rotate` turns the text a quarter left (y labels),
        anchored at its middle."""
        if not text:
            return
        face = font(size)
        if not rotate:
            self.draw.text((x, y), text, font=face, fill=rgba(colour), anchor=anchor)
            return
        left, top, right, bottom = face.getbbox(text, anchor="ls")
        stamp = Image.new("L", (int(right - left) + 2, int(bottom - top) + 2), 0)
        ImageDraw.Draw(stamp).text((-left + 1, -top + 1), text, font=face, fill=255, anchor="ls")
        stamp = stamp.transpose(Image.Transpose.ROTATE_90)
        x0, y0 = int(x - stamp.width / 2), int(y - stamp.height / 2)
        self.image.paste(rgba(colour)[:3], (x0, y0, x0 + stamp.width, y0 + stamp.height), stamp)

    def line(self, xs: np.ndarray, ys: np.ndarray, colour: str, width: float, alpha: float = 1.0,
             dash: tuple[float, float] | None = None) -> None:
        """A polyline through the points; `width` and `dash` (on, off) in points."""
        if len(xs) < 2:
            return
        w = max(1, round(pt(width)))
        fill = rgba(colour, alpha)
        if dash is None:
            self.draw.line(np.column_stack([xs, ys]).ravel().tolist(), fill=fill, width=w)
            return
        for x0, y0, x1, y1 in zip(xs[:-1], ys[:-1], xs[1:], ys[1:], strict=True):
            for piece in _dashed(float(x0), float(y0), float(x1), float(y1), pt(dash[0]), pt(dash[1])):
                self.draw.line(piece, fill=fill, width=w)

    def segments(self, segs: Sequence[tuple[float, float, float, float]], colour: str, width: float,
                 alpha: float = 1.0, dash: tuple[float, float] | None = None) -> None:
        for x0, y0, x1, y1 in segs:
            self.line(np.array([x0, x1]), np.array([y0, y1]), colour, width, alpha, dash)

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: str | None = None, alpha: float = 1.0,
             edge: str | None = None, edge_width: float = 0.8, edge_alpha: float = 1.0) -> None:
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        self.draw.rectangle(box, fill=rgba(fill, alpha) if fill else None,
                            outline=rgba(edge, edge_alpha) if edge else None,
                            width=max(1, round(pt(edge_width))) if edge else 0)

    def markers(self, xs: Sequence[float], ys: Sequence[float], marker: str, colour: str, size: float) -> None:
        """matplotlib's marker shapes ^ v o s D X; `size` is the marker's width in points (scatter's s = size²),
        drawn with matplotlib's edge of 1.5 points in the same colour."""
        r = pt(size + 1.5) / 2
        fill = rgba(colour)
        d = self.draw
        for x, y in zip(xs, ys, strict=True):
            if marker in "^v":
                # matplotlib's triangle is inscribed in the marker square, its centroid off the middle
                tip, base = (y - r, y + r) if marker == "^" else (y + r, y - r)
                d.polygon([(x, tip), (x - r, base), (x + r, base)], fill=fill)
            elif marker == "o":
                d.ellipse((x - r, y - r, x + r, y + r), fill=fill)
            elif marker == "s":
                d.rectangle((x - r * 0.85, y - r * 0.85, x + r * 0.85, y + r * 0.85), fill=fill)
            elif marker == "D":
                d.polygon([(x, y - r), (x + r, y), (x, y + r), (x - r, y)], fill=fill)
            else:  # "X": a filled cross
                a, b = r, r * 0.4
                d.polygon([(x - a, y - a + b), (x - a + b, y - a), (x, y - b), (x + a - b, y - a), (x + a, y - a + b),
                           (x + b, y), (x + a, y + a - b), (x + a - b, y + a), (x, y + b), (x - a + b, y + a),
                           (x - a, y + a - b), (x - b, y)], fill=fill)

    def png(self) -> bytes:
        return encode_png(np.asarray(self.image.reduce(SCALE)))

    def save(self, path: Path) -> Path:
        path.write_bytes(self.png())
        return path


def encode_png(pixels: np.ndarray, level: int = 3) -> bytes:
    """An 8-bit RGB PNG of an (h, w, 3) array: rows unfiltered, one zlib stream. Pillow's writer filters every
    row adaptively: 44 ms for report.png against 9.5 ms here at level 3 (174 KB against 158 KB)."""
    h, w, _ = pixels.shape
    raw = np.zeros((h, w * 3 + 1), dtype=np.uint8)  # each row starts with its filter type, 0 = none
    raw[:, 1:] = pixels.reshape(h, w * 3)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8 bits, truecolour, deflate, no filter method, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw.tobytes(), level))
            + chunk(b"IEND", b""))


def _dashed(x0: float, y0: float, x1: float, y1: float, on: float, off: float) -> list[list[float]]:
    length = math.hypot(x1 - x0, y1 - y0)
    if length == 0:
        return []
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    pieces, s = [], 0.0
    while s < length:
        e = min(s + on, length)
        pieces.append([x0 + ux * s, y0 + uy * s, x0 + ux * e, y0 + uy * e])
        s = e + off
    return pieces


# ---- ticks ------------------------------------------------------------------------------------------------------

def number_ticks(low: float, high: float, target: int = 6) -> list[float]:
    """Round numbers (1, 2, 2.5, 5 × 10^k steps) inside [low, high], about `target` of them."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / max(target, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + k * step, 12) for k in range(int((high - first) / step + 1e-9) + 1)]


def tick_count(length: float, axis: str = "y") -> int:
    """How many ticks matplotlib's MaxNLocator would aim for on an axis `length` drawing pixels long: one per
    20 points of height (30 of width), 2 to 9."""
    return max(2, min(9, int(length / pt(20 if axis == "y" else 30))))


def number_labels(ticks: Sequence[float]) -> list[str]:
    if len(ticks) < 2:
        return [_number(t, 2) for t in ticks]
    step = abs(ticks[1] - ticks[0])
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step else 0
    if step and abs(round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6:
        decimals += 1  # 2.5, 0.25, …
    return [_number(t, decimals) for t in ticks]


def _number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace("-", MINUS)


_HOUR = 3_600_000
_DAY = 24 * _HOUR


def date_ticks(low_ms: int, high_ms: int, target: int = 9) -> tuple[list[int], list[str]]:
    """Calendar-aligned ticks (hours, days, months or years) and short labels in the style of matplotlib's
    ConciseDateFormatter: `Mar`, with the year where it turns (`2024`); `Mar 05`; `06:00`, with the day at 00:00."""
    span = max(high_ms - low_ms, 1)
    for months in (1, 2, 3, 4, 6, 12, 24, 60):
        if span / (months * 30.44 * _DAY) <= target:
            break
    else:
        months = 120
    if span / (30.44 * _DAY) >= 2.5:  # months and years
        start = np.datetime64(int(low_ms), "ms").astype("datetime64[M]")
        stop = np.datetime64(int(high_ms), "ms").astype("datetime64[M]") + 1
        moments = np.arange(start, stop, 1)
        moments = moments[(moments.astype(int) % months) == 0]
        ticks = [int(m.astype("datetime64[ms]").astype(np.int64)) for m in moments]
        ticks = [t for t in ticks if low_ms <= t <= high_ms]
        labels = []
        for t in ticks:
            moment = datetime.fromtimestamp(t / 1000, UTC)
            labels.append(f"{moment:%Y}" if moment.month == 1 or months >= 12 else f"{moment:%b}")
        return ticks, labels
    for step in (_HOUR, 2 * _HOUR, 3 * _HOUR, 6 * _HOUR, 12 * _HOUR, _DAY, 2 * _DAY, 7 * _DAY, 14 * _DAY):
        if span / step <= target:
            break
    first = -(-low_ms // step) * step
    ticks = list(range(int(first), int(high_ms) + 1, int(step)))
    labels = []
    for t in ticks:
        moment = datetime.fromtimestamp(t / 1000, UTC)
        if step >= _DAY or (moment.hour == 0 and moment.minute == 0):
            labels.append(f"{moment:%b %d}" if moment.month != 1 or moment.day != 1 else f"{moment:%Y}")
        else:
            labels.append(f"{moment:%H:%M}")
    return ticks, labels


# ---- panels ----------------------------------------------------------------------------------------------------

@dataclass
class Entry:
    """One legend entry: a line sample (`line`), a marker (`marker`) or a filled patch (`patch`)."""

    label: str
    colour: str
    kind: str = "line"  # line | marker | patch
    marker: str = ""
    width: float = 1.5
    alpha: float = 1.0
    dash: tuple[float, float] | None = None


class Panel:
    """One axes: data limits mapped onto the box (left, top, right, bottom) in drawing pixels."""

    def __init__(self, canvas: Canvas, box: tuple[float, float, float, float], xlim: tuple[float, float],
                 ylim: tuple[float, float]) -> None:
        self.c = canvas
        self.left, self.top, self.right, self.bottom = box
        self.x0, self.x1 = xlim if xlim[1] != xlim[0] else (xlim[0] - 0.5, xlim[0] + 0.5)
        self.y0, self.y1 = ylim if ylim[1] != ylim[0] else (ylim[0] - 0.5, ylim[0] + 0.5)  # y1 < y0: upside down

    def x(self, values: np.ndarray | Sequence[float] | float) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        return self.left + (v - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, values: np.ndarray | Sequence[float] | float) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        return self.bottom - (v - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)

    # data
    def plot(self, xs: np.ndarray, ys: np.ndarray, colour: str, width: float = 1.5, alpha: float = 1.0,
             dash: tuple[float, float] | None = None) -> None:
        self.c.line(self.x(xs), self.y(ys), colour, width, alpha, dash)

    def hline(self, value: float, colour: str, width: float, dash: tuple[float, float] | None = None) -> None:
        y = float(self.y(value))
        self.c.line(np.array([self.left, self.right]), np.array([y, y]), colour, width, dash=dash)

    def vline(self, value: float, colour: str, width: float, dash: tuple[float, float] | None = None) -> None:
        x = float(self.x(value))
        self.c.line(np.array([x, x]), np.array([self.top, self.bottom]), colour, width, dash=dash)

    def segments(self, segs: Sequence[tuple[float, float, float, float]], colour: str, width: float,
                 alpha: float = 1.0, dash: tuple[float, float] | None = None) -> None:
        if not segs:
            return
        a = np.asarray(segs, dtype=float)
        x0, x1, y0, y1 = self.x(a[:, 0]), self.x(a[:, 2]), self.y(a[:, 1]), self.y(a[:, 3])
        self.c.segments(list(zip(x0, y0, x1, y1, strict=True)), colour, width, alpha, dash)

    def scatter(self, xs: Sequence[float], ys: Sequence[float], marker: str, colour: str, size: float) -> None:
        self.c.markers(self.x(xs).tolist(), self.y(ys).tolist(), marker, colour, size)

    def fill_to_zero(self, xs: np.ndarray, ys: np.ndarray, colour: str, alpha: float) -> None:
        """The area between the curve and y = 0, one pixel column at a time (its deepest and highest point),
        which is what a filled polygon through thousands of points shows, at a fraction of the cost."""
        if len(xs) == 0:
            return
        px = np.clip(self.x(xs).astype(int), int(self.left), int(self.right))
        py = self.y(ys)
        zero = float(self.y(0.0))
        width = int(self.right) - int(self.left) + 1
        col = px - int(self.left)
        low = np.full(width, np.inf)
        high = np.full(width, -np.inf)
        np.minimum.at(low, col, py)
        np.maximum.at(high, col, py)
        seen = np.isfinite(low)
        if not seen.any():
            return
        idx = np.arange(width)
        low = np.interp(idx, idx[seen], low[seen])
        high = np.interp(idx, idx[seen], high[seen])
        first, last = int(idx[seen][0]), int(idx[seen][-1])
        top = np.minimum(low, zero)
        bottom = np.maximum(high, zero)
        rows = np.arange(int(self.top), int(self.bottom) + 1)[:, None]
        mask = (rows >= top[None, :]) & (rows <= bottom[None, :])
        mask[:, :first] = False
        mask[:, last + 1:] = False
        layer = Image.fromarray((mask * round(255 * alpha)).astype(np.uint8), "L")
        x0, y0 = int(self.left), int(self.top)
        self.c.image.paste(rgba(colour)[:3], (x0, y0, x0 + layer.width, y0 + layer.height), layer)

    # decorations
    def grid(self, xticks: Sequence[float] = (), yticks: Sequence[float] = (), alpha: float = 0.3) -> None:
        colour = rgba("#b0b0b0", alpha)
        w = max(1, round(pt(0.8)))
        for t in xticks:
            x = float(self.x(t))
            self.c.draw.line([x, self.top, x, self.bottom], fill=colour, width=w)
        for t in yticks:
            y = float(self.y(t))
            self.c.draw.line([self.left, y, self.right, y], fill=colour, width=w)

    def frame(self, xticks: Sequence[float] = (), xlabels: Sequence[str] = (), yticks: Sequence[float] = (),
              ylabels: Sequence[str] = (), size: float = 10) -> None:
        d, w, tick = self.c.draw, max(1, round(pt(0.8))), pt(3.5)
        black = rgba(FRAME)
        d.rectangle((self.left, self.top, self.right, self.bottom), outline=black, width=w)
        for t, label in zip(xticks, xlabels, strict=False):
            x = float(self.x(t))
            d.line([x, self.bottom, x, self.bottom + tick], fill=black, width=w)
            self.c.text(x, self.bottom + tick + pt(3.5), label, size, FRAME, "mt")
        for t, label in zip(yticks, ylabels, strict=False):
            y = float(self.y(t))
            d.line([self.left - tick, y, self.left, y], fill=black, width=w)
            self.c.text(self.left - tick - pt(3.5), y, label, size, FRAME, "rm")

    def ylabel(self, text: str, size: float = 10, offset: float = 0.0) -> None:
        """Left of the tick labels; `offset` is their width in drawing pixels."""
        x = self.left - pt(3.5) - pt(3.5) - offset - pt(4) - pt(size) * 0.6
        self.c.text(x, (self.top + self.bottom) / 2, text, size, FRAME, rotate=True)

    def xlabel(self, text: str, size: float = 10) -> None:
        self.c.text((self.left + self.right) / 2, self.bottom + pt(3.5) + pt(3.5) + pt(10) * 1.3 + pt(4), text, size,
                    FRAME, "mt")

    def title(self, text: str, size: float = 12) -> None:
        self.c.text((self.left + self.right) / 2, self.top - pt(6), text, size, FRAME, "ms")

    def legend(self, entries: Sequence[Entry], where: str = "upper left", size: float = 9, ncol: int = 1,
               frame: bool = True) -> None:
        if not entries:
            return
        rows = math.ceil(len(entries) / ncol)
        handle, gap, pad, line_h = pt(size * 2.0), pt(size * 0.8), pt(size * 0.4), pt(size) * 1.35
        cols = [list(entries[k * rows:(k + 1) * rows]) for k in range(ncol)]  # filled column by column
        cols = [col for col in cols if col]
        col_w = [handle + gap + max(self.c.text_width(e.label, size) for e in col) for col in cols]
        box_w = sum(col_w) + pad * 2 + gap * (len(col_w) - 1)
        box_h = rows * line_h + pad * 2
        x = self.left + pt(5)
        y = self.top + pt(5) if where.startswith("upper") else self.bottom - pt(5) - box_h
        if frame:
            self.c.draw.rounded_rectangle((x, y, x + box_w, y + box_h), radius=pt(2), fill=rgba("#ffffff", 0.8),
                                          outline=rgba("#cccccc"), width=max(1, round(pt(0.8))))
        cx = x + pad
        for col, w in zip(cols, col_w, strict=False):
            for row, e in enumerate(col):
                cy = y + pad + line_h * (row + 0.5)
                if e.kind == "marker":
                    self.c.markers([cx + handle / 2], [cy], e.marker, e.colour, 5.5)  # Line2D's 6 pt + 1 pt edge
                elif e.kind == "patch":
                    self.c.rect(cx, cy - line_h * 0.3, cx + handle, cy + line_h * 0.3, e.colour, e.alpha)
                else:
                    self.c.line(np.array([cx, cx + handle]), np.array([cy, cy]), e.colour, e.width, e.alpha, e.dash)
                self.c.text(cx + handle + gap, cy, e.label, size, TEXT, "lm")
            cx += w + gap


def limits(values: Sequence[np.ndarray], margin: float = 0.05) -> tuple[float, float]:
    """matplotlib's default view: the data range widened by 5 % on each side."""
    finite = [v[np.isfinite(v)] for v in (np.asarray(a, dtype=float) for a in values) if len(v)]
    finite = [v for v in finite if v.size]
    if not finite:
        return 0.0, 1.0
    low, high = min(float(v.min()) for v in finite), max(float(v.max()) for v in finite)
    pad = (high - low) * margin or abs(low) * margin or 1.0
    return low - pad, high + pad


def stack(top: float, bottom: float, ratios: Sequence[float], gap: float) -> list[tuple[float, float]]:
    """(top, bottom) of panels stacked from `top` to `bottom` with `gap` between, heights in `ratios`."""
    room = bottom - top - gap * (len(ratios) - 1)
    spans, y = [], top
    for r in ratios:
        h = room * r / sum(ratios)
        spans.append((y, y + h))
        y += h + gap
    return spans


def tick_width(canvas: Canvas, labels: Sequence[str], size: float = 10) -> float:
    return max((canvas.text_width(s, size) for s in labels), default=0.0)
