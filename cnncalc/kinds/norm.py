"""Normalisation layers: batch, group, layer, instance, local response."""
from __future__ import annotations

from ..figure import Figure
from ..i18n import N_, _
from .base import REQUIRED, Arg, Kind, KindError, Saved, Term, prod, register


class BatchNormBase(Kind):
    family = "norm"
    nd = 2

    def setup(self):
        x = self.in_shape
        ranks = {1: (1, 2), 2: (3,), 3: (4,)}[self.nd]
        if len(x) not in ranks:
            want = {1: "[C] or [C, L]", 2: "[C, H, W]", 3: "[C, D, H, W]"}[self.nd]
            raise KindError(_("`{op}` needs a {want} input, got {x}").format(op=self.op, want=want, x=list(x)), None)
        given = self.a.get("num_features")
        if given is not None and given != x[0]:
            raise KindError(_("`num_features={given}` given but the input has {x_0} channels (shape {x})").format(given=given, x_0=x[0], x=list(x)),
                            "num_features", [_("write num_features: {x_0}, or leave it out").format(x_0=x[0])], code="num-features")
        self.a["num_features"] = x[0]
        if self.a["eps"] <= 0 and "Instance" not in self.op:
            raise KindError(_("`eps` must be positive, got {eps} (torch: batch_norm eps must be positive during "
                              "training)").format(eps=self.a['eps']), "eps")
        m = self.a["momentum"]
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, float))):
            raise KindError(_("`momentum` must be a number or null, got {m!r}").format(m=m), "momentum")
        self.out_shapes = [x]

    def params(self):
        c = self.a["num_features"]
        aff = 1 if self.a["affine"] else 0
        return Figure(2 * c * aff, "2*C*affine", {"C": c, "affine": aff}, "params", note=N_("weight and bias"))

    def buffers(self):
        c = self.a["num_features"]
        t = 1 if self.a["track_running_stats"] else 0
        return Figure(t * (2 * c + 1), "track*(2*C + 1)", {"C": c, "track": t}, "buffers",
                      note=N_("running_mean, running_var, num_batches_tracked"))

    def terms(self):
        v = self.N * self.numel_in()
        rules = ("batch_norm",) if self.a["affine"] else ("batch_norm_noaffine", "batch_norm")
        if not self.a["track_running_stats"]:
            # no running statistics: batch statistics at inference too, a full normalisation
            # (fvcore counts it as such: its batch_norm handler sees training=True)
            rules = ("norm",) if self.a["affine"] else ("norm_noaffine",)
        return [Term(rules, v, Figure(v, "N*numel", {"N": self.N, "numel": self.numel_in()}, "elements"))]

    def saved(self):
        c = self.a["num_features"]
        # save_mean/save_invstd per channel, in the input's dtype on the CPU (float32 under cuDNN's half)
        return [Saved("input", self.numel_in(), alias="input"),
                Saved("save_mean", c, batched=False), Saved("save_invstd", c, batched=False)]

    def torch_module(self):
        import torch.nn as nn
        a = self.a
        return getattr(nn, f"BatchNorm{self.nd}d")(a["num_features"], eps=a["eps"], momentum=a["momentum"],
                                                   affine=a["affine"], track_running_stats=a["track_running_stats"])


_BN_TAIL = (Arg("eps", 1e-5, "float"), Arg("momentum", 0.1, "any"), Arg("affine", True, "bool"),
            Arg("track_running_stats", True, "bool"), Arg("device", None), Arg("dtype", None))
for _nd in (1, 2, 3):
    for _lazy in (False, True):
        _n = ("Lazy" if _lazy else "") + f"BatchNorm{_nd}d"
        _sig = (() if _lazy else (Arg("num_features", REQUIRED, "int", infer=True),)) + _BN_TAIL
        register(_n)(type(_n, (BatchNormBase,), {"nd": _nd, "SIG": _sig, "doc": f"batch norm over {_nd}D maps"}))


class InstanceNormBase(BatchNormBase):
    def setup(self):
        x = self.in_shape
        if len(x) != self.nd + 1:
            raise KindError(_("`{op}` needs a [C, ...] input of {nd} spatial dims, got {x}").format(op=self.op, nd=self.nd, x=list(x)), None)
        super().setup()
        if prod(x[1:]) == 1:
            # torch: "Expected more than 1 spatial element when training" (statistics are over space)
            raise KindError(_("`{op}` normalises over space, but the input {x} has one spatial element (torch refuses "
                              "it)").format(op=self.op, x=list(x)), None, [_("instance norm needs a map larger than 1x1")], code="shape")

    def terms(self):
        v = self.N * self.numel_in()
        rules = ("norm",) if self.a["affine"] else ("norm_noaffine",)
        return [Term(rules, v, Figure(v, "N*numel", {"N": self.N, "numel": self.numel_in()}, "elements"))]

    def params(self):
        c = self.a["num_features"]
        aff = 1 if self.a["affine"] else 0
        return Figure(2 * c * aff, "2*C*affine", {"C": c, "affine": aff}, "params")

    def saved(self):
        c = self.a["num_features"]
        # torch's instance_norm runs batch_norm on a [1, N*C, ...] view, with the affine weight and the
        # running statistics repeated N times: those copies are saved too
        out = [Saved("input", self.numel_in(), alias="input"),
               Saved("save_mean", self.N * c, batched=False),
               Saved("save_invstd", self.N * c, batched=False)]
        if self.a["affine"]:
            out.append(Saved("weight, repeated per sample", c))
        if self.a["track_running_stats"]:
            out += [Saved("running_mean, repeated per sample", c), Saved("running_var, repeated per sample", c)]
        return out

    def torch_module(self):
        import torch.nn as nn
        a = self.a
        return getattr(nn, f"InstanceNorm{self.nd}d")(a["num_features"], eps=a["eps"], momentum=a["momentum"],
                                                      affine=a["affine"],
                                                      track_running_stats=a["track_running_stats"])


_IN_TAIL = (Arg("eps", 1e-5, "float"), Arg("momentum", 0.1, "any"), Arg("affine", False, "bool"),
            Arg("track_running_stats", False, "bool"), Arg("device", None), Arg("dtype", None))
for _nd in (1, 2, 3):
    _n = f"InstanceNorm{_nd}d"
    register(_n)(type(_n, (InstanceNormBase,), {"nd": _nd, "SIG": (Arg("num_features", REQUIRED, "int", infer=True),)
                                               + _IN_TAIL, "doc": "instance norm"}))


@register("GroupNorm")
class GroupNorm(Kind):
    family = "norm"
    SIG = (Arg("num_groups", REQUIRED, "int"), Arg("num_channels", REQUIRED, "int", infer=True),
           Arg("eps", 1e-5, "float"), Arg("affine", True, "bool"), Arg("device", None), Arg("dtype", None))
    doc = "group norm"

    def setup(self):
        c = self.in_shape[0]
        given = self.a.get("num_channels")
        if given is not None and given != c:
            raise KindError(_("`num_channels={given}` given but the input has {c} channels").format(given=given, c=c), "num_channels")
        self.a["num_channels"] = c
        if self.a["num_groups"] < 1:
            raise KindError(_("num_groups must be positive, got {num_groups}").format(num_groups=self.a['num_groups']), "num_groups")
        if c % self.a["num_groups"]:
            raise KindError(_("num_groups={num_groups} must divide the {c} channels").format(num_groups=self.a['num_groups'], c=c), "num_groups")
        self.out_shapes = [self.in_shape]

    def params(self):
        aff = 1 if self.a["affine"] else 0
        return Figure(2 * self.a["num_channels"] * aff, "2*C*affine", {"C": self.a["num_channels"], "affine": aff},
                      "params")

    def terms(self):
        v = self.N * self.numel_in()
        rules = ("norm",) if self.a["affine"] else ("norm_noaffine",)
        return [Term(rules, v, Figure(v, "N*numel", {"N": self.N, "numel": self.numel_in()}, "elements"))]

    def saved(self):
        g = self.a["num_groups"]
        # mean and rstd per sample and group, in the input's dtype on the CPU
        return [Saved("input", self.numel_in(), alias="input"), Saved("mean", self.N * g, batched=False),
                Saved("rstd", self.N * g, batched=False)]

    def torch_module(self):
        import torch.nn as nn
        a = self.a
        return nn.GroupNorm(a["num_groups"], a["num_channels"], eps=a["eps"], affine=a["affine"])


@register("LayerNorm")
class LayerNorm(Kind):
    family = "norm"
    SIG = (Arg("normalized_shape", REQUIRED, "any"), Arg("eps", 1e-5, "float"),
           Arg("elementwise_affine", True, "bool"), Arg("bias", True, "bool"), Arg("device", None),
           Arg("dtype", None))
    doc = "layer norm over the trailing dims"

    def setup(self):
        ns = self.a["normalized_shape"]
        ns = (ns,) if isinstance(ns, int) else tuple(ns)
        self.a["normalized_shape"] = ns
        if tuple(self.in_shape[-len(ns):]) != ns:
            raise KindError(_("normalized_shape {ns} must equal the input's trailing dims (input {in_shape})").format(ns=list(ns), in_shape=list(self.in_shape)), "normalized_shape")
        self.out_shapes = [self.in_shape]

    def params(self):
        k = prod(self.a["normalized_shape"])
        w = 1 if self.a["elementwise_affine"] else 0
        b = 1 if (self.a["elementwise_affine"] and self.a["bias"]) else 0
        return Figure(k * (w + b), "prod(normalized_shape)*(weight + bias)", {"normalized_shape": list(self.a["normalized_shape"]),
                      "weight": w, "bias": b}, "params")

    def terms(self):
        v = self.N * self.numel_in()
        rules = ("norm",) if self.a["elementwise_affine"] else ("norm_noaffine",)
        return [Term(rules, v, Figure(v, "N*numel", {"N": self.N, "numel": self.numel_in()}, "elements"))]

    def saved(self):
        rows = self.N * self.numel_in() // prod(self.a["normalized_shape"])
        return [Saved("input", self.numel_in(), alias="input"), Saved("mean", rows, batched=False),
                Saved("rstd", rows, batched=False)]

    def torch_module(self):
        import torch.nn as nn
        a = self.a
        return nn.LayerNorm(a["normalized_shape"], eps=a["eps"], elementwise_affine=a["elementwise_affine"],
                            bias=a["bias"])


@register("LocalResponseNorm")
class LocalResponseNorm(Kind):
    family = "norm"
    SIG = (Arg("size", REQUIRED, "int"), Arg("alpha", 1e-4, "float"), Arg("beta", 0.75, "float"),
           Arg("k", 1.0, "float"))
    doc = "local response normalisation across channels (AlexNet)"

    def setup(self):
        if self.a["size"] < 1:
            raise KindError(_("`size` must be positive, got {size} (torch refuses this)").format(size=self.a['size']), "size")
        if len(self.in_shape) < 2:
            raise KindError(_("LocalResponseNorm needs a [C, ...spatial] input, got {in_shape}").format(in_shape=list(self.in_shape)), None)
        self.out_shapes = [self.in_shape]

    def terms(self):
        v = self.N * self.numel_in() * (self.a["size"] + 3)
        return [Term(("lrn",), v, Figure(v, "N*numel*(size + 3)", {"N": self.N, "numel": self.numel_in(),
                                                                   "size": self.a["size"]}, "operations"))]

    def saved(self):
        # torch's local_response_norm: x*x -> pad over channels -> avg_pool3d -> *alpha + k -> **beta -> x / div;
        # autograd keeps x, the padded squares (avg_pool's input: C + size - 1 channels), pow's input and div
        x = self.in_shape
        padded = (x[0] + self.a["size"] - 1) * prod(x[1:])
        return [Saved("input", self.numel_in(), alias="input"), Saved("padded squares", padded),
                Saved("k + alpha*avg(x^2)", self.numel_in()), Saved("div", self.numel_in())]

    def torch_module(self):
        import torch.nn as nn
        a = self.a
        return nn.LocalResponseNorm(a["size"], alpha=a["alpha"], beta=a["beta"], k=a["k"])
