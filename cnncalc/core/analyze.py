"""Analysis passes over the layer graph, and the JSON-serialisable report.

Passes (each a walk over the topologically ordered nodes):
  costs     params/buffers per module (shared modules once), MACs/FLOPs per call
  memory    output bytes, saved-for-backward bytes (deduplicated by storage)
  rf        receptive field per axis, in the coordinates of each network input
  expect    the spec's expected answers, checked
"""
from __future__ import annotations

import math
from fractions import Fraction

from ..conventions import MAC_RULES
from ..errors import Diagnostic
from ..spec.loader import DTYPES
from .expect_input import settle
from .units import match_number, parse_number

SCHEMA_VERSION = 1
BATCH_LINEAR = ("macs", "flops", "activations", "memory", "saved", "bwd_flops")


def _num(x):
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else float(x)
    return x


def _q(x):
    """Keep receptive-field values as ints whenever they are whole (Fraction arithmetic is slow)."""
    if type(x) is Fraction and x.denominator == 1:
        return x.numerator
    return x


def _frac_val(x):
    """An exact value for a Figure: int when whole, else the Fraction."""
    x = Fraction(x)
    return int(x) if x.denominator == 1 else x


def _frac_text(x):
    if isinstance(x, Fraction) and x.denominator != 1:
        return f"{x.numerator}/{x.denominator}"
    return str(int(x)) if isinstance(x, Fraction) else str(x)


class Analysis:
    """All numbers for one graph under one convention.  `report()` gives the JSON form."""

    def __init__(self, graph, diagnostics=(), warnings=()):
        self.g = graph
        self.conv = graph.conventions
        self.itemsize = DTYPES[graph.dtype]
        self.diagnostics = list(diagnostics) + list(warnings)
        self.has_errors = any(d.severity == "error" for d in diagnostics)
        self.layer = {}          # node id -> dict
        self.excluded = set()    # rules excluded by the convention that had work
        self._costs()
        self._memory()
        self._rf()
        self.expect_results = self._expects()

    # ------------------------------------------------------------------ costs
    def _costs(self):
        g, conv = self.g, self.conv
        seen_modules = set()
        needs_grad = {}
        for n in g.nodes:
            if n.is_input:
                needs_grad[n.id] = False
                continue
            k = n.kind
            first_call = n.module not in seen_modules
            seen_modules.add(n.module)
            p = k.params().value
            b = k.buffers().value
            macs = flops = 0
            for t in k.terms():
                c = conv.cost(t.rules)
                if t.rules[0] in MAC_RULES:
                    if conv.counts_macs(t.rules[0]):
                        macs += t.count
                if c is None:
                    if not t.alt and t.count:
                        self.excluded.add(t.rules[-1])
                    continue
                flops += t.count * c
            # backward: the input gradient is needed unless every input is a graph input or
            # comes only from such (parameters need grads; inputs do not)
            ng = any(needs_grad.get(nid, False) for nid, _ in n.inputs)
            has_params = p > 0
            needs_grad[n.id] = ng or has_params or any(needs_grad.get(nid) for nid, _ in n.inputs)
            bwd = 0
            bwd_macs = 0
            if needs_grad[n.id]:
                for t in k.bwd_terms(ng):
                    c = conv.cost(t.rules)
                    if t.rules[0] in MAC_RULES and \
                            conv.counts_macs(t.rules[0]):
                        bwd_macs += t.count
                    if c is not None:
                        bwd += t.count * c
            self.layer[n.id] = {
                "params": p if first_call else 0,
                "module_params": p,
                "buffers": b if first_call else 0,
                "macs": macs,
                "flops": _num(flops),
                "bwd_macs": bwd_macs,
                "bwd_flops": _num(bwd),
                "needs_input_grad": ng,
                "in_autograd": needs_grad[n.id],
            }

    # ------------------------------------------------------------------ memory
    def _memory(self):
        g = self.g
        B = g.batch
        isz = self.itemsize
        storage = {}      # (node id, out idx) -> storage id
        size = {}         # storage id -> bytes
        for n in g.nodes:
            if n.is_input:
                storage[(n.id, 0)] = ("s", n.id, 0)
                size[("s", n.id, 0)] = B * math.prod(n.out_shapes[0]) * isz
                continue
            k = n.kind
            for i, s in enumerate(n.out_shapes):
                if k.view and n.inputs:
                    storage[(n.id, i)] = storage[n.inputs[0]]
                else:
                    sid = ("s", n.id, i)
                    storage[(n.id, i)] = sid
                    size[sid] = B * math.prod(s) * isz
        saved_seen = set()
        self.total_saved = 0
        for n in g.nodes:
            if n.is_input:
                continue
            k = n.kind
            L = self.layer[n.id]
            out_bytes = 0 if k.view else sum(B * math.prod(s) * isz for s in n.out_shapes)
            L["output_bytes"] = B * sum(math.prod(s) for s in n.out_shapes) * isz
            L["alloc_bytes"] = out_bytes
            mine = 0
            items = []
            # autograd records (and saves for) only ops with an input or a parameter needing a gradient;
            # the items are still listed (max pooling computes its indices even without autograd)
            rec = L["in_autograd"]
            for sv in k.saved():
                if sv.alias:
                    if sv.alias == "output":
                        sid = storage[(n.id, 0)]
                    else:
                        idx = 0 if sv.alias == "input" else int(sv.alias[5:])
                        sid = storage[n.inputs[idx]]
                    nbytes = size[sid]
                else:
                    sid = ("t", n.id, sv.what)
                    per = sv.itemsize if sv.itemsize is not None else isz
                    nbytes = (sv.numel if (not sv.batched or sv.what in ("save_mean", "save_invstd", "mean", "rstd"))
                              else B * sv.numel) * per
                items.append({"what": sv.what, "bytes": nbytes, "shared": sid in saved_seen, "recorded": rec})
                if rec and sid not in saved_seen:
                    saved_seen.add(sid)
                    mine += nbytes
            L["saved_bytes"] = mine
            L["saved_items"] = items
            self.total_saved += mine
        self.storage = storage
        self.storage_size = size

    # ------------------------------------------------------------------ receptive field
    # Definitions (Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural
    # Networks", Distill 2019), per node, per spatial axis, in the coordinates of a network input:
    #   r      size of the field of one unit (input pixels)
    #   j      effective stride (jump): input distance between neighbouring units
    #   start  left edge of unit 0's field; the effective padding is p = -start
    #   centre of unit 0 = start + (r - 1) / 2
    # A layer with effective kernel k (= D*(K-1) + 1), stride s and left padding P maps
    #   r_out = r_in + (k - 1) * j_in,   j_out = j_in * s,   p_out = p_in + P * j_in.
    # Values are exact Fractions: upsampling and transposed convolutions give fractional jumps.
    def _rf(self):
        g = self.g
        state = {}   # (node id, output index) -> {input name: dict(r, j, start, glob, data, extent)}
        self.rf_notes = []
        self.rf_trace = {}   # node id -> (step, [input states], output state)
        for n in g.nodes:
            if n.is_input:
                nd = len(n.out_shapes[0]) - 1
                state[(n.id, 0)] = {n.name: dict(r=(1,) * nd, j=(1,) * nd, start=(0,) * nd, glob=False, data=False,
                                                  extent=tuple(n.out_shapes[0][1:]))}
                continue
            k = n.kind
            step = k.rf()
            ins = [state.get(r, {}) for r in n.inputs]
            if step.kind == "merge" and len(n.inputs) > 1:
                # an input broadcast along a spatial axis ([C, 1, 1] * [C, H, W]) reaches every output
                # position from one pixel: along that axis every unit sees all of that input's field
                osp = n.out_shapes[0][1:]
                for i, r in enumerate(n.inputs):
                    isp = g.shape(r)[1:]
                    if len(isp) == len(osp) and any(a == 1 < b for a, b in zip(isp, osp)):
                        ins[i] = {src: self._global(f) for src, f in ins[i].items()}
            if step.kind == "merge":
                out = self._merge(n, ins)
            elif step.kind == "global":
                # every output unit sees all of every input (a loss with its target, Linear, flatten)
                out = {}
                for d in ins:
                    for src, f in d.items():
                        g_f = self._apply(f, step, k)
                        if src in out:
                            g_f = dict(g_f, data=g_f["data"] or out[src]["data"])
                        out[src] = g_f
            else:
                # window or data dependent: the first input carries the data (DeformConv2d's
                # offsets and mask steer where it samples; they are not what it samples)
                base = self._merge(n, ins) if len(ins) > 1 and step.kind != "data" else (ins[0] if ins else {})
                out = {src: self._apply(f, step, k) for src, f in base.items()}
            for i in range(len(n.out_shapes)):
                state[(n.id, i)] = out
            self.rf_trace[n.id] = (step, ins, out)
            self.layer[n.id]["rf"] = self._rf_json(out)
        self.rf_state = state
        self._rf_review()

    @staticmethod
    def _global(f):
        return dict(f, glob=True, r=tuple(f["extent"]), start=(0,) * len(f["extent"]))

    def _apply(self, f, step, k):
        nd = len(f["r"])
        if f["glob"] and step.kind in ("window", "data") and len(step.k) == nd:
            # already global (e.g. after an SE gate), but the map still has a grid: keep its jump
            return dict(f, j=tuple(ji * ss for ji, ss in zip(f["j"], step.s)))
        if f["glob"] or step.kind == "global":
            return self._global(f)
        if len(step.k) != nd:
            return self._global(f)
        # ints stay ints (fast); Fractions only where a kind gives one (upsampling, transposed conv)
        r = tuple(_q(ri + (kk - 1) * ji) for ri, kk, ji in zip(f["r"], step.k, f["j"]))
        start = tuple(_q(si - pp * ji) for si, pp, ji in zip(f["start"], step.p, f["j"]))
        j = tuple(_q(ji * ss) for ji, ss in zip(f["j"], step.s))
        return dict(f, r=r, j=j, start=start, data=f["data"] or step.kind == "data")

    @staticmethod
    def _centre(f):
        return tuple(s + ((r - 1) // 2 if type(r) is int and r % 2 else Fraction(r - 1) / 2)
                     for s, r in zip(f["start"], f["r"]))

    def _merge(self, n, ins):
        """Union of the inputs' fields, per network input; a diagnostic when they are not aligned
        (different jumps or different centres of unit 0), as google-research/receptive_field checks."""
        out = {}
        srcs = []
        for d in ins:
            for s in d:
                if s not in srcs:
                    srcs.append(s)
        for src in srcs:
            fields = [d[src] for d in ins if src in d]
            if len(fields) == 1:
                out[src] = fields[0]
                continue
            data = any(f["data"] for f in fields)
            if any(f["glob"] for f in fields) or len({len(f["r"]) for f in fields}) > 1:
                # the grid (jump) is that of the spatially resolved input, e.g. x in SE's x * gate
                grid = max(fields, key=lambda f: (len(f["r"]), not f["glob"]))
                out[src] = dict(self._global(grid), data=data)
                continue
            js = {tuple(f["j"]) for f in fields}
            centres = {self._centre(f) for f in fields}
            if len(js) > 1 or len(centres) > 1:
                if len(js) > 1:
                    what = "different effective strides " + ", ".join(
                        "x".join(_frac_text(x) for x in jj) for jj in sorted(js))
                else:
                    what = "different centres of unit 0 " + ", ".join(
                        "(" + ", ".join(_frac_text(x) for x in c) + ")" for c in sorted(centres))
                self.diagnostics.append(Diagnostic(
                    "warning", f"{n.name} ({n.op}): the receptive fields of its inputs are not aligned "
                    f"({what}, in `{src}` coordinates); reporting their union", n.loc,
                    ["equal strides and symmetric padding ('same' padding, odd kernels) on every branch keep "
                     "branches aligned"], node=n.name, code="rf-not-aligned"))
            nd = len(fields[0]["r"])
            start = tuple(_q(min(f["start"][a] for f in fields)) for a in range(nd))
            end = tuple(max(f["start"][a] + f["r"][a] for f in fields) for a in range(nd))
            out[src] = dict(fields[0], r=tuple(_q(e - s) for s, e in zip(start, end)), start=start,
                            j=tuple(_q(max(f["j"][a] for f in fields)) for a in range(nd)), data=data)
        return out

    def _rf_json(self, fields):
        if not fields:
            return None
        res = {}
        for src, f in fields.items():
            res[src] = {"size": [_num(x) for x in f["r"]], "stride": [_num(x) for x in f["j"]],
                        "padding": [_num(-x) for x in f["start"]],
                        "center": [_num(x) for x in self._centre(f)], "global": bool(f["glob"]),
                        "data_dependent": bool(f["data"])}
        first = next(iter(res.values()))
        out = dict(first)
        if len(res) > 1:
            out["per_input"] = res
        return out

    def _rf_final(self):
        """Per graph output and network input: the last node whose field is still local (the final
        feature map before a global step such as global pooling or a Linear on the flattened map)."""
        found = []
        seen = set()
        for ref in self.g.outputs:
            stack = [ref[0]]
            visited = set()
            while stack:
                nid = stack.pop()
                if nid in visited:
                    continue
                visited.add(nid)
                node = self.g.nodes[nid]
                if node.is_input:
                    continue
                fields = self.rf_trace.get(nid, (None, None, {}))[2]
                local = {s: f for s, f in fields.items() if not f["glob"]}
                for s, f in local.items():
                    if (nid, s) not in seen:
                        seen.add((nid, s))
                        found.append((nid, s, f))
                if len(local) < len(fields) or not fields:
                    stack.extend(i for i, _ in node.inputs)
        return found

    def _rf_review(self):
        """Design review: the final field far smaller than the input, or more than 4x larger."""
        if self.has_errors:
            return
        inputs = {self.g.nodes[i].name for i in self.g.inputs}
        for nid, src, f in self._rf_final():
            if src not in inputs or not f["extent"]:
                continue
            n = self.g.nodes[nid]
            r = [Fraction(x) for x in f["r"]]
            ext = list(f["extent"])
            rt = "x".join(_frac_text(x) for x in r)
            et = "x".join(str(x) for x in ext)
            dd = " (nominal: deformable sampling makes it data dependent)" if f["data"] else ""
            if any(ri < e for ri, e in zip(r, ext)):
                self.diagnostics.append(Diagnostic(
                    "note", f"{n.name}: each unit of this last spatial map on its path sees {rt} of the {et} input "
                    f"`{src}`{dd}: no unit sees the whole input", n.loc,
                    ["fine for dense prediction; a classifier relies on its global pooling or fully connected "
                     "layers to combine distant regions",
                     "more or larger-stride layers, or dilation, enlarge the field"],
                    node=n.name, code="rf-smaller-than-input"))
            elif any(ri > 4 * e for ri, e in zip(r, ext)):
                self.diagnostics.append(Diagnostic(
                    "note", f"{n.name}: each unit of this last spatial map on its path sees {rt}, more than 4x the {et} "
                    f"input `{src}`{dd}: most of the field lies in the padding", n.loc,
                    ["the network may be deeper than this input size needs, or the input could be larger"],
                    node=n.name, code="rf-much-larger-than-input"))

    def rf_figures(self, nid):
        """The receptive-field recurrence of one node as Figures, per network input and axis:
        [(input name, axis name, [Figure, ...]), ...].  Read by `cnncalc explain`."""
        from ..figure import Figure
        step, ins, out = self.rf_trace.get(nid, (None, [], {}))
        res = []
        if step is None:
            return res
        names = [self.g.nodes[i].name for i, _ in self.g.nodes[nid].inputs]
        for src, f in out.items():
            nd = len(f["r"])
            axes = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(nd, tuple(f"x{a}" for a in range(nd)))
            for a, ax in enumerate(axes):
                figs = []
                fin = [(nm, d[src]) for nm, d in zip(names, ins) if src in d]
                if f["glob"]:
                    why = step.formula or step.kind
                    if step.kind != "global" and fin and all(x["glob"] for _, x in fin):
                        why = "an input is already global"
                    elif step.kind == "merge":
                        why = "merge with a global input"
                    figs.append(Figure(f["extent"][a], f"{ax}_input", {f"{ax}_input": f["extent"][a]}, "r_out",
                                       note=f"global ({why}): every unit sees the whole input"))
                    figs.append(Figure(0, "0", {}, "p_out", note="global"))
                    res.append((src, ax, figs))
                    continue
                if step.kind == "merge" or (len(fin) > 1 and step.kind not in ("data",)):
                    if len(fin) == 1:
                        figs.append(Figure(_frac_val(f["r"][a]), "r_in", {"r_in": _frac_val(f["r"][a])}, "r_out",
                                           note=f"{step.formula or 'merge'}: one input carries `{src}`"))
                    else:
                        b = {}
                        rs, ps = [], []
                        for i, (_, x) in enumerate(fin):
                            b[f"r_{i}"] = _frac_val(x["r"][a])
                            b[f"p_{i}"] = _frac_val(-Fraction(x["start"][a]))
                            rs.append(f"r_{i} - p_{i}")
                            ps.append(f"p_{i}")
                        mp = "max(" + ", ".join(ps) + ")"
                        figs.append(Figure(_frac_val(-Fraction(f["start"][a])), mp,
                                           {k2: v for k2, v in b.items() if k2.startswith("p_")}, "p_out",
                                           note="union of " + ", ".join(nm for nm, _ in fin)))
                        figs.append(Figure(_frac_val(f["r"][a]), "max(" + ", ".join(rs) + ") + " + mp, dict(b),
                                           "r_out", note="union: rightmost end minus leftmost start"))
                        figs.append(Figure(_frac_val(f["j"][a]), "max(" + ", ".join(
                            f"j_{i}" for i in range(len(fin))) + ")",
                            {f"j_{i}": _frac_val(x["j"][a]) for i, (_, x) in enumerate(fin)}, "j_out"))
                else:
                    x = fin[0][1] if fin else f
                    k, s, p = step.k[a], step.s[a], step.p[a]
                    r_in, j_in, p_in = x["r"][a], x["j"][a], -Fraction(x["start"][a])
                    figs.extend(step.figures.get(ax, []))
                    figs.append(Figure(_frac_val(f["r"][a]), "r_in + (k_eff - 1)*j_in",
                                       {"r_in": _frac_val(r_in), "k_eff": _frac_val(k), "j_in": _frac_val(j_in)},
                                       "r_out"))
                    figs.append(Figure(_frac_val(f["j"][a]), "j_in*s", {"j_in": _frac_val(j_in),
                                                                        "s": _frac_val(s)}, "j_out"))
                    figs.append(Figure(_frac_val(-Fraction(f["start"][a])), "p_in + P*j_in",
                                       {"p_in": _frac_val(p_in), "P": _frac_val(p), "j_in": _frac_val(j_in)},
                                       "p_out", note=f"unit 0's field starts at {_frac_text(Fraction(f['start'][a]))}"))
                c = self._centre(f)[a]
                figs.append(Figure(_frac_val(c), "(r - 1)/2 - p", {"r": _frac_val(f["r"][a]),
                                                                   "p": _frac_val(-Fraction(f["start"][a]))},
                                   "centre", note="centre of unit 0's field"))
                res.append((src, ax, figs))
        return res

    # ------------------------------------------------------------------ totals
    def totals(self):
        g = self.g
        L = self.layer
        params = sum(v["params"] for v in L.values())
        buffers = sum(v["buffers"] for v in L.values())
        trainable = params
        macs = sum(v["macs"] for v in L.values())
        flops = sum(v["flops"] for v in L.values())
        bwd = sum(v["bwd_flops"] for v in L.values())
        act = sum(v["alloc_bytes"] for v in L.values())
        mem = None
        if not self.has_errors:
            if getattr(self, "_breakdown", None) is None:
                from .memory import breakdown
                self._breakdown = breakdown(self)
            mem = self._breakdown
        return {
            "params": params + 0,
            "trainable_params": trainable,
            "buffers": buffers,
            "macs": macs,
            "flops": _num(flops),
            "activation_bytes": act,
            "saved_bytes": self.total_saved,
            "bwd_macs": sum(v["bwd_macs"] for v in L.values()),
            "bwd_flops": _num(bwd),
            "train_step_flops": _num(flops + bwd),
            "param_bytes": (params + buffers) * self.itemsize,
            # memory.py: peaks with the default optimizer (adam) in the graph's dtype; None with errors
            "inference_peak_bytes": mem["inference_peak"] if mem else None,
            "training_peak_bytes": mem["training_peak"] if mem else None,
            "train_flops_per_sample": _num(Fraction(flops + bwd) / g.batch),
        }

    def group_values(self, ids, out_ref=None):
        """Aggregate over nodes: params once per module, work summed."""
        mods = {}
        macs = flops = bwd = saved = act = 0
        for i in ids:
            n = self.g.nodes[i]
            if n.is_input:
                continue
            v = self.layer[i]
            mods.setdefault(n.module, (v["module_params"], n.kind.buffers().value))
            macs += v["macs"]
            flops += v["flops"]
            bwd += v["bwd_flops"]
            saved += v["saved_bytes"]
            act += v["alloc_bytes"]
        out = {"params": sum(p for p, _ in mods.values()), "buffers": sum(b for _, b in mods.values()),
               "macs": macs, "flops": flops, "bwd_flops": bwd, "saved": saved}
        out["trainable_params"] = out["params"]
        if out_ref is not None:
            shape = self.g.shape(out_ref)
            out["output"] = list(shape)
            out["activations"] = math.prod(shape) * self.g.batch
            out["memory"] = math.prod(shape) * self.g.batch * self.itemsize
            rf = self.rf_state.get(out_ref)
            if rf:
                f = next(iter(rf.values()))
                out["rf"] = [_num(x) for x in f["r"]]
                out["rf_stride"] = [_num(x) for x in f["j"]]
                out["rf_padding"] = [_num(-x) for x in f["start"]]
        return out

    # ------------------------------------------------------------------ expect
    def _expects(self):
        results = []
        tot = self.totals()
        for e in self.g.expects:
            if e.scope == "total":
                vals = dict(tot)
                vals["trainable_params"] = tot["trainable_params"]
                vals["saved"] = tot["saved_bytes"]
                if e.output is not None:
                    gv = self.group_values([], e.output)
                    for k in ("output", "activations", "memory", "rf", "rf_stride", "rf_padding"):
                        if k in gv:
                            vals[k] = gv[k]
            else:
                vals = self.group_values(e.node_ids, e.output)
            tol = e.items.get("tol")
            blocked = self.has_errors and (e.scope == "total" or any(
                i >= len(self.g.nodes) for i in e.node_ids))
            for key, want in e.items.items():
                if key == "tol":
                    continue
                got = vals.get(key)
                res = {"scope": e.scope, "node": e.name, "key": key, "expected": _jsonable(want), "actual": got,
                       "location": str(e.items.vloc(key)) if hasattr(e.items, "vloc") else str(e.loc)}
                if blocked:
                    res["verdict"] = "not checked"
                    res["message"] = "the spec has errors: totals are incomplete"
                    results.append(res)
                    continue
                if key in BATCH_LINEAR and isinstance(got, (int, float)) and self.g.batch != self.g.spec_batch:
                    # expects are written for the spec's own batch; all of these grow linearly with it
                    got = got * self.g.spec_batch // self.g.batch
                    res["actual"] = got
                    res["note"] = f"checked at the spec's batch {self.g.spec_batch}"
                try:
                    ok = check_value(key, want, got, self.g.spec_batch, tol)
                    res["verdict"] = "pass" if ok else "fail"
                except ValueError as err:
                    res["verdict"] = "error"
                    res["message"] = str(err)
                    self.diagnostics.append(Diagnostic("error", f"expect `{key}`: {err}", e.items.vloc(key)))
                results.append(res)
        return settle(results, self.g.question)   # another --input/--set: failures skipped

    # ------------------------------------------------------------------ report
    def report(self) -> dict:
        g = self.g
        layers = []
        names = {n.id: n.name for n in g.nodes}
        from . import memory as M
        split = {} if self.has_errors else {r["name"]: r for r in M.layer_rows(self)}
        for n in g.nodes:
            if n.is_input:
                continue
            v = self.layer[n.id]
            shapes = [list(s) for s in n.out_shapes]
            layers.append({
                "name": n.name,
                "op": n.op,
                "module": n.module,
                "args": n.kind.describe_args(),
                "inputs": [names[i] + (f":{k}" if len(g.nodes[i].out_shapes) > 1 else "") for i, k in n.inputs],
                "output_shape": shapes[0] if len(shapes) == 1 else shapes,
                "params": v["params"],
                "module_params": v["module_params"],
                "buffers": v["buffers"],
                "macs": v["macs"],
                "flops": v["flops"],
                "bwd_flops": v["bwd_flops"],
                "bwd_input_flops": split[n.name]["bwd_input_flops"] if n.name in split else None,
                "bwd_weight_flops": split[n.name]["bwd_weight_flops"] if n.name in split else None,
                "output_bytes": v["output_bytes"],
                "saved_bytes": v["saved_bytes"],
                "rf": v.get("rf"),
                "location": str(n.loc) if n.loc else None,
            })
        conv = self.conv.to_dict()
        conv["excluded_with_work"] = sorted(self.excluded)
        return {
            "schema_version": SCHEMA_VERSION,
            "model": g.name,
            "file": g.file,
            "inputs": {g.nodes[i].name: list(g.nodes[i].out_shapes[0]) for i in g.inputs},
            "outputs": [names[i] + (f":{k}" if len(g.nodes[i].out_shapes) > 1 else "") for i, k in g.outputs],
            "batch": g.batch,
            "dtype": g.dtype,
            "bytes_per_element": self.itemsize,
            "conventions": conv,
            "totals": self.totals(),
            "layers": layers,
            "expect": self.expect_results,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "memory": None if self.has_errors else M.report_memory(self),
        }


def _jsonable(v):
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, str):
        return str(v)
    return v


def check_value(key, want, got, batch, tol=None):
    if got is None:
        raise ValueError("not computed for this node")
    if key == "output":
        if not isinstance(want, list):
            raise ValueError(f"`output` must be a shape list, got {want!r}")
        w = list(want)
        if len(w) == len(got) + 1 and w[0] == batch:
            w = w[1:]
        return w == list(got)
    if key in ("rf", "rf_stride", "rf_padding"):
        g = list(got)
        if isinstance(want, (int, float, str)):
            w = [parse_number(want)[0] if isinstance(want, str) else want] * len(g)
        else:
            w = [parse_number(x)[0] if isinstance(x, str) else x for x in want]
        return len(w) == len(g) and all(abs(float(a) - float(b)) <= 1e-9 for a, b in zip(w, g))
    return match_number(want, got, tol)
