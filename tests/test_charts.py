"""The hits-per-day chart: a valid, deterministic PNG of the right size for any counts."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from PIL import Image

from bot.charts import (
    BACKGROUND,
    BAR_COLOUR,
    CHART_SIZE,
    MIN_BAR,
    PEAK_COLOUR,
    hits_per_day_png,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = date(2025, 5, 26)


def window(*counts: int) -> list[tuple[date, int]]:
    """Consecutive days from START with these counts."""
    return [(START + timedelta(days=n), count) for n, count in enumerate(counts)]


def decode(png: bytes) -> Image.Image:
    """The PNG decoded (and fully loaded) by Pillow, as RGB."""
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image.convert("RGB")


def rgb(colour: str) -> tuple[int, int, int]:
    """'#rrggbb' as an (r, g, b) tuple."""
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def colours(image: Image.Image) -> set[tuple[int, int, int]]:
    """Every colour the image uses."""
    found = image.getcolors(maxcolors=CHART_SIZE[0] * CHART_SIZE[1])
    assert found is not None
    return {colour for _, colour in found}


def test_a_month_of_hits_is_a_png_of_the_chart_size() -> None:
    """Thirty days of counts give a PNG that decodes to a 600×200 image on the dark background."""
    png = hits_per_day_png(window(*[n % 5 for n in range(30)]), "NATO spending hits 5%")
    image = decode(png)
    assert image.size == CHART_SIZE == (600, 200)
    assert image.getpixel((0, 0)) == rgb(BACKGROUND)
    assert rgb(PEAK_COLOUR) in colours(image)
    assert len(png) < 20_000  # small enough to attach to every /signal answer


def test_the_same_input_gives_the_same_bytes() -> None:
    """Drawing is deterministic: same days and title, byte-identical PNG."""
    days = window(3, 0, 7, 1)
    assert hits_per_day_png(days, "Ukraine truce") == hits_per_day_png(list(days), "Ukraine truce")
    assert hits_per_day_png(days, "Ukraine truce") != hits_per_day_png(days, "Canal deals")
    assert hits_per_day_png(days, "x") != hits_per_day_png(window(3, 0, 7, 2), "x")


def test_a_window_without_hits_draws_no_bars() -> None:
    """All zeros is a valid chart: no bar colour anywhere, unlike a window with one hit."""
    quiet = decode(hits_per_day_png(window(*[0] * 30), "Quiet signal"))
    assert quiet.size == CHART_SIZE
    assert rgb(PEAK_COLOUR) not in colours(quiet)
    one = decode(hits_per_day_png(window(*[0] * 29, 1), "Quiet signal"))
    assert rgb(PEAK_COLOUR) in colours(one)


def test_one_huge_day_leaves_small_days_visible() -> None:
    """Beside a spike of a million, a day with one hit is still a bar MIN_BAR pixels tall."""
    counts = [0] * 30
    counts[2], counts[10] = 1, 1_000_000
    image = decode(hits_per_day_png(window(*counts), "Spike"))
    width, height = image.size
    bar_pixels = [
        [y for y in range(height) if image.getpixel((x, y)) in (rgb(BAR_COLOUR), rgb(PEAK_COLOUR))]
        for x in range(width)
    ]
    # Two bars, left to right: the small day, then the spike reaching much higher.
    columns = [x for x in range(width) if bar_pixels[x]]
    small = [x for x in columns if x < columns[0] + 20]
    spike = [x for x in columns if x not in small]
    assert small and spike and min(spike) > max(small) + 20
    small_tall = max(len(bar_pixels[x]) for x in small)
    assert MIN_BAR <= small_tall < 10
    assert max(len(bar_pixels[x]) for x in spike) > 10 * small_tall


@pytest.mark.parametrize("count", [1, 2, 7, 90])
def test_any_window_length_draws(count: int) -> None:
    """One day, a week or a quarter all draw at the same size."""
    assert decode(hits_per_day_png(window(*range(count)), "t")).size == CHART_SIZE


def test_long_titles_and_huge_totals_still_draw() -> None:
    """A title wider than the chart is cut, not an error; a seven-digit total fits."""
    image = decode(hits_per_day_png(window(9_999_999, 1), "word " * 100))
    assert image.size == CHART_SIZE


def test_bad_input_says_what_is_wrong() -> None:
    """No days, or a negative count, is a ValueError naming the problem."""
    with pytest.raises(ValueError, match="at least one day"):
        hits_per_day_png([], "t")
    with pytest.raises(ValueError, match=r"negative count -1 on 2025-05-27"):
        hits_per_day_png(window(0, -1), "t")
