"""Tokens read from users' files: numbers in PLINK's grammar, IDs that are safe to write
into a tab-separated table, string columns whose memory follows their text, and how a
bad token is shown in a one-line message.
"""
import re

import numpy as np

from ..errors import InputError

# ASCII decimal numbers only, as PLINK reads them: Python's float() also takes "1_5" and
# other scripts' digits ("١٥"), which a user's file must not silently mean 15
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)\Z", re.IGNORECASE)
_INTEGER = re.compile(r"[0-9]+\Z")
INT_MAX = 2**31 - 1


_VISIBLE = bytes(range(0x21, 0x7f))     # ASCII without controls and the space
SHOWN = 40      # characters of a bad token shown in a message


def show(token):
    """``token`` for a one-line message: its repr (control characters escaped), cut
    after :data:`SHOWN` characters with the full length said."""
    token = str(token)
    if len(token) <= SHOWN:
        return repr(token)
    return f"{token[:SHOWN]!r}… ({len(token):,} characters)"


def parse_number(token):
    """``token`` as a float in the strict ASCII grammar (``nan``/``inf`` spelled out
    give a non-finite value, for the caller to refuse); None when it is not a number."""
    if _NUMBER.match(token) or _NON_FINITE.match(token):
        return float(token)
    return None


def parse_position(token):
    """A whole number in 0 … 2³¹ − 1 (a base-pair position), or None."""
    if _INTEGER.match(token) and len(token.lstrip("0")) <= 10:
        v = int(token)
        if v <= INT_MAX:
            return v
    return None


def text_array(values):
    """A numpy array of the str ``values``: fixed-width ``U`` when that costs at most
    twice the text (or every string is short), else an object array, whose memory is
    proportional to the text: one long token (a structural-variant allele, a 10,000-
    character ID) no longer multiplies the whole column's memory."""
    values = values.tolist() if isinstance(values, np.ndarray) else list(values)
    n = len(values)
    if n == 0:
        return np.array([], dtype=str)
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=n)
    w = int(lengths.max())
    if w <= 16 or w * n <= 2 * int(lengths.sum()):
        return np.array(values, dtype=f"U{max(w, 1)}")
    out = np.empty(n, dtype=object)
    out[:] = values
    return out


def as_text(column):
    """A string column from the compiled parser (bytes array, or object array of str)
    as :func:`text_array` would make it."""
    if column.dtype == object:
        return column
    return column.astype(str)


def check_columns(columns, where):
    """:func:`check_ids` of several columns ``[(what, values), …]``, joined once."""
    every = [v for _, values in columns for v in
             (values.tolist() if isinstance(values, np.ndarray) else values)]
    if _safe("".join(every)):
        return
    for what, values in columns:
        check_ids(values, what, where)


def _safe(joined):
    if joined.isascii():    # the usual case: delete the visible bytes, nothing may remain
        return not joined.encode("ascii").translate(None, _VISIBLE)
    return joined.isprintable() and " " not in joined


def check_ids(values, what, where):
    """Refuse IDs or alleles (``what``, e.g. "variant ID") with whitespace, control or
    other non-printing characters: written into the tab-separated tables a tab or
    newline would shift columns or forge rows, others corrupt the text.  ``where`` names the file (and option) in the message."""
    values = values.tolist() if isinstance(values, np.ndarray) else values
    if not values:
        return
    # str.isprintable is False for control, separator (but the ASCII space) and other
    # non-printing characters; in C, ten times faster than the regular expression
    if _safe("".join(values)):
        return
    for k, v in enumerate(values):
        if not v.isprintable() or " " in v:
            raise InputError(f"{where}: {what} {k + 1} is {show(v)}, which holds whitespace "
                             "or a control character (not allowed in IDs and alleles)")


def read_lines(path, label, suffix="", describe=None):
    """The lines of a small UTF-8 text file (a sample list, a .psam): a missing or
    unreadable file is an InputError ``"<label>: file not found<suffix>"`` or
    ``"<label>: cannot read (<why>)<suffix>"``, ``why`` the exception's first line or
    ``describe(exc)``."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        raise InputError(f"{label}: file not found{suffix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        if describe is None:
            text = str(exc).strip()
            why = text.splitlines()[0] if text else type(exc).__name__
        else:
            why = describe(exc)
        raise InputError(f"{label}: cannot read ({why}){suffix}") from None
