"""Cropping a Graphviz PDF's drawing to a window: only the marks and text that touch it.

A diagram tile page (render/pdf/section.py) and a split LaTeX figure (render/tex/figure.py)
each show a window of a large drawing. Clipping the whole drawing to the window hides the
rest from the eye but not from text extraction: pdfium (Chrome's and Edge's viewer) reads
clipped text too, so a search for a layer found it on every tile of the diagram (issue 29).
So each window gets a content stream of its own: the drawing's paths whose bounding box
meets the window, and its text runs that do. The graphics and text state (colours, line
widths, fonts) is kept wherever a kept mark may need it, so what the window shows is drawn
exactly as before; a setting that nothing kept draws with is dropped.

The content is read once per drawing (:class:`Drawing`), and each window selects from it:
NASNetMobile's diagram has 41,000 operators and its diagram about a hundred tiles.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import pikepdf

Matrix = tuple[float, float, float, float, float, float]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in the page's default user space

IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
# Operators that set one piece of the graphics or text state, and which piece: setting the
# same piece again before anything is drawn makes the first setting dead.
_STATE = {
    "rg": "fill", "g": "fill", "k": "fill", "RG": "stroke", "G": "stroke", "K": "stroke",
    "w": "w", "J": "J", "j": "j", "M": "M", "d": "d", "ri": "ri", "i": "i",
    "Tf": "Tf", "Tc": "Tc", "Tw": "Tw", "Tz": "Tz", "TL": "TL", "Ts": "Ts", "Tr": "Tr",
}  # fmt: skip
_TEXT_STATE = {"Tf", "Tc", "Tw", "Tz", "TL", "Ts", "Tr"}
_PATH = {"m", "l", "c", "v", "y", "h", "re"}
_CLIP = {"W", "W*"}
_PAINT = {"S", "s", "f", "F", "f*", "B", "B*", "b", "b*", "n"}
_MARKED = {"BDC", "BMC"}
# A show's operands as qpdf writes them: literal strings (every parenthesis escaped), hex strings.
_STRING = re.compile(rb"\((?:\\.|[^\\)])*\)|<[0-9A-Fa-f\s]*>", re.S)
_TOKEN = re.compile(rb"\((?:\\.|[^\\)])*\)|<[0-9A-Fa-f\s]*>|[\[\]]|[^\s\[\]()<>]+", re.S)
_LITERAL = re.compile(rb"\(((?:\\.|[^\\)])*)\)", re.S)
_ESCAPE = re.compile(rb"\\([0-7]{1,3}|\n|.)", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"\n": b""}


def multiply(a: Matrix, b: Matrix) -> Matrix:
    """``a`` then ``b``, as PDF concatenates matrices (row vectors)."""
    return (
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    )


def bounds(m: Matrix, points: Iterable[tuple[float, float]], pad: float = 0.0) -> Box:
    """The box around ``points`` mapped by ``m``, grown by ``pad`` on every side."""
    mapped = [(x * m[0] + y * m[2] + m[4], x * m[1] + y * m[3] + m[5]) for x, y in points]
    xs, ys = [p[0] for p in mapped], [p[1] for p in mapped]
    return min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad


def _rectangle(m: Matrix, width: float, low: float, high: float) -> Box:
    """:func:`bounds` of the rectangle from (0, ``low``) to (``width``, ``high``), for each of a
    diagram's thousands of shows: each side from the corner that reaches it, computed as
    :func:`bounds` computes it (rounding keeps the order, so the sides are the same numbers)."""
    xa, xb = (0.0, width) if width >= 0 else (width, 0.0)
    ya, yb = (low, high) if low <= high else (high, low)
    lx, hx = (xa, xb) if m[0] >= 0 else (xb, xa)
    ly, hy = (ya, yb) if m[2] >= 0 else (yb, ya)
    left, right = lx * m[0] + ly * m[2] + m[4], hx * m[0] + hy * m[2] + m[4]
    lx, hx = (xa, xb) if m[1] >= 0 else (xb, xa)
    ly, hy = (ya, yb) if m[3] >= 0 else (yb, ya)
    bottom, top = lx * m[1] + ly * m[3] + m[5], hx * m[1] + hy * m[3] + m[5]
    return left, bottom, right, top


def meets(a: Box, b: Box) -> bool:
    """Whether two boxes overlap (boxes that only touch do not)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _unescape(text: bytes) -> bytes:
    """A literal string's bytes, from what stands between its parentheses."""

    def one(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code[:1].isdigit():
            return bytes([int(code, 8) & 0xFF])
        return _ESCAPES.get(code, code)

    return _ESCAPE.sub(one, text) if b"\\" in text else text


def _string(token: bytes) -> bytes:
    """A PDF string token's bytes."""
    if token[:1] == b"<":
        digits = bytes(c for c in token[1:-1] if c not in b" \t\r\n\f")
        return bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode("ascii"))
    return _unescape(token[1:-1])


def _compact(show: bytes) -> bytes:
    """A show as Cairo writes it, without the spaces qpdf puts around every string: ``[(a)-3(b)]TJ``.

    The spaces are a fifth of a diagram's text, and a tile's text is stored apart from the
    rest, where Flate cannot take them away as well as in one long stream. The tokens are
    joined with a byte no token holds, and that separator is dropped next to a string or a
    bracket and left as a space between two numbers: bytes operations, not a loop over the
    glyphs (Cairo writes a string per glyph).
    """
    if b"\0" in show:  # a literal string with a NUL byte in it: token by token
        return _compact_tokens(show)
    joined = b"\0".join(_TOKEN.findall(show))
    for separated, joined_up in _SEPARATORS:
        joined = joined.replace(separated, joined_up)
    return joined.replace(b"\0", b" ")


# A token ending in ")" or ">" is a string, so the separator after it goes; one starting with "(" or
# "<" is a string, so the separator before it goes; and the separators on either side of a bracket.
_SEPARATORS = [(b")\0", b")"), (b">\0", b">"), (b"]\0", b"]"), (b"[\0", b"["),
               (b"\0(", b"("), (b"\0<", b"<"), (b"\0[", b"["), (b"\0]", b"]")]  # fmt: skip


def _compact_tokens(show: bytes) -> bytes:
    """:func:`_compact`, one token at a time."""
    tokens = _TOKEN.findall(show)
    out = []
    number = False  # the previous token was a number: a number after it needs a space
    for token in tokens:
        if token[:1] in b"(<[]":
            number = False
        else:
            if number:
                out.append(b" ")
            number = True
        out.append(token)
    return b"".join(out)


def _unparsed(instructions: list[Any]) -> list[bytes]:
    """Each instruction's bytes as qpdf writes it, from one call for the whole content.

    qpdf writes one instruction a line (a line end in a string is escaped); an inline image
    spans several lines, and then each instruction is written alone. One call per operator
    was a tenth of reading NASNetMobile's diagram (41,000 operators).
    """
    if not instructions:
        return []
    lines = pikepdf.unparse_content_stream(instructions).split(b"\n")
    if len(lines) == len(instructions):
        return lines
    return [pikepdf.unparse_content_stream([instruction]) for instruction in instructions]


def _format(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _numbers(operands: Iterable[Any]) -> list[float]:
    return [float(v) for v in operands]


def _matrix(operands: Iterable[Any]) -> Matrix:
    a, b, c, d, e, f = _numbers(operands)
    return a, b, c, d, e, f


def _measure(font: _Font | None, operands: bytes) -> tuple[float, int, int]:
    """A show's widths less its adjustments (in 1/1000 of the font size), its glyphs and its spaces.

    Read from the operands' bytes, every string at once: Cairo writes one string per
    glyph, and walking them as pikepdf objects took NASNetMobile's diagram most of a second.
    """
    adjustments = sum(map(float, _STRING.sub(b" ", operands).strip(b"[] \n").split()))
    if b"<" in operands:
        data = b"".join(_string(token) for token in _STRING.findall(operands))
    else:
        data = _unescape(b"".join(_LITERAL.findall(operands)))
    if font is None:
        glyphs, width = len(data), 500.0 * len(data)
    else:
        codes = font.codes(data)
        glyphs, width = len(codes), sum(map(font.widths.get, codes, repeat(font.default)))
    return width - adjustments, glyphs, data.count(32)


class _Font:
    """One font's advance widths and vertical extent: enough to measure a text run without drawing it."""

    def __init__(self, font: pikepdf.Object) -> None:
        self.two_byte = False
        self.widths: dict[int, float] = {}
        self.default = 500.0
        self.known = True
        descriptor = font.get("/FontDescriptor")
        subtype = font.get("/Subtype")
        if subtype == pikepdf.Name.Type0:
            self.two_byte = font.get("/Encoding") == pikepdf.Name("/Identity-H")
            self.known = self.two_byte  # another CMap's codes are not measured: kept on every window
            child = font.DescendantFonts[0]
            descriptor = child.get("/FontDescriptor")
            self.default = float(child.get("/DW", 1000))
            entries = list(child.get("/W", []))
            i = 0
            while i + 1 < len(entries):
                first = int(entries[i])
                if isinstance(entries[i + 1], pikepdf.Array):
                    for k, w in enumerate(entries[i + 1]):
                        self.widths[first + k] = float(w)
                    i += 2
                else:
                    for code in range(first, int(entries[i + 1]) + 1):
                        self.widths[code] = float(entries[i + 2])
                    i += 3
        elif subtype in (pikepdf.Name.TrueType, pikepdf.Name.Type1) and "/Widths" in font:
            first = int(font.get("/FirstChar", 0))
            for k, w in enumerate(font.Widths):
                self.widths[first + k] = float(w)
        else:
            self.known = False  # Type 3 and others: their text is kept on every window
        if isinstance(descriptor, pikepdf.Dictionary):
            self.default = float(descriptor.get("/MissingWidth", self.default))
            self.ascent = max(float(descriptor.get("/Ascent", 900)), 0.0) / 1000
            self.descent = min(float(descriptor.get("/Descent", -250)), 0.0) / 1000
        else:
            self.ascent, self.descent = 0.9, -0.25

    def codes(self, data: bytes) -> Sequence[int]:
        if self.two_byte:
            return struct.unpack(f">{len(data) // 2}H", data[: len(data) // 2 * 2])
        return data


@dataclass
class _TextState:
    """The text state while a text object is read."""

    font: _Font | None = None
    size: float = 1.0
    char_spacing: float = 0.0
    word_spacing: float = 0.0
    scale: float = 1.0
    leading: float = 0.0
    rise: float = 0.0
    matrix: Matrix = IDENTITY
    line: Matrix = IDENTITY
    flowing: bool = False  # a show in this text object ended where the text position is


# The units a drawing is read into. Each holds its operators' bytes.
@dataclass(frozen=True)
class _Plain:
    """Kept on every window as it is: q, Q, cm, marked content."""

    data: bytes
    op: str


@dataclass(frozen=True)
class _State:
    """One state setting: kept if a kept mark may draw with it."""

    key: str
    data: bytes


@dataclass(frozen=True)
class _Mark:
    """A painted path (or an operator that draws something else); ``box`` None: kept on every window."""

    data: bytes
    box: Box | None
    path: bool = False  # a path: it draws with no text state (an XObject it paints may)


@dataclass(frozen=True)
class _Show:
    """One text-showing operator, where it starts and the box its glyphs cover (None: unknown).

    ``ctm`` and ``state`` are the transformation and the state settings in force when it is
    shown, so it can be drawn apart from the rest (:class:`_TextStream`); ``follows``: it
    starts where the show before it ended.
    """

    data: bytes
    matrix: Matrix
    box: Box | None
    ctm: Matrix = IDENTITY
    state: tuple[tuple[str, bytes], ...] = ()
    follows: bool = False


@dataclass
class _TextObject:
    """A BT ... ET object: its state settings, shows and other operators, in order."""

    parts: list[_State | _Show | _Plain] = field(default_factory=list)


class Drawing:
    """A PDF page's content, read once into units that :meth:`crop` selects from for each window."""

    def __init__(self, page: pikepdf.Page) -> None:
        fonts = page.resources.get("/Font", pikepdf.Dictionary())
        self._fonts = {str(name): _Font(font) for name, font in fonts.items()}
        self.units: list[_Plain | _State | _Mark | _TextObject] = []
        self._stroked_text = False  # a Tr setting: text may be stroked, and draws with the stroke's state
        # Graphviz labels repeat ("Output shape:", the same shapes): each distinct show is
        # compacted and measured once (a diagram's shows are about a fifth distinct).
        self._compacted: dict[bytes, bytes] = {}
        self._measured: dict[tuple[int, bytes], tuple[float, int, int]] = {}
        self._font_settings: dict[bytes, tuple[_Font | None, float]] = {}
        instructions = pikepdf.parse_content_stream(page)
        self._read(instructions, _unparsed(instructions))

    def _read(
        self,
        instructions: Iterable[pikepdf.ContentStreamInstruction | pikepdf.ContentStreamInlineImage],
        unparsed: list[bytes],
    ) -> None:
        ctm, width = IDENTITY, 1.0
        saved: list[tuple[Matrix, float]] = []
        path: list[bytes] = []  # the current path's operators, until it is painted
        clips = False  # the current path sets a clip
        points: list[tuple[float, float]] = []
        text: _TextObject | None = None
        state = _TextState()
        self._settings: dict[str, bytes] = {}  # the state settings in force, for _Show.state
        self._shown_with: dict[Any, tuple[tuple[str, bytes], ...]] = {}  # _show_state's answers
        settings_saved: list[dict[str, bytes]] = []
        marked: bytes | None = None  # a BDC or BMC, held back: its EMC may follow at once
        inline_image = pikepdf.ContentStreamInlineImage
        for instruction, data in zip(instructions, unparsed, strict=True):
            if isinstance(instruction, inline_image):
                self.units.append(_Mark(data, None))
                continue
            op = str(instruction.operator)
            if marked is not None:
                held, marked = marked, None
                if op == "EMC":
                    continue  # an empty marked run (Cairo writes one per link): nothing to keep
                self.units.append(_Plain(held, "BDC"))
            if text is not None:
                if op == "ET":
                    self.units.append(text)
                    text = None
                else:
                    self._text_op(text, state, ctm, instruction, op, data)
                continue
            if op in _PATH or op in _CLIP:
                path.append(data)
                clips = clips or op in _CLIP
                numbers = _numbers(data.split()[:-1])  # numbers all: read from the bytes, faster
                if op == "re":
                    x, y, w, h = numbers
                    points += [(x, y), (x + w, y + h)]
                else:
                    points += zip(numbers[::2], numbers[1::2], strict=False)
                continue
            if op in _PAINT:
                reach = width * max(abs(ctm[0]) + abs(ctm[2]), abs(ctm[1]) + abs(ctm[3])) / 2 + 1
                box = None if clips or op == "n" or not points else bounds(ctm, points, reach)
                self.units.append(_Mark(b"\n".join([*path, data]), box, path=True))
                path, points, clips = [], [], False
                continue
            if op == "q":
                saved.append((ctm, width))
                settings_saved.append(dict(self._settings))
                self.units.append(_Plain(data, op))
            elif op == "Q":
                if saved:
                    ctm, width = saved.pop()
                    self._settings = settings_saved.pop()
                self.units.append(_Plain(data, op))
            elif op == "cm":
                ctm = multiply(_matrix(data.split()[:-1]), ctm)
                self.units.append(_Plain(data, op))
            elif op == "BT":
                text = _TextObject()
                state.matrix = state.line = IDENTITY
                state.flowing = False
            elif op in _MARKED:
                marked = data
            elif op in ("EMC", "MP", "DP"):
                self.units.append(_Plain(data, op))
            elif op in _STATE:
                if op == "w":
                    width = float(instruction.operands[0])
                elif op in _TEXT_STATE:
                    self._text_state(state, op, instruction, data)
                    self._stroked_text = self._stroked_text or op == "Tr"
                self._settings[_STATE[op]] = data
                self.units.append(_State(_STATE[op], data))
            elif op == "gs":
                key = f"gs {instruction.operands[0]}"
                self._settings[key] = data
                self.units.append(_State(key, data))
            else:
                self.units.append(_Mark(data, None))  # anything else is kept on every window
        if marked is not None:
            self.units.append(_Plain(marked, "BDC"))

    def _text_state(
        self, state: _TextState, op: str, instruction: pikepdf.ContentStreamInstruction, data: bytes
    ) -> None:
        if op == "Tf":  # Cairo sets the font before every show: each distinct setting is read once
            setting = self._font_settings.get(data)
            if setting is None:
                operands = instruction.operands
                setting = self._font_settings[data] = (self._fonts.get(str(operands[0])), float(operands[1]))
            state.font, state.size = setting
            return
        value = float(instruction.operands[-1])
        if op == "Tc":
            state.char_spacing = value
        elif op == "Tw":
            state.word_spacing = value
        elif op == "Tz":
            state.scale = value / 100
        elif op == "TL":
            state.leading = value
        elif op == "Ts":
            state.rise = value

    def _text_op(
        self,
        text: _TextObject,
        state: _TextState,
        ctm: Matrix,
        instruction: pikepdf.ContentStreamInstruction,
        op: str,
        data: bytes,
    ) -> None:
        """Read one operator inside BT ... ET: ``op``, and ``data``, its bytes as qpdf writes it."""
        if op in _TEXT_STATE or op in _STATE:
            if op in _TEXT_STATE:
                self._text_state(state, op, instruction, data)
            self._stroked_text = self._stroked_text or op == "Tr"
            self._settings[_STATE[op]] = data
            text.parts.append(_State(_STATE[op], data))
            return
        # Moves are not kept: each kept show sets its start with Tm (crop), so a dropped show
        # before it cannot displace it.
        if op == "Tm":
            state.matrix = state.line = _matrix(data.split()[:-1])
        elif op in ("Td", "TD"):
            tx, ty = _numbers(data.split()[:-1])
            if op == "TD":
                state.leading = -ty
            state.matrix = state.line = multiply((1, 0, 0, 1, tx, ty), state.line)
        elif op in ("T*", "'", '"'):
            state.matrix = state.line = multiply((1, 0, 0, 1, 0, -state.leading), state.line)
        if op == '"':
            state.word_spacing, state.char_spacing = _numbers(instruction.operands[:2])
            for key, value in (("Tw", state.word_spacing), ("Tc", state.char_spacing)):
                self._settings[key] = f"{_format(value)} {key}".encode()
                text.parts.append(_State(key, self._settings[key]))
        if op in ("'", '"'):
            state.flowing = False
            instruction = pikepdf.ContentStreamInstruction([instruction.operands[-1]], pikepdf.Operator("Tj"))
            op, data = "Tj", pikepdf.unparse_content_stream([instruction])
        if op in ("Tj", "TJ"):
            shown = self._compacted.get(data)
            if shown is None:
                shown = self._compacted[data] = _compact(data)
            advance = self._advance(state, shown[:-2])  # without its operator
            box = None
            if state.font is not None and state.font.known:
                low = state.rise + state.size * state.font.descent
                high = state.rise + state.size * state.font.ascent
                box = _rectangle(multiply(state.matrix, ctm), advance, low, high)
            follows, state.flowing = state.flowing, True
            text.parts.append(_Show(shown, state.matrix, box, ctm, self._show_state(), follows))
            state.matrix = multiply((1, 0, 0, 1, advance, 0), state.matrix)
        elif op in ("Tm", "Td", "TD", "T*"):
            state.flowing = False
        else:
            text.parts.append(_Plain(data, op))

    def _show_state(self) -> tuple[tuple[str, bytes], ...]:
        """The state settings in force that a show draws with (:attr:`_Show.state`).

        Cairo sets the same few again before every show, so the answer is looked up by them.
        """
        key = (self._stroked_text, tuple(self._settings.items()))
        found = self._shown_with.get(key)
        if found is None:
            needs = _anything if self._stroked_text else _text_needs
            found = self._shown_with[key] = tuple(
                sorted((k, v) for k, v in self._settings.items() if needs(k))
            )
        return found

    def _advance(self, state: _TextState, operands: bytes) -> float:
        """How far the text position moves over a show's strings and adjustments, in text space."""
        font = state.font
        key = (id(font), operands)  # the fonts live as long as the drawing
        measured = self._measured.get(key)
        if measured is None:
            measured = self._measured[key] = _measure(font, operands)
        units, glyphs, spaces = measured
        total = units / 1000 * state.size + state.char_spacing * glyphs
        if state.word_spacing and not (font is not None and font.two_byte):
            total += state.word_spacing * spaces
        return total * state.scale

    def crop(self, window: Box) -> bytes:
        """The content stream of the marks and text runs that meet ``window`` (in page space)."""
        return self._select(lambda box: box is None or meets(box, window), lambda show: _within(show, window))

    def graphics(self) -> bytes:
        """The content stream of every mark and no text."""
        return self._select(lambda box: True, lambda show: False)

    def text_groups(self, windows: Sequence[Box]) -> list[tuple[tuple[int, ...], bytes]]:
        """The text runs, grouped by the windows each one meets: (window indices, content stream) per group.

        A window's text is its groups together. Each run is in one group only, so text that two
        windows share (a node on the edge between two tiles) is stored once, not once per window.
        """
        groups: dict[tuple[int, ...], _TextStream] = {}
        number = 0
        index = _WindowIndex(windows)
        for unit in self.units:
            if not isinstance(unit, _TextObject):
                continue
            for part in unit.parts:
                if isinstance(part, _Show):
                    number += 1
                    met = index.met(part.box)
                    if met:
                        groups.setdefault(met, _TextStream()).add(part, number)
        return [(met, stream.finish()) for met, stream in groups.items()]

    def _select(self, keep_mark: Callable[[Box | None], bool], keep_show: Callable[[_Show], bool]) -> bytes:
        """The content stream of the marks and shows kept, with the state settings they may draw with."""
        out: list[bytes | None] = []
        pending: list[dict[str, int]] = [{}]  # per q level: each state setting nothing drew with yet
        opened: list[
            tuple[int, bool]
        ] = []  # per open q: its place in ``out``, whether the level outside drew
        drew = False

        def draw(data: bytes, needs: Callable[[str], bool]) -> None:
            nonlocal drew
            for level in pending:
                for key in [key for key in level if needs(key)]:
                    del level[key]
            out.append(data)
            drew = True

        def set_state(unit: _State) -> None:
            level = pending[-1]
            if unit.key in level:
                out[level[unit.key]] = None  # set again before anything drew with it
            level[unit.key] = len(out)
            out.append(unit.data)

        for unit in self.units:
            if isinstance(unit, _State):
                set_state(unit)
            elif isinstance(unit, _Mark):
                if keep_mark(unit.box):
                    draw(unit.data, _path_needs if unit.path else _anything)
            elif isinstance(unit, _TextObject):
                self._select_text(unit, keep_show, draw, set_state, out)
            elif unit.op == "q":
                opened.append((len(out), drew))
                drew = False
                pending.append({})
                out.append(unit.data)
            elif unit.op == "Q" and opened:
                start, outer_drew = opened.pop()
                for index in pending.pop().values():
                    out[index] = None  # Q restores the state: nothing drew with these
                if drew:
                    out.append(unit.data)
                else:
                    del out[start:]  # nothing drawn between q and Q: drop both
                drew = drew or outer_drew
            else:
                out.append(unit.data)
        for level in pending:  # set, and nothing drew with them before the end
            for index in level.values():
                out[index] = None
        return b"\n".join(part for part in out if part is not None) + b"\n"

    def _select_text(
        self,
        text: _TextObject,
        keep: Callable[[_Show], bool],
        draw: Callable[[bytes, Callable[[str], bool]], None],
        set_state: Callable[[_State], None],
        out: list[bytes | None],
    ) -> None:
        """A text object's kept shows, each from its own start; with none, only its state settings, outside it."""
        kept = {id(p) for p in text.parts if isinstance(p, _Show) and keep(p)}
        if kept:
            out.append(b"BT")
        needs = _anything if self._stroked_text else _text_needs
        previous_kept = False
        for part in text.parts:
            if isinstance(part, _State):
                set_state(part)  # the text state outlives the object: kept outside it when nothing is shown
            elif isinstance(part, _Plain):
                if kept:
                    out.append(part.data)
            elif id(part) in kept:
                flowing = previous_kept and part.follows  # it starts where the previous kept show ended
                start = b"" if flowing else (" ".join(map(_format, part.matrix)) + " Tm\n").encode()
                draw(start + part.data, needs)
                previous_kept = True
            else:
                previous_kept = False
        if kept:
            out.append(b"ET")


class _TextStream:
    """A content stream of chosen text runs, each drawn with the transformation and state it had."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.ctm: Matrix | None = None
        self.settings: dict[str, bytes] = {}
        self.open = False  # inside BT
        self.last = -1  # the number of the run added last

    def add(self, show: _Show, number: int) -> None:
        """Add ``show``, the drawing's ``number``-th run (runs are added in the drawing's order)."""
        lines = self.lines
        flowing = self.open and show.follows and number == self.last + 1
        if show.ctm != self.ctm:
            self._close()
            if self.ctm is not None:
                lines.append(b"Q")
            lines += [b"q", (" ".join(map(_format, show.ctm)) + " cm").encode()]
            self.ctm, self.settings = show.ctm, {}
        for key, data in show.state:
            if self.settings.get(key) != data:
                lines.append(data)
                self.settings[key] = data
        if not self.open:
            lines.append(b"BT")
            self.open = True
        if not flowing:
            lines.append((" ".join(map(_format, show.matrix)) + " Tm").encode())
        lines.append(show.data)
        self.last = number

    def _close(self) -> None:
        if self.open:
            self.lines.append(b"ET")
            self.open = False

    def finish(self) -> bytes:
        self._close()
        if self.ctm is not None:
            self.lines.append(b"Q")
        return b"\n".join(self.lines) + b"\n"


class _WindowIndex:
    """Which of many windows a box meets, without testing every window.

    NASNetMobile's diagram has about 4,600 text runs and 116 tiles: testing each run against
    each tile was half a million tests. The windows are filed in the cells of a grid as fine
    as the smallest window, and a box is tested against the windows filed where it lies.
    """

    def __init__(self, windows: Sequence[Box]) -> None:
        self.windows = list(windows)
        self.cells: dict[tuple[int, int], list[int]] | None = None
        sizes = [(w[2] - w[0], w[3] - w[1]) for w in self.windows]
        if not sizes or min(min(size) for size in sizes) <= 0:
            return  # an empty window: every window is tested
        self.cell = (min(w for w, _ in sizes), min(h for _, h in sizes))
        self.cells = {}
        for i, window in enumerate(self.windows):
            for key in self._keys(window):
                self.cells.setdefault(key, []).append(i)

    def _keys(self, box: Box) -> list[tuple[int, int]]:
        cw, ch = self.cell
        xs = range(int(box[0] // cw), int(box[2] // cw) + 1)
        ys = range(int(box[1] // ch), int(box[3] // ch) + 1)
        return [(x, y) for x in xs for y in ys]

    def met(self, box: Box | None) -> tuple[int, ...]:
        """The indices, in order, of the windows ``box`` meets (None: every window)."""
        if box is None:
            return tuple(range(len(self.windows)))
        if self.cells is None or (box[2] - box[0]) * (box[3] - box[1]) > 4 * self.cell[0] * self.cell[1]:
            candidates: Iterable[int] = range(len(self.windows))
        else:
            candidates = sorted({i for key in self._keys(box) for i in self.cells.get(key, ())})
        return tuple(i for i in candidates if meets(box, self.windows[i]))


def _within(show: _Show, window: Box) -> bool:
    return show.box is None or meets(show.box, window)


def _anything(key: str) -> bool:
    return True


def _path_needs(key: str) -> bool:
    """Whether a painted path draws with a state setting: all but the text state's (Cairo sets
    the font between paths, and a tile's marks hold no text)."""
    return key not in _TEXT_STATE


def _text_needs(key: str) -> bool:
    """Whether filled text draws with a state setting: everything but the stroke's."""
    return key not in ("stroke", "w", "J", "j", "M", "d")
