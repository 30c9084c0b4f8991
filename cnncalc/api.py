"""The library's entry points: what the command line, scripts and notebooks call (no torch imported here).

``analyze`` takes a spec (a path, spec text, or a dict), a ``MODULE:ATTR`` string or an ``nn.Module``
and returns a :class:`Report`; ``memory``, ``explain``, ``check`` and ``verify`` answer the other
questions.  Invalid input raises :class:`SpecError`, which carries every located diagnostic.
Documented, with examples run by the tests, in docs/api.md.
"""
from __future__ import annotations

import json
import os

from .errors import Diagnostic, SpecErrors, UsageError
from .i18n import language
from .i18n import set_language  # noqa: F401  (re-exported: the language of every message, "zh" or "en")


class SpecError(SpecErrors, ValueError):
    """Invalid input.  ``.diagnostics`` holds every problem found, each with its ``file:line:col``,
    message and hints; ``str()`` renders them as the command line does."""

    def __init__(self, diagnostics):
        diagnostics = list(diagnostics)
        super().__init__(diagnostics)

    @classmethod
    def of(cls, e: SpecErrors) -> "SpecError":
        return e if isinstance(e, cls) else cls(e.diagnostics)


# ------------------------------------------------------------------------------------------ the report
class Layer:
    """One row of the report: the JSON keys as attributes (``layer.output_shape``, ``layer.macs``)."""

    __slots__ = ("_d",)

    def __init__(self, d: dict):
        object.__setattr__(self, "_d", d)

    def __getattr__(self, key):
        try:
            return self._d[key]
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key):
        return self._d[key]

    def __dir__(self):
        return list(self._d)

    def keys(self):
        return self._d.keys()

    def to_dict(self) -> dict:
        return json.loads(json.dumps(self._d))

    def __repr__(self):
        return f"<Layer {self._d.get('name')} {self._d.get('op')} -> {self._d.get('output_shape')}>"


class Report:
    """The analysis of one network.  ``.totals`` (a dict), ``.layers`` (a list of :class:`Layer`),
    ``.diagnostics``, ``.expect``, ``.to_dict()``, ``.to_json()``; printed, the per-layer table; in
    Jupyter, an HTML table.  ``report["totals"]`` reads the JSON report as a dict."""

    def __init__(self, data: dict, analysis=None):
        self._data = data
        self._analysis = analysis

    # the JSON report, read as attributes
    @property
    def model(self) -> str:
        return self._data["model"]

    @property
    def totals(self) -> dict:
        return self._data["totals"]

    @property
    def layers(self) -> list[Layer]:
        return [Layer(d) for d in self._data["layers"]]

    @property
    def diagnostics(self) -> list[dict]:
        return self._data["diagnostics"]

    @property
    def expect(self) -> list[dict]:
        return self._data.get("expect", [])

    @property
    def conventions(self) -> dict:
        return self._data["conventions"]

    def layer(self, name: str) -> Layer:
        for d in self._data["layers"]:
            if d["name"] == name:
                return Layer(d)
        from .errors import suggest
        s = suggest(name, [d["name"] for d in self._data["layers"]])
        raise KeyError(f"no layer named {name!r}" + (f"; did you mean {s[0]!r}?" if s else ""))

    def __getitem__(self, key):
        return self._data[key]

    def keys(self):
        return self._data.keys()

    def to_dict(self) -> dict:
        return json.loads(self.to_json())

    def to_json(self, indent=None) -> str:
        from .render.table import render_json
        if indent is None:
            return render_json(self._data).rstrip("\n")
        return json.dumps(self._data, indent=indent)

    # rendering
    def _table_text(self, width=100) -> str:
        from .render import table as R
        return R.render_table(self._data, width, None) + R.render_expects(self._data, width)

    def __str__(self):
        return self._table_text()

    def __rich_console__(self, console, options):
        from rich.text import Text
        yield Text(self._table_text(width=options.max_width))

    def __repr__(self):
        t = self.totals
        return (f"<Report {self.model}: {t['params']:,} params, {t['macs']:,} MACs, {t['flops']:,} FLOPs "
                f"({self.conventions['name']} conventions), {len(self._data['layers'])} layers>")

    def _repr_html_(self):
        from html import escape
        t = self.totals
        cols = ("name", "op", "output_shape", "params", "macs", "flops", "output_bytes")
        head = "".join(f"<th>{escape(c)}</th>" for c in cols)
        rows = []
        for d in self._data["layers"]:
            cells = []
            for c in cols:
                v = d.get(c)
                cells.append(f"<td>{escape(f'{v:,}' if isinstance(v, int) else str(v))}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        summary = (f"<p><b>{escape(self.model)}</b>: {t['params']:,} parameters, {t['macs']:,} MACs, "
                   f"{t['flops']:,} FLOPs ({escape(self.conventions['name'])} conventions), batch "
                   f"{self._data['batch']}, {escape(self._data['dtype'])}</p>")
        return summary + f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


# ------------------------------------------------------------------------------------------ analysis
from .pipeline import _shape, analysis_for, analyze_path  # noqa: E402,F401  (the engine's entry points)


def _is_module(obj) -> bool:
    import sys
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _module_inputs(input):
    if input is None:
        return None
    s = _shape(input)
    if isinstance(s, dict):
        return [f"{k}={'x'.join(map(str, v))}" for k, v in s.items()]
    return ["x".join(map(str, s))]


def _source(source):
    """-> ("spec", path, text) or ("module", target, model)."""
    if _is_module(source):
        return "module", "", source
    if isinstance(source, dict):
        return "spec", "<dict>", json.dumps(source)
    if isinstance(source, os.PathLike):
        return "spec", os.fspath(source), None
    if isinstance(source, str):
        if "\n" in source:
            return "spec", "<text>", source
        if os.path.exists(source):
            return "spec", source, None
        if ":" in source and not source.endswith((".yaml", ".yml", ".json")):
            return "module", source, None
        raise FileNotFoundError(f"no such spec file: {source!r}")
    raise TypeError("analyze() takes a spec path, spec text, a dict, 'MODULE:ATTR' or an nn.Module, "
                    f"not {type(source).__name__}")


def _analysis(source, *, input=None, batch=None, dtype=None, convention=None, sets=None, kwargs=None):
    kind, where, obj = _source(source)
    try:
        if kind == "module":
            from .needs import require_torch
            require_torch("analysing a PyTorch module")
            from .frontends import module_target
            a = module_target.analysis_for_module(where, batch=batch, inputs=_module_inputs(input),
                                                  convention=convention, dtype=dtype, kwargs=kwargs,
                                                  model=obj if where == "" else None)
        else:
            a = analysis_for(where, batch=batch, input_shape=_shape(input) if input is not None else None,
                             overrides=dict(sets or {}), convention=convention, dtype=dtype, text=obj)
    except SpecErrors as e:
        raise SpecError.of(e) from None
    except UsageError as e:
        raise SpecError([Diagnostic("error", str(e))]) from None
    if a.has_errors or any(d.severity == "error" for d in a.diagnostics):
        raise SpecError(a.diagnostics)
    return a


def analyze(source, *, input=None, batch=None, dtype=None, convention=None, sets=None) -> Report:
    """Analyse a network: shapes, parameters, MACs and FLOPs, memory and receptive field of every layer.

    ``source``: a spec file's path, spec text (YAML or JSON), a dict, ``"MODULE:ATTR"``, or a
    ``torch.nn.Module`` (which needs ``input``, its input shape without the batch). ``input``:
    ``"3x64x64"``, ``[3, 64, 64]`` or ``(3, 64, 64)``, or a dict of them for several inputs; for a spec,
    it replaces the spec's input. ``sets``: spec variables to override, ``{"width": 32}``.
    Raises :class:`SpecError` (with every diagnostic) when the input is invalid.
    """
    a = _analysis(source, input=input, batch=batch, dtype=dtype, convention=convention, sets=sets)
    return Report(a.report(), a)


def _analysis_of(source, **kw):
    if isinstance(source, Report):
        if source._analysis is None:
            raise ValueError("this report carries no analysis; pass the spec instead")
        return source._analysis
    return _analysis(source, **kw)


def memory(source, *, optimizer: str = "adam", amp: bool = False, input=None, batch=None, dtype=None,
           sets=None) -> dict:
    """The memory of one training step and of inference, in bytes: weights, gradients, optimizer
    state, saved activations, peaks (docs/memory.md).  ``source`` as for :func:`analyze`, or a
    :class:`Report`."""
    from .core.memory import breakdown, optimizer_slots
    try:
        optimizer_slots(optimizer)
    except Exception as e:  # noqa: BLE001  (an unknown optimizer: say which exist)
        raise ValueError(str(e)) from None
    a = _analysis_of(source, input=input, batch=batch, dtype=dtype, sets=sets)
    return breakdown(a, optimizer, amp)


def explain(source, node: str | None = None, *, unicode: bool = False, lang: str | None = None) -> str:
    """Every number of ``node`` (an instance path such as ``"layer1.0.conv1"``, a block or group name,
    or None for the whole network) as formula = values substituted = result.  ``source``: a
    :class:`Report` or anything :func:`analyze` takes.  ``lang``: "zh" or "en" (default: the language
    in force, :func:`set_language`)."""
    from .render import explain as E
    a = _analysis_of(source)
    with language(lang):
        try:
            items = E.explain(a, [node] if node else [])
        except E.UnknownNode as e:
            raise KeyError(str(e)) from None
        return E.render_text(items, unicode=unicode)


def check(source, answers=None, *, input=None, batch=None, dtype=None, convention=None, sets=None,
          lang: str | None = None) -> dict:
    """Homework checking: every ``expect`` of the spec (or of the ``answers`` file) right or wrong,
    with the formula and a diagnosis of the mistake (docs/homework.md).  Returns the JSON report, its
    prose in ``lang`` ("zh" or "en"; default: the language in force)."""
    from .homework.checker import check_path
    kind, where, text = _source(source)
    if kind != "spec":
        raise TypeError("check() takes a spec (path, text or dict)")
    try:
        with language(lang):
            return check_path(where, answers, text=text, batch=batch,
                              input_shape=_shape(input) if input is not None else None, overrides=dict(sets or {}),
                              convention=convention, dtype=dtype)
    except SpecErrors as e:
        raise SpecError.of(e) from None


def verify(source, *, input=None, batch=None, dtype=None, sets=None, device: str = "auto", seed: int = 0,
           probe: bool = True, fvcore: bool = True) -> dict:
    """Build the real torch model, run it and compare every number (docs/verify.md).  Needs torch
    (``pip install 'cnncalc[torch]'``).  Returns the JSON report (``["summary"]``, ``["checks"]``)."""
    from .needs import require_torch
    require_torch("verify")
    from .crosscheck.checks import verify as _verify
    kind, where, text = _source(source)
    if kind != "spec":
        raise TypeError("verify() takes a spec (path, text or dict)")
    try:
        res = _verify(where, batch=batch, input_shape=_shape(input) if input is not None else None,
                      overrides=dict(sets or {}), dtype=dtype, device=device, seed=seed, text=text,
                      probe=probe, fvcore=fvcore)
    except SpecErrors as e:
        raise SpecError.of(e) from None
    return res.to_dict() if hasattr(res, "to_dict") else res


__all__ = ["analyze", "memory", "explain", "check", "verify", "Report", "Layer", "SpecError", "set_language",
           "analyze_path", "analysis_for", "SpecErrors"]
