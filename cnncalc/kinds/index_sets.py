"""Index arithmetic of spatial ops: which input indices a set of output indices reads.

Pure integer and Fraction arithmetic (no torch), shared by the kinds' ``rf_index`` methods and by
``receptive.window``.  A set of indices along one axis is a Python int used as a bit mask (bit ``o``
set when index ``o`` is in the set): shifting a mask moves the set, OR is the union, and a mask is
clipped to an axis of size ``L`` by ``& ((1 << L) - 1)``.  Sets rather than intervals, because
dilation and strides leave holes that matter two layers later: a dilated unit reading rows
{1, 5} does not read row 2, nor what row 2 would read (on DeepLab's ASPP, intervals overstated
14 of 48 probed windows).

Every function takes the mask of output indices along one axis and returns the mask of the input
indices they read, clipped to the input (0: they read only padding).
"""
from __future__ import annotations

import math
from fractions import Fraction


def span(lo, hi):
    """The mask of the indices lo..hi (0 when empty)."""
    return ((1 << (hi - lo + 1)) - 1) << lo if hi >= lo >= 0 else 0


def full(L):
    return (1 << L) - 1


def bits(m):
    """The indices in a mask, ascending."""
    while m:
        low = m & -m
        yield low.bit_length() - 1
        m ^= low


def runs(m):
    """The maximal runs (lo, hi) of consecutive indices in a mask, ascending."""
    while m:
        lo = (m & -m).bit_length() - 1
        x = m >> lo
        n = (x ^ (x + 1)).bit_length() - 1
        yield lo, lo + n - 1
        m &= ~span(lo, lo + n - 1)


def bounds(m):
    """The bounding interval (first, last) of a mask, or None when empty."""
    return ((m & -m).bit_length() - 1, m.bit_length() - 1) if m else None


def shift(m, t):
    """The set moved by t (indices that become negative are dropped)."""
    return m << t if t >= 0 else m >> -t


def stretch(m, s):
    """{o*s : o in m}."""
    if s == 1:
        return m
    out = 0
    for o in bits(m):
        out |= 1 << (o * s)
    return out


def taps(m, stride, offsets, L):
    """Inputs ``o*stride + t`` for ``o`` in ``m`` and ``t`` in ``offsets``, inside ``[0, L)``.
    A convolution or pooling window has ``offsets = [D*k - P for k in range(K)]``."""
    st = stretch(m, stride)
    out = 0
    for t in offsets:
        out |= shift(st, t)
    return out & full(L)


def fold(i, L, mode):
    """Where torch's non-zero padding modes take padded index ``i`` (relative to the input) from;
    None for zero/constant padding outside the input."""
    if 0 <= i < L:
        return i
    if mode == "reflect":
        return -i if i < 0 else 2 * (L - 1) - i
    if mode == "replicate":
        return 0 if i < 0 else L - 1
    if mode == "circular":
        return i % L
    return None


def taps_mode(m, stride, offsets, L, mode):
    """As ``taps`` for padding that copies input pixels (reflect, replicate, circular): a padded
    index ``o*stride + t`` outside the input maps back through ``fold``."""
    out = taps(m, stride, offsets, L)
    if mode in (None, "zeros", "constant"):
        return out
    for o in bits(m):
        for t in offsets:
            i = o * stride + t
            if not 0 <= i < L:
                out |= 1 << fold(i, L, mode)
    return out


def transposed(m, stride, dilation, kernel, padding, L):
    """ConvTranspose: output ``o`` reads the inputs ``i`` with ``i*S = o + P - D*t``, ``t = 0..K-1``
    (whole numbers only: with S > 1 each output reads every S-th tap)."""
    out = 0
    for t in range(kernel):
        sh = shift(m, padding - dilation * t)
        if stride == 1:
            out |= sh
        else:
            for q in bits(sh):
                if q % stride == 0:
                    out |= 1 << (q // stride)
    return out & full(L)


def adaptive(m, L, n):
    """Adaptive pooling: output i reads [floor(i*L/n), ceil((i+1)*L/n) - 1] (torch's start/end index)."""
    out = 0
    for o0, o1 in runs(m):
        out |= span((o0 * L) // n, -((-(o1 + 1) * L) // n) - 1)
    return out & full(L)


def interp_scale(L_in, L_out, align_corners, scale_factor=None):
    """torch's ``area_pixel_compute_scale``: the source step between neighbouring outputs."""
    if align_corners:
        return Fraction(L_in - 1, L_out - 1) if L_out > 1 else Fraction(0)
    if scale_factor:
        return 1 / Fraction(scale_factor)
    return Fraction(L_in, L_out)


def nearest_reads(o, L_in, L_out, scale_factor=None, exact=False):
    """mode='nearest': source floor(o*scale); 'nearest-exact': floor((o + 1/2)*scale); clamped."""
    if L_in == L_out:
        return (o,)
    s = 1 / Fraction(scale_factor) if scale_factor else Fraction(L_in, L_out)
    return (min(math.floor((o + (Fraction(1, 2) if exact else 0)) * s), L_in - 1),)


def linear_reads(o, L_in, scale, align_corners):
    """The source pixels of output o of a (bi/tri)linear interpolation with a non-zero weight.
    torch: x = scale*(o + 1/2) - 1/2, clamped at 0 (align_corners=False) or x = o*scale (True);
    i0 = floor(x), i1 = min(i0 + 1, L - 1), weights 1 - (x - i0) and x - i0."""
    x = o * scale if align_corners else max(scale * (o + Fraction(1, 2)) - Fraction(1, 2), Fraction(0))
    i0 = min(math.floor(x), L_in - 1)
    return (i0, min(i0 + 1, L_in - 1)) if x != math.floor(x) else (i0,)


def cubic_reads(o, L_in, scale, align_corners):
    """Bicubic: x as for linear but not clamped; taps floor(x)-1 .. floor(x)+2 clamped to the input;
    at a whole x only the centre tap has a non-zero weight (the cubic kernel vanishes at 1 and 2)."""
    x = o * scale if align_corners else scale * (o + Fraction(1, 2)) - Fraction(1, 2)
    i = math.floor(x)
    return tuple(min(max(t, 0), L_in - 1) for t in ((i,) if x == i else (i - 1, i, i + 1, i + 2)))


def interpolate(m, L_in, L_out, mode, align_corners=False, scale_factor=None):
    """What the outputs in ``m`` of ``F.interpolate`` read, per mode (pixels with a non-zero weight)."""
    if mode == "area":
        return adaptive(m, L_in, L_out)
    out = 0
    if mode in ("nearest", "nearest-exact"):
        for o in bits(m):
            for i in nearest_reads(o, L_in, L_out, scale_factor, mode == "nearest-exact"):
                out |= 1 << i
        return out
    scale = interp_scale(L_in, L_out, bool(align_corners), None if align_corners else scale_factor)
    fn = cubic_reads if mode == "bicubic" else linear_reads
    for o in bits(m):
        for i in fn(o, L_in, scale, align_corners):
            out |= 1 << i
    return out
