"""Human-readable sizes and durations, and safe text for output, the same on every surface (CLI, widgets,
magics, hub)."""

from __future__ import annotations

import re
import unicodedata


def format_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


# Characters a terminal or a browser would act on instead of showing: C0/C1 controls (ESC starts terminal
# escape sequences), bidi overrides and isolates, zero-width and other invisible format characters, line
# and paragraph separators, and lone surrogates (how Python carries a non-UTF-8 file name).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# bounded and anchored at a scheme's start, so a long run of letters costs linear time, not quadratic
_CREDENTIALS = re.compile(
    r"(?<![A-Za-z0-9+.\-])(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]{0,31}://)(?P<user>[^/@\s:]{0,256}):"
    r"(?P<secret>[^/\s]{0,8192})@"
)


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: object, *, multiline: bool = False) -> str:
    """``text`` safe to print on a terminal or in a notebook: invisible and control characters escaped
    (``\\x1b``, ``\\u202e``), so a run name, file name or parameter cannot reorder, hide or recolour what
    is shown next to it. ``multiline`` keeps newlines and tabs (batch scripts, logs). The data itself is
    never changed: only what is printed."""
    value = str(text)
    if value.isprintable() or (multiline and value.replace("\n", "").replace("\t", "").isprintable()):
        return value
    keep = "\n\t" if multiline else ""
    return "".join(
        _escape(c) if c not in keep and (c != " " and unicodedata.category(c) in _HIDDEN_CATEGORIES) else c
        for c in value
    )


def printable_log(text: str) -> str:
    """A job's own output for a terminal: carriage returns (progress bars) become new lines, everything
    else as :func:`printable` with lines kept."""
    return printable(text.replace("\r\n", "\n").replace("\r", "\n"), multiline=True)


def redact(text: object) -> str:
    """``text`` with the password of any ``scheme://user:password@host`` replaced by ``***``: one place for
    every message and log line that may carry a URI."""
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(text))
