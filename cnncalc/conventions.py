"""Counting conventions as data.

"FLOPs" means something different in every tool.  Every kind reports its work
as *terms*: a rule name and a count (``Term("mac", 118013952)``, ``Term("relu",
802816)``).  A convention turns terms into MACs and FLOPs: MAC rules count
toward ``macs`` and cost ``flops_per_mac`` FLOPs each; every other rule costs
the number of FLOPs per unit given in ``costs`` (or is *excluded by the
convention*, which reports say, rather than a silent zero).

Presets: ``default`` (ours, everything counted), ``macs`` (as default, one
FLOP per MAC), ``paper`` (conv/linear multiply-accumulates only), ``torch``
(what ``torch.utils.flop_counter.FlopCounterMode`` counts) and ``fvcore`` (what
``fvcore.nn.FlopCountAnalysis`` counts, models in eval mode).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .i18n import N_

# Rules whose count is multiply-accumulates (they make up `macs`).
# "attention": the two products of an attention core (QK^T and AV), kept apart from "matmul" because
# fvcore counts an explicit matmul but not scaled_dot_product_attention.
MAC_RULES = ("conv", "conv_transpose", "linear", "matmul", "deform_conv", "attention")
# A term counted as plain operations, one FLOP per unit under every convention (the homework
# mistake catalogue writes a student's own count with it).
OPS_RULE = "_ops"

# FLOPs per unit under the default convention.  The unit is named in RULE_DOC.
DEFAULT_COSTS: dict[str, float] = {
    "bias": 1,
    "deform_sample": 7,       # bilinear sample: 4 mul + 3 add per sampled value
    "deform_mask": 1,         # modulation: one multiply per sampled value
    "batch_norm": 2,          # eval: y = a*x + c with folded statistics
    "norm": 5,                # layer/group/instance norm: mean, var, normalise, scale, shift (4 w/o affine)
    "norm_noaffine": 4,
    "lrn": 1,                 # per element per window tap, plus 3 (see RULE_DOC)
    "max_pool": 1,            # comparisons: (window - 1) per output
    "avg_pool": 1,            # (window - 1) adds + 1 divide per output
    "lp_pool": 1,
    "adaptive_avg_pool": 1,
    "adaptive_max_pool": 1,
    "relu": 1, "relu6": 2, "leaky_relu": 2, "prelu": 2, "rrelu": 2, "elu": 3, "selu": 4,
    "celu": 4, "gelu": 8, "silu": 4, "mish": 6, "sigmoid": 3, "tanh": 5, "hardswish": 5,
    "hardsigmoid": 4, "hardtanh": 2, "softplus": 4, "softmax": 3, "log_softmax": 3,
    "elementwise": 1,         # add/sub/mul/div/abs: one per output element per extra operand
    "reduce": 1,              # mean/amax: one per input element
    "upsample_nearest": 0,
    "upsample_linear": 3, "upsample_bilinear": 7, "upsample_trilinear": 15, "upsample_bicubic": 31,
    "loss": 1,
    "dropout": 0,             # identity in eval mode
}

RULE_DOC: dict[str, str] = {
    "conv": N_("multiply-accumulates of a convolution: one per output element per weight tap"),
    "conv_transpose": N_("multiply-accumulates of a transposed convolution: counted on input positions"),
    "linear": N_("multiply-accumulates of a fully connected layer"),
    "matmul": N_("multiply-accumulates of a matrix product"),
    "attention": N_("multiply-accumulates of an attention core's two products, QK^T and AV"),
    "deform_conv": N_("multiply-accumulates of a deformable convolution's kernel"),
    "bias": N_("one add per output element"),
    "deform_sample": N_("per bilinearly sampled value: 4 multiplies + 3 adds"),
    "deform_mask": N_("per sampled value: one multiply by the modulation mask"),
    "batch_norm": N_("per element, eval mode: y = a*x + c with folded statistics (1 mul + 1 add)"),
    "norm": N_("per element: mean, variance, normalise, scale, shift"),
    "norm_noaffine": N_("per element: mean, variance, normalise (x2)"),
    "lrn": N_("per element: window taps (squares summed) + 3 (scale, power, divide)"),
    "max_pool": N_("per output: window - 1 comparisons"),
    "avg_pool": N_("per output: window - 1 adds + 1 divide"),
    "lp_pool": N_("per output: window powers + window - 1 adds + 1 root"),
    "adaptive_avg_pool": N_("per output: its window's size (adds + divide)"),
    "adaptive_max_pool": N_("per output: its window's size - 1 comparisons"),
    "elementwise": N_("one per output element per operand beyond the first"),
    "reduce": N_("one per input element"),
    "upsample_nearest": N_("per output element: a copy (0)"),
    "upsample_linear": N_("per output: 2 mul + 1 add"),
    "upsample_bilinear": N_("per output: 4 neighbours weighted: 4 mul + 3 add"),
    "upsample_trilinear": N_("per output: 8 mul + 7 add"),
    "upsample_bicubic": N_("per output: 16 mul + 15 add"),
    "loss": N_("per input element, by the loss's own count (see the kind)"),
    "dropout": N_("eval mode: identity"),
    "fvcore_einsum_rounding": N_("fvcore's einsum count less the exact one: fvcore reads it from numpy's "
                                 "einsum_path report, to 4 significant digits (priced by the fvcore preset only)"),
}
for _r in ("relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "selu", "celu", "gelu", "silu",
           "mish", "sigmoid", "tanh", "hardswish", "hardsigmoid", "hardtanh", "softplus", "softmax",
           "log_softmax"):
    RULE_DOC.setdefault(_r, f"per element: {int(DEFAULT_COSTS[_r])} operation(s)")


@dataclass(frozen=True)
class Conventions:
    name: str = "default"
    flops_per_mac: int = 2
    costs: tuple = ()                 # ((rule, cost-or-None), ...) overrides of DEFAULT_COSTS
    only_macs: bool = False           # count nothing but MAC rules
    mac_rules: tuple = MAC_RULES      # which MAC rules count (others excluded)
    bytes_per_element: int | None = None
    description: str = ""
    tool: str = ""                    # the FLOP counter this preset reproduces, blind spots included (TOOLS)

    def cost(self, rules):
        """FLOPs per unit of a term; None when this convention excludes it.

        ``rules`` is a rule name or a tuple of names, most specific first
        (``("upsample_bilinear2d", "upsample_bilinear")``): an override of any of
        them wins, then the default cost of the first one that has one.
        """
        if isinstance(rules, str):
            rules = (rules,)
        if rules[0] == OPS_RULE:
            return 1
        if rules[0] in MAC_RULES:
            return self.flops_per_mac if rules[0] in self.mac_rules else None
        if self.only_macs:
            return None
        over = dict(self.costs)
        for r in rules:
            if r in over:
                return over[r]
        for r in rules:
            if r in DEFAULT_COSTS:
                return DEFAULT_COSTS[r]
        return None

    def counts_macs(self, rule: str) -> bool:
        return rule in self.mac_rules

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "flops_per_mac": self.flops_per_mac,
            "mac_rules": list(self.mac_rules),
            "only_macs": self.only_macs,
            "costs": {r: self.cost(r) for r in list(DEFAULT_COSTS)},
            "tool": self.tool or None,
        }


@dataclass(frozen=True)
class Work:
    """Terms tallied under a convention.

    ``macs``: multiply-accumulates of the MAC rules the convention counts; ``flops``: the sum of
    count x cost per unit of every term the convention gives a cost (alternative accountings
    included where the convention prices them); ``excluded``: the rules of the terms with work that
    the convention does not count (never a silent zero: reports list them); ``counted``: the
    (term, cost per unit) pairs that make up ``flops``, in order (explanations render them).
    """

    macs: int = 0
    flops: object = 0
    excluded: tuple = ()
    counted: tuple = ()
    blind: tuple = ()       # labels of the work left out because the convention's tool does not see it


def is_mac(term) -> bool:
    """Whether a term's count is multiply-accumulates."""
    return term.rules[0] in MAC_RULES


def tally(terms, conventions: Conventions) -> Work:
    """The one place a kind's work terms become MACs and FLOPs under a convention."""
    macs = 0
    flops = 0
    excluded = []
    counted = []
    blind = []
    tool = conventions.tool
    for t in terms:
        rule = t.rules[0]
        if tool and t.count:
            label = next((lb for tl, lb in t.blind if tl == tool), None)
            if label is not None:
                if label not in blind:
                    blind.append(label)
                continue
        if rule in MAC_RULES and conventions.counts_macs(rule):
            macs += t.count
        c = conventions.cost(t.rules)
        if c is None:
            if not t.alt and t.count and t.rules[-1] not in excluded:
                excluded.append(t.rules[-1])
            continue
        flops += t.count * c
        counted.append((t, c))
    return Work(macs, flops, tuple(excluded), tuple(counted), tuple(blind))


# The FLOP counters the `torch` and `fvcore` presets reproduce, and the setting they are measured in: a kind
# marks the terms a counter does not see there (``Term.blind``), and those presets leave them out.
TOOLS = {
    "FlopCounterMode": "torch.utils.flop_counter.FlopCounterMode, on the CPU, eval mode, under torch.no_grad()",
    "fvcore": "fvcore.nn.FlopCountAnalysis (0.1.5), eval mode",
}

_ALL_OFF = tuple((r, None) for r in DEFAULT_COSTS)

PRESETS: dict[str, Conventions] = {
    "default": Conventions(
        "default", 2,
        description=N_("FLOPs count every floating-point operation: 2 per MAC, bias adds, norms, "
                       "activations, pooling, elementwise ops, upsampling (table in docs/conventions.md); "
                       "MACs are those of conv, transposed conv, linear and matrix products")),
    "macs": Conventions(
        "macs", 1,
        description=N_("as default, but a multiply-accumulate counts as one FLOP")),
    "paper": Conventions(
        "paper", 1, only_macs=True, mac_rules=("conv", "conv_transpose", "linear", "matmul", "attention"),
        description=N_("conv and linear multiply-accumulates only: the figure papers and torchvision's "
                       "docs quote as (G)FLOPS")),
    "torch": Conventions(
        "torch", 2, only_macs=True, mac_rules=("conv", "conv_transpose", "linear", "matmul", "attention"),
        description=N_("what torch.utils.flop_counter.FlopCounterMode counts (CPU, eval, no_grad): 2 per MAC of "
                       "conv, matmul and attention; nothing else (bias adds, norms, activations excluded), and "
                       "not the work it does not see (listed in the report)"),
        tool="FlopCounterMode"),
    "fvcore": Conventions(
        "fvcore", 1, mac_rules=("conv", "conv_transpose", "linear", "matmul"),
        costs=_ALL_OFF + (("batch_norm", 2), ("batch_norm_noaffine", 1), ("norm", 5),
                          ("norm_noaffine", 4), ("upsample_nearest2d", 1), ("upsample_bilinear2d", 4),
                          ("adaptive_avg_pool2d_in", 1), ("adaptive_avg_pool", None), ("grid_sampler", 4),
                          ("fvcore_einsum_rounding", 1)),
        description=N_("what fvcore.nn.FlopCountAnalysis counts in eval mode: 1 per MAC of conv/linear/"
                       "matmul (no bias), batch norm 2 per element (1 without affine), layer/group/"
                       "instance norm 5 (4), upsample_nearest2d 1, upsample_bilinear2d and grid_sampler 4 per "
                       "output, adaptive_avg_pool2d 1 per input element; everything else uncounted (attention "
                       "products too: fvcore has no formula for scaled_dot_product_attention), and not the work "
                       "it does not see (listed in the report)"),
        tool="fvcore"),
}

SWITCHES = ("preset", "flops_per_mac", "only_macs", "costs", "bytes_per_element")


def get(name: str) -> Conventions:
    return PRESETS[name]


def from_mapping(m: dict, base: Conventions | None = None) -> Conventions:
    """A conventions mapping from a spec: ``{preset: paper, flops_per_mac: 2, costs: {relu: 0}}``."""
    c = base or PRESETS["default"]
    if "preset" in m:
        c = PRESETS[m["preset"]]
    kw = {}
    if "flops_per_mac" in m:
        kw["flops_per_mac"] = int(m["flops_per_mac"])
    if "only_macs" in m:
        kw["only_macs"] = bool(m["only_macs"])
    if "costs" in m:
        kw["costs"] = tuple((str(k), v) for k, v in dict(m["costs"]).items()) + tuple(c.costs)
    if "bytes_per_element" in m:
        kw["bytes_per_element"] = int(m["bytes_per_element"])
    return replace(c, name=(c.name + "+custom") if kw else c.name, **kw)
