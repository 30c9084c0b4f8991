"""The catalogue of common mistakes, each a way to recompute a layer's numbers wrongly.

A mistake is a small object with hooks that the recomputation
(:mod:`cnncalc.homework.recompute`) calls for every layer it applies to:

``rebuild(node, op, args, batch, rc)``
    change the arguments (or the batch) the kind is rebuilt from: ``bias=False``,
    ``groups=1``, ``dilation=1``, ``padding=0``, ``ceil_mode=False``, batch 1;
``shape(node, kind, rc)``
    compute the output size with a wrong formula (``ceil`` for ``floor``, padding on
    one side only, ``input / stride``); returns the shapes and the wrong formula as
    :class:`~cnncalc.figure.Figure` objects, so the diagnosis can show it;
``terms(node, kind, terms, rc)``
    count the work differently (a transposed convolution counted on output positions);
``values(node, kind, values, rc)``
    change one per-layer quantity (MACs given as FLOPs, BN running statistics counted
    as parameters, elements given as bytes);
``convention(conventions, rc)``
    switch the counting convention (only multiply-accumulates counted in FLOPs);
``answer(key, correct, want)``
    a mistake in writing the answer down (MB for MiB);
``per_call_params`` / ``rf_mode``
    shared weights counted at every call; receptive-field arithmetic done wrongly.

Every hook has a do-nothing default, so each mistake states only what it changes.
"""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from ..conventions import tally
from ..core.passes.receptive import apply as apply_step
from ..figure import Figure
from ..i18n import N_
from ..kinds.base import Term, prod
from ..kinds.conv import AXES, ConvBase
from ..kinds.norm import BatchNormBase
from ..kinds.pool import PoolBase


class Mistake:
    id = ""
    title = N_("")
    why = ""                 # what is wrong, for the student
    per_call_params = False
    rf_mode = None
    answer_level = False
    rank = 0                 # lower is tried (and named) first

    def rebuild(self, node, op, args, batch, rc):
        return op, args, batch

    def shape(self, node, kind, rc):
        return None

    def terms(self, node, kind, terms, rc):
        return terms

    def values(self, node, kind, v, rc):
        return v

    def convention(self, conventions, rc):
        return conventions

    def answer(self, key, correct, want):
        return None

    def __repr__(self):
        return f"<mistake {self.id}>"


# ----------------------------------------------------------------------------- geometry helpers
def is_conv(kind):
    return isinstance(kind, ConvBase) and not kind.transposed


def is_tconv(kind):
    return isinstance(kind, ConvBase) and kind.transposed


def is_window_pool(kind):
    return isinstance(kind, PoolBase)


def geometry(kind):
    """Per spatial axis (axis, L_in, K, S, D, P_left, P_right) of a convolution or pooling window,
    from the kind's own geometry."""
    if not (is_conv(kind) or is_window_pool(kind)):
        return None
    geo = kind.geometry()
    return [(ax, L, k, s, d, pl, pr) for ax, L, k, s, d, pl, pr in
            zip(AXES[geo.nd], kind.in_shape[1:], geo.kernel, geo.stride, geo.dilation, geo.pad_lo, geo.pad_hi)]


class ShapeMistake(Mistake):
    """A wrong output-size formula for convolutions and pooling windows."""

    formula = ""

    def size(self, L, K, S, D, pl, pr, kind):
        raise NotImplementedError

    def wants(self, kind):
        return is_conv(kind) or (is_window_pool(kind) and not kind.args.get("ceil_mode"))

    def shape(self, node, kind, rc):
        if not self.wants(kind):
            return None
        geo = geometry(kind)
        if geo is None:
            return None
        out = [kind.out_shape[0]]
        figs = []
        for ax, L, K, S, D, pl, pr in geo:
            v = self.size(L, K, S, D, pl, pr, kind)
            if v is None:
                return None
            out.append(v)
            b = {f"{ax}_in": L, "K": K, "S": S, "D": D, "P": pl}
            figs.append(Figure(v, self.formula.replace("{ax}", ax), b, f"{ax}_out"))
        if tuple(out) == tuple(kind.out_shape):
            return None
        return [tuple(out)] + list(kind.out_shapes[1:]), figs


# ----------------------------------------------------------------------------- output size
class CeilForFloor(ShapeMistake):
    id = "ceil_for_floor"
    title = N_("ceil instead of floor")
    why = N_("the output size rounds down: floor((L + 2P - D(K-1) - 1)/S) + 1; a window that does not fit is dropped")
    formula = "ceil(({ax}_in + 2*P - D*(K-1) - 1) / S) + 1"

    def size(self, L, K, S, D, pl, pr, kind):
        return -(-(L + pl + pr - D * (K - 1) - 1) // S) + 1


class FloorForCeil(Mistake):
    id = "floor_for_ceil"
    title = N_("floor instead of ceil (ceil_mode=True)")
    why = N_("with ceil_mode=True pooling rounds up: a last, partial window is kept")

    def rebuild(self, node, op, args, batch, rc):
        if args.get("ceil_mode") is True:
            args = dict(args, ceil_mode=False)
        return op, args, batch


class PaddingOneSide(ShapeMistake):
    id = "padding_one_side"
    title = N_("padding counted on one side only")
    why = N_("padding=P adds P zeros on each side: the padded length is L + 2P")
    formula = "floor(({ax}_in + P - D*(K-1) - 1) / S) + 1"

    def size(self, L, K, S, D, pl, pr, kind):
        if pl + pr == 0:
            return None
        return (L + pl - D * (K - 1) - 1) // S + 1


class TotalPaddingPerSide(ShapeMistake):
    id = "total_padding_per_side"
    title = N_("total padding used as per-side padding")
    why = N_("d2l writes p_h for the total padding (both sides together); torch's padding=P is per side, "
           "so the total is 2P: putting the total into the per-side formula counts it twice")
    formula = "floor(({ax}_in + 2*(2*P) - D*(K-1) - 1) / S) + 1"

    def size(self, L, K, S, D, pl, pr, kind):
        if pl + pr == 0:
            return None
        return (L + 2 * (pl + pr) - D * (K - 1) - 1) // S + 1


class PaddingIgnored(Mistake):
    id = "padding_ignored"
    title = N_("padding ignored")
    why = N_("padding=P adds P zeros on each side before the window slides")

    def rebuild(self, node, op, args, batch, rc):
        k = node.kind
        if (is_conv(k) or is_window_pool(k)) and any(pl or pr for *_, pl, pr in geometry(k)):
            args = dict(args, padding=0)
        return op, args, batch


class InputOverStride(ShapeMistake):
    id = "input_over_stride"
    title = N_("output size computed as input / stride")
    why = N_("the kernel, padding and dilation matter too: floor((L + 2P - D(K-1) - 1)/S) + 1")
    formula = "floor({ax}_in / S)"

    def shape(self, node, kind, rc):
        # with stride 1 on every axis "input / stride" is no formula at all: never the diagnosis
        geo = geometry(kind)
        if geo is None or all(S == 1 for _, _, _, S, *_ in geo):
            return None
        return super().shape(node, kind, rc)

    def size(self, L, K, S, D, pl, pr, kind):
        return L // S


class InputOverStrideCeil(ShapeMistake):
    id = "input_over_stride_ceil"
    title = N_("output size computed as input / stride, rounded up")
    why = N_("the kernel, padding and dilation matter too: floor((L + 2P - D(K-1) - 1)/S) + 1")
    formula = "ceil({ax}_in / S)"

    def size(self, L, K, S, D, pl, pr, kind):
        if L % S == 0:
            return None
        return -(-L // S)


class PreviousPaddingCarried(Mistake):
    id = "previous_padding_carried"
    title = N_("padding of the previous layer carried over")
    why = N_("each convolution has its own padding (torch's default is 0): the padding written for an "
           "earlier layer (LeNet's conv1 has padding=2) does not carry over to the next one")

    def rebuild(self, node, op, args, batch, rc):
        k = node.kind
        if not is_conv(k):
            return op, args, batch
        prev = None
        for n in rc.analysis.g.nodes:
            if n.id == node.id:
                break
            if not n.is_input and is_conv(n.kind) and n.kind.geometry().nd == k.geometry().nd:
                prev = n
        if prev is None:
            return op, args, batch
        pg, g = prev.kind.geometry(), k.geometry()
        if tuple(pg.pad_lo) != tuple(pg.pad_hi) or not any(pg.pad_lo) or tuple(pg.pad_lo) == tuple(g.pad_lo):
            return op, args, batch
        return op, dict(args, padding=tuple(pg.pad_lo)), batch


def tconv_geometry(kind):
    """Per spatial axis (axis, L_in, K, S, D, P, OP) of a transposed convolution."""
    geo = kind.geometry()
    return list(zip(AXES[geo.nd], kind.in_shape[1:], geo.kernel, geo.stride, geo.dilation, geo.pad_lo,
                    geo.output_padding))


class TConvPaddingIgnored(Mistake):
    id = "tconv_padding_ignored"
    title = N_("transposed-conv padding ignored")
    why = N_("a transposed convolution's padding=P removes P positions from each side of its output: "
           "L_out = (L_in - 1)*S - 2P + D*(K-1) + output_padding + 1")

    def rebuild(self, node, op, args, batch, rc):
        k = node.kind
        if is_tconv(k) and any(p for *_, p, _ in tconv_geometry(k)):
            args = dict(args, padding=0)
        return op, args, batch


class TConvPaddingAdded(Mistake):
    id = "tconv_padding_added"
    title = N_("transposed-conv padding added instead of subtracted")
    why = N_("a convolution's padding enlarges its input, but a transposed convolution's padding=P "
           "crops its output: L_out = (L_in - 1)*S - 2P + D*(K-1) + output_padding + 1")
    formula = "({ax}_in - 1)*S + 2*P + D*(K-1) + OP + 1"

    def shape(self, node, kind, rc):
        if not is_tconv(kind):
            return None
        geo = tconv_geometry(kind)
        if not any(p for *_, p, _ in geo):
            return None
        out, figs = [kind.out_shape[0]], []
        for ax, L, K, S, D, P, OP in geo:
            v = (L - 1) * S + 2 * P + D * (K - 1) + OP + 1
            out.append(v)
            figs.append(Figure(v, self.formula.replace("{ax}", ax),
                               {f"{ax}_in": L, "S": S, "P": P, "D": D, "K": K, "OP": OP}, f"{ax}_out"))
        return [tuple(out)] + list(kind.out_shapes[1:]), figs


class DilationIgnored(Mistake):
    id = "dilation_ignored"
    title = N_("dilation ignored")
    why = N_("a dilated kernel spans D*(K-1) + 1 input positions, not K")

    def rebuild(self, node, op, args, batch, rc):
        d = args.get("dilation")
        if d is not None and d != 1 and any(x != 1 for x in (d if isinstance(d, tuple) else (d,))):
            args = dict(args, dilation=1)
        return op, args, batch


# ----------------------------------------------------------------------------- parameters
class BiasForgotten(Mistake):
    id = "bias_forgotten"
    title = N_("bias forgotten")
    why = N_("bias=True (torch's default) adds one parameter per output channel and one add per output element")

    def rebuild(self, node, op, args, batch, rc):
        if args.get("bias") is True:
            args = dict(args, bias=False)
        return op, args, batch


class BiasAdded(Mistake):
    id = "bias_added"
    title = N_("bias added where the layer has none")
    why = N_("this layer is built with bias=False (usual before a BatchNorm): no bias parameters, no bias adds")

    def rebuild(self, node, op, args, batch, rc):
        if args.get("bias") is False:
            args = dict(args, bias=True)
        return op, args, batch


class GroupsIgnored(Mistake):
    id = "groups_ignored"
    title = N_("groups ignored")
    why = N_("with groups=G each filter sees only C_in/G input channels: weights and MACs are divided by G")

    def rebuild(self, node, op, args, batch, rc):
        if isinstance(node.kind, ConvBase) and args.get("groups", 1) != 1:
            args = dict(args, groups=1)
        return op, args, batch


class BNStatsAsParams(Mistake):
    id = "bn_running_stats"
    title = N_("BN running statistics counted as parameters (Keras's convention)")
    why = N_("BatchNorm's running_mean and running_var are buffers, not parameters, in PyTorch; "
           "Keras's model.summary() counts them as non-trainable parameters (4*C instead of 2*C)")

    def values(self, node, kind, v, rc):
        if isinstance(kind, BatchNormBase) and kind.args.get("track_running_stats"):
            # Keras: 4*C parameters, of which the 2*C statistics are non-trainable
            c = kind.args["num_features"]
            v = dict(v, params=v["params"] + 2 * c, trainable_delta=v.get("trainable_delta", 0) - 2 * c)
        return v


class BNAllTrainable(Mistake):
    id = "bn_all_trainable"
    title = N_("BN's four per-channel values all counted as trainable")
    why = N_("of BatchNorm's four values per channel only gamma (weight) and beta (bias) are learned; "
           "running_mean and running_var are updated by averaging, not by gradients: 2*C trainable, not 4*C")

    def values(self, node, kind, v, rc):
        if isinstance(kind, BatchNormBase) and kind.args.get("track_running_stats") and kind.args.get("affine", True):
            v = dict(v, trainable_delta=v.get("trainable_delta", 0) + 2 * kind.args["num_features"])
        return v


class PoolingParams(Mistake):
    id = "pooling_params"
    title = N_("pooling counted as having parameters")
    why = N_("a pooling layer takes the max or the mean of each window: it has no weights (0 parameters), "
           "unlike a convolution with the same kernel")

    def values(self, node, kind, v, rc):
        if is_window_pool(kind) and not v["params"]:
            geo = kind.geometry()
            # a weight per window tap and channel, as if it were a depthwise convolution: C*K_h*K_w
            v = dict(v, params=v["params"] + kind.out_shape[0] * prod(geo.kernel))
        return v


class SharedTwice(Mistake):
    id = "shared_twice"
    title = N_("shared weights counted twice")
    why = N_("a module called again (share:) reuses its weights: its parameters count once")
    per_call_params = True


class BatchInParams(Mistake):
    id = "batch_in_params"
    title = N_("batch included in the parameter count")
    why = N_("parameters do not depend on the batch size; only activations, work and memory do")

    def values(self, node, kind, v, rc):
        if kind.N > 1:
            v = dict(v, params=v["params"] * kind.N)
        return v


# ----------------------------------------------------------------------------- work
class MacsForFlops(Mistake):
    id = "macs_for_flops"
    title = N_("MACs given where FLOPs were asked")
    why = N_("a multiply-accumulate is two floating-point operations (a multiply and an add)")

    def values(self, node, kind, v, rc):
        return dict(v, flops=v["macs"])


class FlopsForMacs(Mistake):
    id = "flops_for_macs"
    title = N_("FLOPs given where MACs were asked (x2)")
    why = N_("MACs count multiply-accumulates; FLOPs count the multiply and the add separately (2 per MAC)")

    def values(self, node, kind, v, rc):
        return dict(v, macs=2 * v["macs"])


class TwoKMinusOne(Mistake):
    id = "two_k_minus_one"
    title = N_("2K - 1 operations per output (multiplications plus additions, no bias)")
    why = N_("d2l counts K multiplications and K - 1 additions per output value (2K - 1); the convention "
           "here counts 2 FLOPs per multiply-accumulate (2K) plus one per bias add")

    def values(self, node, kind, v, rc):
        if not (is_conv(kind) or kind.family == "linear"):
            return v
        mine = [t for t in kind.terms() if t.rules[0] in ("conv", "linear", "bias")]
        old = tally(mine, rc.conventions).flops
        macs = sum(t.count for t in mine if t.rules[0] != "bias")
        if not macs:
            return v
        outs = kind.N * kind.numel_out()
        return dict(v, flops=v["flops"] - old + (2 * macs - outs))


class TransposedOnOutput(Mistake):
    id = "tconv_on_output"
    title = N_("transposed convolution counted on output positions")
    why = N_("a transposed convolution scatters each input value through the kernel: its MACs are "
           "N*C_in*H_in*W_in*(C_out/G)*K_h*K_w, not the output-position count of a normal convolution")

    def terms(self, node, kind, terms, rc):
        if not is_tconv(kind):
            return terms
        args = kind.args
        v = kind.N * args["out_channels"] * prod(kind.out_shape[1:]) * (args["in_channels"] // args["groups"]) * \
            prod(args["kernel_size"])
        out = []
        for t in terms:
            if t.rules[0] == "conv_transpose":
                t = Term(t.rules, v, Figure(v, "N*C_out*H_out*W_out*(C_in/G)*K_h*K_w", {}, "MACs"))
            out.append(t)
        return out


class OnlyMacFlops(Mistake):
    id = "only_mac_flops"
    title = N_("only multiply-accumulates counted in FLOPs")
    why = N_("the FLOPs asked for also count bias adds, activations, pooling, normalisation and "
           "elementwise ops, not only 2 per conv/linear multiply-accumulate")

    def convention(self, conventions, rc):
        if conventions.only_macs:
            return conventions
        return replace(conventions, only_macs=True)


class BatchLeftOut(Mistake):
    id = "batch_left_out"
    title = N_("batch left out")
    why = N_("work and activation memory grow with the batch size N")

    def rebuild(self, node, op, args, batch, rc):
        return op, args, 1


# ----------------------------------------------------------------------------- memory
class ElementsForBytes(Mistake):
    id = "elements_for_bytes"
    title = N_("elements given where bytes were asked")
    why = N_("memory in bytes is elements x bytes per element (4 for float32)")

    def values(self, node, kind, v, rc):
        return dict(v, memory=v["activations"], saved=v["saved"] // rc.itemsize)


class BytesForElements(Mistake):
    id = "bytes_for_elements"
    title = N_("bytes given where elements were asked")
    why = N_("`activations` counts elements; bytes are elements x bytes per element")

    def values(self, node, kind, v, rc):
        return dict(v, activations=v["memory"])


class MBvsMiB(Mistake):
    id = "mb_vs_mib"
    title = N_("MB and MiB confused")
    why = N_("1 MB = 1000^2 bytes but 1 MiB = 1024^2 bytes (likewise KB/KiB, GB/GiB)")
    answer_level = True

    def answer(self, key, correct, want):
        if key not in ("memory", "saved") or not isinstance(want, str) or not isinstance(correct, (int, float)):
            return None
        import re
        m = re.search(r"([KMGT])(i?)\s*(B|bytes)?\s*$", want.strip())
        if not m:
            return None
        k = "KMGT".index(m.group(1)) + 1
        if m.group(2):   # wrote binary units for a number divided by 1000^k
            return correct * 1024 ** k / 1000 ** k
        return correct * 1000 ** k / 1024 ** k


# ----------------------------------------------------------------------------- receptive field
class RFMistake(Mistake):
    """A receptive-field rule done wrongly: ``rf_step`` replaces the engine's step arithmetic
    (``core.passes.receptive.apply``) for a window step on a local field; the merge rules and
    global steps stay the engine's."""

    def rf_step(self, f, step):
        raise NotImplementedError

    @staticmethod
    def _start(f, step):
        return tuple(Fraction(si) - Fraction(pp) * ji for si, pp, ji in zip(f["start"], step.p, f["j"]))


class RFKernelsSummed(RFMistake):
    id = "rf_kernels_summed"
    title = N_("receptive field as the sum of kernel sizes")
    why = N_("stacked windows overlap by one pixel each: two KxK convolutions see k1 + k2 - 1, not k1 + k2")
    rf_mode = "kernels_summed"

    def rf_step(self, f, step):
        # r counted as the plain sum of kernel extents: k1 + k2 (no "- 1" for the shared pixel)
        r = tuple((Fraction(ri) if ri != 1 or kk == 1 else Fraction(0)) + (Fraction(kk) * ji if kk != 1 else 0)
                  for ri, kk, ji in zip(f["r"], step.k, f["j"]))
        j = tuple(Fraction(ji) * Fraction(s) for ji, s in zip(f["j"], step.s))
        return dict(f, r=r, j=j, start=self._start(f, step), data=f["data"] or step.kind == "data")


class RFStridesIgnored(RFMistake):
    id = "rf_strides_ignored"
    title = N_("strides ignored in the receptive field")
    why = N_("after a stride-S layer every later kernel tap is S input pixels apart: r += (K-1)*jump")
    rf_mode = "strides_ignored"

    def rf_step(self, f, step):
        r = tuple(Fraction(ri) + (Fraction(kk) - 1) for ri, kk in zip(f["r"], step.k))
        return dict(f, r=r, start=self._start(f, step), data=f["data"] or step.kind == "data")


class RFFractionalJumpMultiplied(RFMistake):
    id = "rf_fractional_jump_multiplied"
    title = "jump multiplied by the upsampling factor instead of divided"
    why = ("a transposed convolution or an upsampling by S puts S output units on each input pixel: the "
           "jump between neighbouring units shrinks, j_out = j_in/S, it does not grow to j_in*S")
    rf_mode = "fractional_jump_multiplied"

    def rf_step(self, f, step):
        # the engine's step, except that a fractional stride s = 1/S multiplies the jump by S
        out = apply_step(f, step)
        j = tuple(Fraction(ji) / Fraction(s) if Fraction(s) < 1 else Fraction(jo)
                  for ji, s, jo in zip(f["j"], step.s, out["j"]))
        return dict(out, j=j)


class RFFractionalJumpKept(RFMistake):
    id = "rf_fractional_jump_kept"
    title = "jump left unchanged by an upsampling"
    why = ("an upsampling or a transposed convolution by S changes the jump too: neighbouring output units "
           "are 1/S input pixels apart, so j_out = j_in/S")
    rf_mode = "fractional_jump_kept"

    def rf_step(self, f, step):
        out = apply_step(f, step)
        j = tuple(Fraction(ji) if Fraction(s) < 1 else Fraction(jo) for ji, s, jo in zip(f["j"], step.s, out["j"]))
        return dict(out, j=j)


CATALOGUE: list[Mistake] = [
    BiasForgotten(), BiasAdded(), MacsForFlops(), FlopsForMacs(), TwoKMinusOne(), OnlyMacFlops(),
    CeilForFloor(), FloorForCeil(), PaddingOneSide(), TotalPaddingPerSide(), PaddingIgnored(),
    DilationIgnored(), GroupsIgnored(), BatchLeftOut(), BatchInParams(), ElementsForBytes(),
    BytesForElements(), MBvsMiB(), BNStatsAsParams(), TransposedOnOutput(), SharedTwice(),
    InputOverStride(), InputOverStrideCeil(), RFKernelsSummed(), RFStridesIgnored(),
    PreviousPaddingCarried(), TConvPaddingIgnored(), TConvPaddingAdded(), BNAllTrainable(), PoolingParams(),
    RFFractionalJumpMultiplied(), RFFractionalJumpKept(),
]
BY_ID = {m.id: m for m in CATALOGUE}
assert len(BY_ID) == len(CATALOGUE)
