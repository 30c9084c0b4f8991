"""Memory layout (core/passes/layout.py, kinds/strides.py) against torch, measured in the tests: the
view rule of reshape, the strides of views and elementwise outputs, which reshapes copy, and what
einsum saves for backward (views of its operands or copies, by their layout)."""
from __future__ import annotations

import random
import warnings

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from cnncalc.api import analysis_for  # noqa: E402
from cnncalc.frontends.module_target import analysis_for_module  # noqa: E402
from cnncalc.kinds.strides import dense_like, einsum_pair, view_strides  # noqa: E402


def _random_view_case(rng):
    nd = rng.randint(1, 5)
    shape = [rng.choice([1, 2, 3, 4, 6]) for _ in range(nd)]
    x = torch.empty([s * rng.choice([1, 1, 2]) for s in shape])        # some dims sliced: gaps
    x = x[tuple(slice(0, s) for s in shape)]
    perm = list(range(nd))
    rng.shuffle(perm)
    x = x.permute(perm)
    new, rem = [], x.numel()
    while rem > 1:
        d = rng.choice([d for d in range(1, rem + 1) if rem % d == 0])
        new.append(d)
        rem //= d
        if rng.random() < 0.2:
            new.append(1)
    return x, new or [1]


def test_view_rule_equals_torch():
    # torch.Tensor.view succeeds (and its strides) exactly where aten's computeStride does
    rng = random.Random(0)
    views = copies = 0
    for _ in range(600):
        x, new = _random_view_case(rng)
        try:
            want = tuple(x.view(new).stride())
            views += 1
        except RuntimeError:
            want = None
            copies += 1
        assert view_strides(tuple(x.shape), x.stride(), tuple(new)) == want, (tuple(x.shape), x.stride(), new)
    assert views > 100 and copies > 100          # both outcomes exercised


def test_elementwise_output_follows_the_input_memory_order():
    x = torch.randn(2, 3, 4, 5).permute(0, 2, 1, 3)              # not contiguous, dense
    assert dense_like(tuple(x.shape), x.stride()) == (x * 0.5).stride() == torch.relu(x).stride()
    q = torch.randn(2, 3, 12)[..., :4]                            # a chunk of the last dim: not dense
    assert dense_like(tuple(q.shape), q.stride()) == (q * 2).stride() == (12, 4, 1)


def _saved_storages(fn, *xs):
    """{data_ptr: nbytes} of what autograd saves while fn runs (storages counted once)."""
    seen = {}

    def pack(t):
        st = t.untyped_storage()
        seen[st.data_ptr()] = st.nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = fn(*xs)
    return seen, y


def _operand(shape, memory_order, rng_grad=True):
    """A tensor of ``shape`` laid out in memory in ``memory_order`` (a permutation of its dims)."""
    t = torch.randn([shape[d] for d in memory_order], requires_grad=rng_grad) * 1
    inv = [memory_order.index(d) for d in range(len(shape))]
    return t.permute(inv)


@pytest.mark.parametrize("eq,sa,oa,sb,ob", [
    ("bij,bjk->bik", (2, 5, 4), (0, 1, 2), (2, 4, 3), (0, 1, 2)),       # both row-major: both views
    ("bij,bjk->bki", (2, 5, 4), (0, 1, 2), (2, 4, 3), (0, 1, 2)),       # torch swaps the operands
    ("bji,bjk->bik", (2, 4, 5), (0, 2, 1), (2, 4, 3), (0, 2, 1)),       # transposed in memory: still views
    ("bhid,bhjd->bhij", (2, 3, 5, 4), (0, 2, 1, 3), (2, 3, 6, 4), (0, 2, 1, 3)),   # heads permuted: copies
    ("bhid,bhjd->bhij", (1, 3, 5, 4), (0, 2, 1, 3), (1, 3, 6, 4), (0, 1, 2, 3)),   # batch 1, one copy
])
def test_einsum_saved_views_and_copies_equal_torch(eq, sa, oa, sb, ob):
    torch.manual_seed(0)
    a, b = _operand(sa, list(oa)), _operand(sb, list(ob))
    seen, y = _saved_storages(lambda u, v: torch.einsum(eq, u, v), a, b)
    ins, out = eq.split("->")
    saved, out_st = einsum_pair(ins.split(","), out, [tuple(a.shape), tuple(b.shape)], [a.stride(), b.stride()])
    operands = {a.untyped_storage().data_ptr(), b.untyped_storage().data_ptr()}
    # a view is saved in its operand's storage; a copy is a new storage of the operand's elements
    assert sorted(v for v, _ in saved) == sorted(p in operands for p in seen)
    copied = sum(4 * n for v, n in saved if not v)
    assert copied == sum(nb for p, nb in seen.items() if p not in operands)
    assert all(s == t for s, t, n in zip(out_st, y.stride(), y.shape) if n != 1)


class _Attn(nn.Module):
    """MaxViT's attention core: q, k, v chunks of one projection, heads permuted, k scaled."""

    def __init__(self, c=8, heads=2):
        super().__init__()
        self.qkv = nn.Linear(c, 3 * c)
        self.h = heads

    def forward(self, x):
        B, G, P, D = x.shape
        q, k, v = torch.chunk(self.qkv(x), 3, dim=-1)
        q, k, v = (t.reshape(B, G, P, self.h, D // self.h).permute(0, 1, 3, 2, 4) for t in (q, k, v))
        k = k * 0.5
        s = torch.einsum("B G H I D, B G H J D -> B G H I J", q, k).softmax(-1)
        return torch.einsum("B G H I J, B G H J D -> B G H I D", s, v)


def _analyse(m, shape, batch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analysis_for_module("m", inputs=["x".join(map(str, shape))], model=m, batch=batch)


@pytest.mark.parametrize("batch", [1, 2])
def test_einsum_attention_saved_bytes_equal_torch(batch):
    # q and k (permuted chunks, k scaled in their memory order) are copied for the scores' bmm, the
    # softmax output is a view, v is copied: with G=3 windows, P=5 tokens, C=8, 2 heads, per sample
    # q, k, v copies 3 * (3*5*8*4) = 1,440 B, the scale's output 480 B is not saved, softmax 3*2*5*5*4 = 600 B
    torch.manual_seed(0)
    m = _Attn().train()
    x = torch.randn(batch, 3, 5, 8)
    params = {p.untyped_storage().data_ptr() for p in m.parameters()}
    seen, _ = _saved_storages(m, x)
    want = sum(nb for p, nb in seen.items() if p not in params)
    a = _analyse(m, (3, 5, 8), batch)
    assert a.totals()["saved_bytes"] == want
    assert want == batch * (3 * 5 * 8 * 4 + 1_440 + 600)          # + the Linear's input x


def test_permute_reshape_copies_and_a_viewable_reshape_does_not():
    # torch: x.permute(0, 2, 3, 1).reshape(N, -1) is a new storage; x.reshape(N, -1) is x's
    x = torch.randn(2, 8, 6, 5)
    p = x.permute(0, 2, 3, 1)
    assert p.reshape(2, -1).untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
    assert x.reshape(2, -1).untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    spec = """
cnncalc: 1
input: [4, 6, 5]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 1}
  - permute: {dims: [0, 2, 3, 1]}
  - reshape: {shape: [-1]}
  - reshape: {shape: [48, 5]}
  - Linear: {out_features: 3}
"""
    a = analysis_for("t.yaml", text=spec, batch=2)
    conv, perm, flat, back, lin = [n for n in a.g.nodes if not n.is_input]
    st = a.storage
    assert st[(perm.id, 0)] == st[(conv.id, 0)]                  # the permute is a view
    assert st[(flat.id, 0)] != st[(conv.id, 0)]                  # its reshape copies ...
    assert a.layer[flat.id]["alloc_bytes"] == 2 * 8 * 6 * 5 * 4 == 1_920     # ... a new 1,920 B tensor
    assert st[(back.id, 0)] == st[(flat.id, 0)] and a.layer[back.id]["alloc_bytes"] == 0   # row-major: a view
    # allocated by the layers: conv 1,920 + the copy 1,920 + the Linear's output 2*48*3*4 = 1,152
    assert a.totals()["activation_bytes"] == 1_920 + 1_920 + 1_152


def test_maxvit_attention_saved_bytes_equal_torch():
    # torchvision's MaxViT attention, 64 channels in 2 heads of 32, G=4 windows of P=49 tokens, batch 1:
    # torch saves (its input x aside) q, k, v copied for bmm and the merge's input, 4 * 4*49*64*4 = 200,704 B,
    # and the softmax output 4*2*49*49*4 = 76,832 B: 277,536 B (the earlier model said 327,712 B)
    from torchvision.models.maxvit import RelativePositionalMultiHeadAttention
    torch.manual_seed(0)
    m = RelativePositionalMultiHeadAttention(64, 32, 49).train()
    x = torch.randn(1, 4, 49, 64)
    skip = {t.untyped_storage().data_ptr() for t in list(m.parameters()) + list(m.buffers()) + [x]}
    seen, _ = _saved_storages(m, x)
    want = sum(nb for p, nb in seen.items() if p not in skip)
    assert want == 4 * 4 * 49 * 64 * 4 + 4 * 2 * 49 * 49 * 4 == 277_536
    a = _analyse(m, (4, 49, 64), 1)
    x_bytes = 4 * 49 * 64 * 4                     # the input, saved by to_qkv (the module's caller holds it)
    assert a.totals()["saved_bytes"] - x_bytes == want
