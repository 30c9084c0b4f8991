"""Reading a spec file safely: bounded size, regular files only, decoding with a located error.

A spec is a small text file.  Directories, FIFOs (which would block), devices (``/dev/zero`` never
ends) and sockets are refused before anything is read; a file larger than the bound is refused
after reading one byte past it; bytes that are not UTF-8 are reported with their line, column and
byte offset.  UTF-16 and UTF-32 files that start with a byte-order mark (as Windows editors write
them) are decoded; UTF-8 with a BOM is accepted as is.
"""
from __future__ import annotations

import codecs
import os
import stat

from ..errors import Diagnostic, Loc, SpecErrors
from .. import limits
from ..i18n import _

_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def _fail(message: str, loc: Loc | None, hints=(), code="unreadable-file"):
    raise SpecErrors([Diagnostic("error", message, loc, list(hints), code=code)])


def _kind_of(mode: int) -> str | None:
    if stat.S_ISDIR(mode):
        return _("a directory")
    if stat.S_ISFIFO(mode):
        return _("a named pipe (FIFO)")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return _("a device")
    if stat.S_ISSOCK(mode):
        return _("a socket")
    if not stat.S_ISREG(mode):
        return _("not a regular file")
    return None


def read_source(path: str) -> str:
    """The text of the spec at ``path``, or SpecErrors saying why it cannot be read."""
    where = Loc(str(path), 1, 1)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _fail(_("no such file: {path}").format(path=path), None, code="no-such-file")
    except OSError as e:
        _fail(_("cannot read {path}: {strerror}").format(path=path, strerror=e.strerror or e), None)
    kind = _kind_of(st.st_mode)
    if kind:
        _fail(_("{path} is {kind}, not a spec file").format(path=path, kind=kind), None, [_("give the path of a YAML spec file")])
    limit = limits.get("file_bytes")
    if st.st_size > limit:
        _too_big(path, limit)
    try:
        # O_NONBLOCK: should the path have been swapped for a FIFO since the stat, open does not block.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                _fail(_("{path} is not a regular file").format(path=path), None)
            data = f.read(limit + 1)
    except OSError as e:
        _fail(_("cannot read {path}: {strerror}").format(path=path, strerror=e.strerror or e), None)
    if len(data) > limit:
        _too_big(path, limit)
    return decode(data, str(path))


def _too_big(path, limit):
    _fail(_("{path} is larger than {limit:,} bytes; a spec is a small text file").format(path=path, limit=limit), Loc(str(path), 1, 1),
          [limits.hint("file_bytes")], code="limit")


def decode(data: bytes, file: str) -> str:
    """Bytes -> text: UTF-8 (with or without BOM), or UTF-16/32 with a BOM; else a located error."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc)
            except UnicodeDecodeError as e:
                _bad_bytes(data, file, e, enc)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        _bad_bytes(data, file, e, "utf-8")


def _bad_bytes(data: bytes, file: str, e: UnicodeDecodeError, enc: str):
    pos = e.start
    before = data[:pos]
    line = before.count(b"\n") + 1
    col_bytes = before[before.rfind(b"\n") + 1:]
    col = len(col_bytes.decode("utf-8", errors="replace")) + 1 if enc == "utf-8" else 1
    hints = [_("save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 in.yaml > out.yaml`)")]
    if b"\x00" in data[:64] and enc == "utf-8":
        hints.insert(0, _("this looks like UTF-16 without a byte-order mark: save it as UTF-8, or as UTF-16 with a "
                          "BOM"))
    _fail(_("the file is not valid {enc}: byte 0x{data:02x} at byte offset {pos}").format(enc=enc.upper().replace('-SIG', ''), data=data[pos], pos=pos),
          Loc(file, line, col), hints, code="encoding")
