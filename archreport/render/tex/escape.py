"""Text into LaTeX: any layer or model name, set so pdflatex, XeLaTeX and LuaLaTeX all compile it.

A name is the user's text: ``_ & % # $ { } ~ ^ \\`` are LaTeX syntax, and a character
pdflatex has no glyph for (α, 中, an emoji) stops the build with "Unicode character ...
not set up for use with LaTeX". So:

- In typewriter (:func:`mono`: layer names, classes, shapes), an ASCII symbol is
  ``\\char<code>{}``: its own glyph, at its ASCII slot in the typewriter fonts of OT1
  (Computer Modern's default), T1 and Unicode (XeLaTeX, LuaLaTeX) alike. ``\\_`` would draw
  a rule in OT1, which text extraction does not read as "_", and a reviewer searching the
  paper for ``conv2d_1`` would not find it.
- In the body font (:func:`text`: model names), the LaTeX commands for each symbol.
- Any other non-ASCII character goes through ``\\ArchreportChar{<hex>}{<char>}``
  (:data:`PREAMBLE`): the character itself under XeLaTeX or LuaLaTeX, or under pdflatex
  when its UTF-8 support knows it (é, ß, ł ...), else ``[U+03B1]``.
"""

from __future__ import annotations

import unicodedata

from archreport import units

# Defined by every file of the kit (\providecommand: the first definition wins), so each one
# can be \input on its own. \Umathcode exists only in XeTeX and LuaTeX; pdflatex's utf8
# support names each character it knows u8:<its bytes>.
PREAMBLE = (
    "\\providecommand*\\ArchreportChar[2]{\\ifdefined\\Umathcode#2\\else"
    "\\ifcsname u8:\\detokenize{#2}\\endcsname#2\\else\\texttt{[U+#1]}\\fi\\fi}"
)
# Symbols in the body font; the ligature characters get {} after them, so "--" stays two
# hyphens and "``" two backquotes. \$ is \textdollar, which Computer Modern draws from its TS1
# fonts: Type 3 bitmaps where cm-super is not installed; its OT1, T1 and Unicode slot is 36.
_TEXT = {
    "\\": "\\textbackslash{}", "{": "\\{", "}": "\\}", "$": "\\char36{}", "&": "\\&", "%": "\\%", "#": "\\#",
    "_": "\\_", "~": "\\textasciitilde{}", "^": "\\textasciicircum{}", "<": "\\textless{}",
    ">": "\\textgreater{}", "|": "\\textbar{}", "-": "-{}", "'": "'{}", "`": "`{}", ",": ",{}",
    "!": "!{}", "?": "?{}", '"': "''",
}  # fmt: skip
_MONO_SYMBOLS = set('\\{}$&%#_~^<>|"-`!?')


def _other(ch: str) -> str:
    """A character beyond printable ASCII."""
    code = ord(ch)
    # A control, surrogate, private or unassigned character, or a bidirectional control (units.visible):
    # shown as its code, not set.
    if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") or units.visible(ch) != ch:
        return f"\\texttt{{[U+{code:04X}]}}"
    return f"\\ArchreportChar{{{code:04X}}}{{{ch}}}"


def _clean(value: str) -> str:
    """NFC, with tabs and line breaks as spaces: a name is one line of a table."""
    return unicodedata.normalize("NFC", value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def text(value: str) -> str:
    """``value`` for the body font."""
    out = []
    for ch in _clean(value):
        if ch in _TEXT:
            out.append(_TEXT[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(_other(ch))
    return "".join(out)


def mono(value: str) -> str:
    """``value`` in typewriter, with every character searchable as itself where the font has it."""
    out = []
    for ch in _clean(value):
        if ch in _MONO_SYMBOLS:
            out.append(f"\\char{ord(ch)}{{}}")
        elif ch == " ":
            out.append("\\ ")  # spaces in a name keep their number
        elif " " < ch <= "~":
            out.append(ch)
        else:
            out.append(_other(ch))
    return "\\texttt{" + "".join(out) + "}"
