"""Chart text that fits its canvas, measured with the renderer (text extents), not guessed.

After a draw, `fitted_draw` looks at what was drawn: tick labels that touch their neighbours
are thinned (fewer ticks from the locator, or category labels rotated, then every k-th one
shown); titles, axis labels and category tick labels that run past the figure's edge are
shortened with "…", and a legend bigger than most of its plot is left out, for display only:
`ax.get_title()` and the tick texts keep their whole text. When something changed it draws
again (at most a few times); when nothing overflows it costs one measuring pass. A chart that
grows again gets its natural ticks back.
"""

from __future__ import annotations

import copy
import math
import weakref
from contextlib import contextmanager
from typing import Callable

from matplotlib.axis import Axis
from matplotlib.dates import AutoDateFormatter, AutoDateLocator
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.ticker import Formatter, MaxNLocator

GAP_PX = 4.0  # the least room between two neighbouring tick labels
EDGE_PX = 2.0  # what a shortened text keeps free at the figure's edge
ELLIPSIS = "…"
ROTATION = 45.0
REGROW = 1.15  # an axis this much longer than when it was thinned gets its natural ticks back
PASSES = 3
LEGEND_SHARE = 0.8  # of its plot's width or height: a legend bigger than that is left out
_middle: "weakref.WeakSet[Text]" = weakref.WeakSet()


def cut_in_the_middle(*texts: Text) -> None:
    """Shorten these texts (names) in the middle, keeping both ends, when they do not fit."""
    _middle.update(texts)


def tick_labels(axis) -> list[Text]:
    """The major tick labels the last draw showed: visible, not empty, inside the view."""
    low, high = sorted(axis.get_view_interval())
    slack = (high - low) * 1e-9
    out = []
    for tick in axis.get_major_ticks(len(axis.get_majorticklocs())):
        loc = tick.get_loc()
        if loc is None or not low - slack <= loc <= high + slack:
            continue
        if tick.label1.get_visible() and tick.label1.get_text():
            out.append(tick.label1)
    return out


def _line_height(text: Text, renderer) -> float:
    return renderer.get_text_width_height_descent("Ag", text.get_fontproperties(), False)[1]


def overlapping(labels: list[Text], renderer, vertical: bool) -> bool:
    """True if two neighbouring labels touch (less than GAP_PX apart)."""
    if len(labels) < 2:
        return False
    boxes = [t.get_window_extent(renderer) for t in labels]
    if vertical:
        boxes.sort(key=lambda b: b.y0)
        return any(b.y0 < a.y1 + 1 for a, b in zip(boxes, boxes[1:]))
    angle = labels[0].get_rotation() % 180
    if angle in (0.0, 90.0):
        boxes.sort(key=lambda b: b.x0)
        gap = GAP_PX if angle == 0 else 1.0  # upright text: its line height runs along x
        return any(b.x0 < a.x1 + gap for a, b in zip(boxes, boxes[1:]))
    # Slanted labels are parallel strips: they clear each other when their anchors are a
    # line height (over the sine of the slant) apart, whatever their bounding boxes say.
    lines = max(t.get_text().count("\n") + 1 for t in labels)
    need = lines * _line_height(labels[0], renderer) / math.sin(math.radians(angle)) + 1
    ends = sorted(b.x1 for b in boxes)
    return any(b - a < need for a, b in zip(ends, ends[1:]))


def _restore(axis, state: dict) -> None:
    axis.set_major_locator(state["locator"])
    axis.set_major_formatter(state["formatter"])
    for tick in axis.get_major_ticks(len(axis.get_majorticklocs())):
        tick.label1.set_visible(True)
        if state.get("rotated"):
            tick.label1.set_rotation(state["rotation"])
            tick.label1.set_horizontalalignment(state["ha"])
    del axis._lablift_fit


def fit_axis(ax, axis, renderer, vertical: bool) -> bool:
    """Thin `axis`' tick labels until neighbours clear each other. True if it changed them."""
    labels = tick_labels(axis)
    box = ax.get_window_extent(renderer)
    length = box.height if vertical else box.width
    state = getattr(axis, "_lablift_fit", None)
    if not overlapping(labels, renderer, vertical):
        if state is not None and length > state["length"] * REGROW:
            _restore(axis, state)  # room again: the plot's own ticks
            return True
        return False
    if state is None:
        first = labels[0]
        state = axis._lablift_fit = {"locator": axis.get_major_locator(),
                                     "formatter": axis.get_major_formatter(),
                                     "rotation": first.get_rotation(),
                                     "ha": first.get_horizontalalignment()}
    state["length"] = length
    boxes = [t.get_window_extent(renderer) for t in labels]
    widest = max(b.height if vertical else b.width for b in boxes)
    fits = max(1, min(int(length // (widest + GAP_PX)), len(labels) - 1))
    locator = axis.get_major_locator()
    if isinstance(locator, MaxNLocator):  # AutoLocator too: ask for fewer, rounder ticks
        fewer = copy.copy(locator)
        fewer.set_params(nbins=max(1, fits - 1))
        axis.set_major_locator(fewer)
        return True
    if isinstance(locator, AutoDateLocator):
        fewer = AutoDateLocator(minticks=1, maxticks=max(2, fits))
        axis.set_major_locator(fewer)
        axis.set_major_formatter(AutoDateFormatter(fewer))
        return True
    if not vertical and not state.get("rotated") and labels[0].get_rotation() % 180 == 0:
        state["rotated"] = True  # categories: slant them before hiding any
        for label in labels:
            label.set_rotation(ROTATION)
            label.set_horizontalalignment("right")
        return True
    ticks = [t for t in axis.get_major_ticks(len(axis.get_majorticklocs()))
             if t.label1 in set(labels)]
    step = math.ceil(len(labels) / fits) if fits < len(labels) else 2
    for i, tick in enumerate(ticks):
        tick.label1.set_visible(i % step == 0)
    return True


def _width(text: str, text_artist: Text, renderer) -> float:
    return renderer.get_text_width_height_descent(text, text_artist.get_fontproperties(),
                                                   False)[0]


def _cut(line: str, keep: int, middle: bool) -> str:
    if not middle:
        return line[:keep].rstrip() + ELLIPSIS
    head = (keep + 1) // 2
    return line[:head] + ELLIPSIS + line[len(line) - (keep - head):]


def shorten(text: str, room: float, measure: Callable[[str], float],
            middle: bool = False) -> str:
    """`text` cut (with "…" at the end, or in the `middle`) line by line to at most `room`
    pixels as `measure` measures."""
    out = []
    for line in text.split("\n"):
        if measure(line) <= room:
            out.append(line)
            continue
        low, high = 0, len(line) - 1  # the most characters that fit with the ellipsis
        while low < high:
            mid = (low + high + 1) // 2
            if measure(_cut(line, mid, middle)) <= room:
                low = mid
            else:
                high = mid - 1
        out.append(_cut(line, low, middle))
    return "\n".join(out)


def _is_name(label: str) -> bool:
    try:
        float(label.replace("−", "-").replace(",", ""))
    except ValueError:
        return bool(label.strip())
    return False


class _ShortFormatter(Formatter):
    """Category tick labels of another formatter, shortened to `room` pixels."""

    def __init__(self, inner: Formatter, room: float, measure: Callable[[str], float]):
        self.inner, self.room, self.measure = inner, room, measure

    def set_axis(self, axis) -> None:
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def __call__(self, x, pos=None) -> str:
        return shorten(str(self.inner(x, pos)), self.room, self.measure, middle=True)

    def format_ticks(self, values):
        return [shorten(str(s), self.room, self.measure, middle=True)
                for s in self.inner.format_ticks(values)]


def _room(text: Text, box, fig) -> float | None:
    """How wide `text` may be to stay inside the figure; None if it already fits."""
    angle = text.get_rotation() % 180
    if angle == 0:
        low, high, edge_low, edge_high = box.x0, box.x1, fig.x0, fig.x1
        align = text.get_horizontalalignment()
    elif angle == 90:
        low, high, edge_low, edge_high = box.y0, box.y1, fig.y0, fig.y1
        align = "center"
    else:
        return None
    if low >= edge_low - 0.5 and high <= edge_high + 0.5:
        return None
    if align == "left":
        return edge_high - low - EDGE_PX
    if align == "right":
        return high - edge_low - EDGE_PX
    middle = (low + high) / 2
    return 2 * min(middle - edge_low, edge_high - middle) - 2 * EDGE_PX


def shortened(figure, renderer) -> dict:
    """What to show instead: {Text: shorter str} for texts that run past the figure's edge,
    {Axis: formatter} for category tick labels that do, {Legend: False} for a legend that would
    cover most of its plot."""
    fig = figure.bbox
    ticks: set[int] = set()
    out: dict = {}
    for ax in figure.axes:
        for axis, vertical in ((ax.xaxis, False), (ax.yaxis, True)):
            for tick in axis.get_major_ticks(len(axis.get_majorticklocs())) + \
                    axis.get_minor_ticks(len(axis.get_minorticklocs())):
                ticks.update((id(tick.label1), id(tick.label2)))
            labels = tick_labels(axis)
            if not vertical or not any(_is_name(t.get_text()) for t in labels):
                continue  # a number is never shortened: thinning (fit_axis) is its remedy
            rooms = [_room(t, t.get_window_extent(renderer), fig) for t in labels]
            rooms = [r for r in rooms if r is not None]
            if rooms:
                out[axis] = _ShortFormatter(axis.get_major_formatter(), max(min(rooms), 0.0),
                                            lambda s, t=labels[0]: _width(s, t, renderer))
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            # A legend that covers most of a small plot hides what it explains, and one on a
            # title garbles both: left out.
            own, room = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
            mine = {id(t) for t in legend.get_texts()}
            if (own.width > LEGEND_SHARE * room.width or own.height > LEGEND_SHARE * room.height
                    or any(own.overlaps(t.get_window_extent(renderer)) for t in _titles(figure)
                           if id(t) not in mine)):
                out[legend] = False
                ticks.update(mine)
    for text in figure.findobj(Text):
        if id(text) in ticks or not text.get_visible() or not text.get_text() or text.get_wrap():
            continue
        box = text.get_window_extent(renderer)
        if box.width <= 0:
            continue
        room = _room(text, box, fig)
        if room is not None:
            out[text] = shorten(text.get_text(), max(room, 0.0),
                                lambda s, t=text: _width(s, t, renderer), text in _middle)
    return out


def _titles(figure) -> list[Text]:
    """The axes' titles (left, centre, right): the Text children that ax.text() did not add."""
    return [c for ax in figure.axes for c in ax.get_children()
            if isinstance(c, Text) and c not in ax.texts and c.get_visible() and c.get_text()]


@contextmanager
def shown(display: dict):
    """Show `display` (see `shortened`) for the duration, then put the whole texts back."""
    saved = []
    for key, value in display.items():
        if isinstance(key, Text):
            saved.append((key.set_text, key.get_text()))
            key.set_text(value)
        elif isinstance(key, Legend):
            saved.append((key.set_visible, key.get_visible()))
            key.set_visible(value)
        else:
            saved.append((key.set_major_formatter, key.get_major_formatter()))
            key.set_major_formatter(value)
    try:
        yield
    finally:
        for setter, value in reversed(saved):
            setter(value)
        for key in display:
            if isinstance(key, Axis):  # the labels read back whole, as the plot set them
                locs = key.get_majorticklocs()
                texts = key.get_major_formatter().format_ticks(locs)
                for tick, text in zip(key.get_major_ticks(len(locs)), texts):
                    tick.label1.set_text(text)


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all((a[k].room == b[k].room) if isinstance(k, Axis) else (a[k] == b[k]) for k in a)


def fitted_draw(draw: Callable[[], None], figure, renderer: Callable[[], object]) -> None:
    """`draw()` the figure, then again (at most PASSES times) while its text does not fit."""
    draw()
    last: dict = {}
    for _ in range(PASSES):
        r = renderer()
        changed = [fit_axis(ax, axis, r, vertical) for ax in figure.axes if ax.axison
                   for axis, vertical in ((ax.xaxis, False), (ax.yaxis, True))]
        display = shortened(figure, r)
        if not any(changed) and _same(display, last):
            return
        last = display
        with shown(display):
            draw()
