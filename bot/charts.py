"""Small PNG charts for Discord embeds: pure drawing, bytes out (no `discord`, no I/O).

    hits_per_day_png([(date, count), ...], title) -> PNG bytes (600×200, Discord dark theme)

Drawn with Pillow and the font Pillow bundles, so a chart looks the same on every machine
and the same input always gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from functools import cache

from PIL import Image, ImageDraw, ImageFont

__all__ = ["CHART_SIZE", "hits_per_day_png"]

CHART_SIZE = (600, 200)

# Discord's dark theme: the embed background, its text colours, and blurple for the bars.
BACKGROUND = "#2b2d31"
TITLE_COLOUR = "#f2f3f5"
TEXT_COLOUR = "#b5bac1"
MUTED_COLOUR = "#80848e"
GRID_COLOUR = "#3f4147"
BAR_COLOUR = "#5865f2"
PEAK_COLOUR = "#949cf7"  # the busiest day, a lighter blurple
EMPTY_DAY_COLOUR = "#4e5058"  # a stub on the baseline, so a quiet day still reads as a day

# Layout, in pixels of the 600×200 chart.
PAD = 14
AXIS_GAP = 8  # between the axis labels and the bars
PLOT_TOP = 44
PLOT_BOTTOM_GAP = 26  # room under the bars for the first and last dates
MIN_BAR = 4  # a day with hits is never drawn flatter than this, however big the busiest day
BAR_FILL = 0.72  # the share of each day's slot its bar covers

# Month names of our own: strftime("%b") would follow the process locale.
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@cache
def _font(size: int) -> _Font:
    """Pillow's bundled font at this size (the same on every machine)."""
    return ImageFont.load_default(size=size)


def _day_label(day: date) -> str:
    """'26 May 2025': unambiguous in any locale."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def _count(value: int) -> str:
    """1234 as '1,234'."""
    return f"{value:,}"


def _fit(draw: ImageDraw.ImageDraw, text: str, font: _Font, room: float) -> str:
    """The text, cut with an ellipsis where it would be wider than `room` pixels."""
    if draw.textlength(text, font=font) <= room:
        return text
    while text and draw.textlength(text + "…", font=font) > room:
        text = text[:-1]
    return text.rstrip() + "…"


def hits_per_day_png(days: Sequence[tuple[date, int]], title: str) -> bytes:
    """A bar chart of hits per day, oldest left, as PNG bytes (600×200, dark theme).

    Labels the busiest day's count on the axis and the first and last dates under the bars.
    A window without hits draws flat stubs and says so; one huge day still leaves the others
    visible (a day with hits is at least MIN_BAR pixels tall).
    """
    if not days:
        raise ValueError("hits_per_day_png needs at least one day")
    for day, count in days:
        if count < 0:
            raise ValueError(f"hits_per_day_png: negative count {count} on {day.isoformat()}")
    width, height = CHART_SIZE
    image = Image.new("RGB", CHART_SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    title_font, label_font = _font(15), _font(12)

    total = sum(count for _, count in days)
    peak = max(count for _, count in days)
    summary = f"{_count(total)} hit{'' if total == 1 else 's'} in {len(days)} days"
    draw.text((width - PAD, PAD - 2), summary, fill=TEXT_COLOUR, font=label_font, anchor="ra")
    room = width - 3 * PAD - draw.textlength(summary, font=label_font)
    title_text = _fit(draw, " ".join(title.split()), title_font, room)
    draw.text((PAD, PAD - 2), title_text, fill=TITLE_COLOUR, font=title_font)

    # The axis is as wide as the busiest day's count needs, so a huge day never clips.
    axis = max(draw.textlength(_count(peak), font=label_font), 20.0)
    left, right = round(PAD + axis + AXIS_GAP), width - PAD
    top, baseline = PLOT_TOP, height - PLOT_BOTTOM_GAP

    # The busiest day's level: a grid line with its count (none when every day is 0, as the
    # baseline says that already), and the baseline with 0.
    draw.line([(left, baseline), (right, baseline)], fill=GRID_COLOUR, width=1)
    axis_x = left - AXIS_GAP
    draw.text((axis_x, baseline), "0", fill=MUTED_COLOUR, font=label_font, anchor="rm")
    if peak > 0:
        draw.line([(left, top), (right, top)], fill=GRID_COLOUR, width=1)
        draw.text((axis_x, top), _count(peak), fill=TEXT_COLOUR, font=label_font, anchor="rm")

    slot = (right - left) / len(days)
    bar = max(1.0, slot * BAR_FILL)
    for index, (_, count) in enumerate(days):
        x0 = round(left + index * slot + (slot - bar) / 2)
        x1 = max(x0, round(left + index * slot + (slot + bar) / 2) - 1)
        if count == 0:
            draw.line([(x0, baseline), (x1, baseline)], fill=EMPTY_DAY_COLOUR, width=1)
            continue
        tall = max(MIN_BAR, round((baseline - top) * count / peak))
        colour = PEAK_COLOUR if count == peak else BAR_COLOUR
        radius = min(3, (x1 - x0) // 2, tall // 2)
        draw.rounded_rectangle(
            [(x0, baseline - tall), (x1, baseline)],
            radius=radius,
            fill=colour,
            corners=(True, True, False, False),
        )

    if total == 0:
        middle = (left + right) // 2, (top + baseline) // 2
        draw.text(middle, "no hits in this period", fill=MUTED_COLOUR, font=label_font, anchor="mm")

    label_y = baseline + 8
    first, last = days[0][0], days[-1][0]
    draw.text((left, label_y), _day_label(first), fill=TEXT_COLOUR, font=label_font, anchor="la")
    if len(days) > 1:
        draw.text(
            (right, label_y), _day_label(last), fill=TEXT_COLOUR, font=label_font, anchor="ra"
        )

    out = io.BytesIO()
    # optimize=False and no metadata: the same pixels always give the same bytes.
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
