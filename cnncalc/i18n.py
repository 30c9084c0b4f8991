"""The language cnncalc speaks: English (the msgids themselves) or Chinese (a gettext catalog).

One place for it all:

* :func:`current` is the language now in force: the one given to :func:`set_language` (the CLI's
  ``--lang``, the API's ``lang=``), else ``CNNCALC_LANG``, else the POSIX locale variables
  ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` (the first that is set): ``zh``, ``zh_CN.UTF-8``, ``zh_TW``
  give Chinese; anything else (``en_US.UTF-8``, ``C``, unset) gives English.
* :func:`_` and :func:`ngettext` translate a message; messages are whole sentences with named
  placeholders (``_("{name}: output {shape}").format(name=..., shape=...)``) so that a translation
  may reorder them.  :func:`N_` only marks a message for extraction (translated later with ``_``).
* The catalog is the standard one: ``cnncalc/locale/zh/LC_MESSAGES/cnncalc.po`` (extracted and
  compiled with Babel, see ``tools/i18n.sh``), read with the standard library's :mod:`gettext` from
  the compiled ``cnncalc.mo`` only when Chinese is asked for: English costs no file read at all.

JSON keys and identifiers are never translated; reports that carry prose gain a ``lang`` field.
"""
from __future__ import annotations

import os

LANGS = ("en", "zh")
DOMAIN = "cnncalc"
LOCALE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locale")

_chosen: str | None = None          # set_language's choice; None: from the environment
_catalogs: dict = {}


def normalize(value: str | None) -> str | None:
    """`zh`, `zh_CN.UTF-8`, `zh-TW`, `ZH` -> "zh"; `en...`, `C`, `POSIX` -> "en"; empty -> None."""
    if not value:
        return None
    v = value.strip().lower().replace("-", "_")
    if not v:
        return None
    return "zh" if v.split(".")[0].split("_")[0].split(":")[0] == "zh" else "en"


def from_environment(environ=None) -> str:
    env = os.environ if environ is None else environ
    for var in ("CNNCALC_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        lang = normalize(env.get(var))
        if lang:
            return lang
    return "en"


def set_language(lang: str | None) -> str:
    """Speak `lang` ("zh" or "en"; None: follow the environment again).  Returns the language now in force."""
    global _chosen
    if lang is not None:
        lang = str(getattr(lang, "value", lang)).strip().lower()
        if lang not in LANGS:
            raise ValueError(f"unknown language {lang!r}: use one of {', '.join(LANGS)}")
    _chosen = lang
    return current()


def chosen() -> str | None:
    """What set_language was given (None: the environment decides)."""
    return _chosen


def current() -> str:
    return _chosen if _chosen is not None else from_environment()


class language:
    """``with language("zh"): ...`` speaks Chinese inside the block, then what was in force before
    (``language(None)`` changes nothing: an API function's ``lang=None``)."""
    def __init__(self, lang):
        self.lang = lang

    def __enter__(self):
        self.saved = _chosen
        if self.lang is not None:
            set_language(self.lang)
        return current()

    def __exit__(self, *exc):
        global _chosen
        _chosen = self.saved
        return False


def _catalog(lang: str):
    cat = _catalogs.get(lang)
    if cat is None:
        import gettext
        cat = _catalogs[lang] = gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)
    return cat


def _(message: str) -> str:
    """The message in the current language (English: the message itself)."""
    lang = current()
    if lang == "en" or not message:
        return message
    return _catalog(lang).gettext(message)


gettext = _


def ngettext(singular: str, plural: str, n: int) -> str:
    lang = current()
    if lang == "en":
        return singular if n == 1 else plural
    return _catalog(lang).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a message for extraction only; translate it where it is shown, with ``_(message)``."""
    return message


def is_zh() -> bool:
    return current() == "zh"


def tag(report: dict) -> dict:
    """A report that carries prose, with the language it speaks (a new key, after the others)."""
    report["lang"] = current()
    return report

