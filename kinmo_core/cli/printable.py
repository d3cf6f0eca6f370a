"""Text from files and prompts made safe to print: control and formatting characters shown as escapes.

A motion file's text, a joint name or a prompt may hold terminal escape sequences (ESC [ ...), carriage returns or
bidirectional overrides that would rewrite what the user sees; every such character is printed as \\xNN or \\uNNNN.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

# Cc: C0/C1 controls (ESC, CR, BEL, CSI ...); Cf: format (bidi overrides, zero-width); Zl/Zp: line separators;
# Cs: lone surrogates (from undecodable bytes).
_UNSAFE = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object, keep_newlines: bool = False) -> str:
    """Return str(text) with every control/format character escaped (newlines kept when keep_newlines)."""
    s = str(text)
    if s.isprintable():  # the common case, fast
        return s
    return "".join(
        ch if (keep_newlines and ch == "\n") or unicodedata.category(ch) not in _UNSAFE else _escape(ch) for ch in s
    )


def printable_json(obj: Any, **kwargs: Any) -> str:
    """json.dumps(obj) with non-ASCII kept readable but control/format characters escaped (\\uNNNN)."""
    kwargs.setdefault("ensure_ascii", False)
    s = json.dumps(obj, **kwargs)
    if s.isprintable():
        return s
    # Outside strings JSON holds only ASCII punctuation and newlines, so every unsafe character is inside a string.
    return "".join(ch if ch == "\n" or unicodedata.category(ch) not in _UNSAFE else _json_escape(ch) for ch in s)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def warnings_on_one_line() -> None:
    """Print Python warnings as one sanitised line, `warning: <message>`, on stderr (no file, line or source)."""
    import sys
    import warnings

    def one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"warning: {printable(message)}", file=sys.stderr)

    warnings.showwarning = one_line_warning
