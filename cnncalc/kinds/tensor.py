"""Tensor functions under their torch names: add, sub, mul, div, abs, cat, stack, chunk, split,
flatten, reshape, permute, mean, amax.  Dims follow torch: dim 0 is the batch."""
from __future__ import annotations

from ..i18n import N_, _
from ..figure import Figure
from .base import REQUIRED, Arg, Kind, KindError, RFStep, Saved, Term, prod, register
from .strides import permute, view_strides


def broadcast(shapes, op):
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise KindError(_("`{op}`: shapes {shapes} do not broadcast (dim {i} differs: {dims})").format(op=op, shapes=' and '.join(str(list(s)) for s in shapes), i=i + 1 + (0), dims=sorted(dims)), None, code="shape")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _dim(d, rank_with_batch, op, name="dim"):
    """A torch dim (batch = 0) as an index into the batch-less shape."""
    if not isinstance(d, int) or isinstance(d, bool):
        raise KindError(_("`{name}` must be an integer").format(name=name), name)
    if d < 0:
        d += rank_with_batch
    if d == 0:
        raise KindError(_("`{op}`: {name}=0 is the batch dimension").format(op=op, name=name), name,
                        [_("dims count the batch as 0: dim 1 is the channels")])
    if not 0 < d < rank_with_batch:
        raise KindError(_("`{op}`: {name} out of range for a tensor of {rank_with_batch} dims (batch included)").format(op=op, name=name, rank_with_batch=rank_with_batch), name)
    return d - 1


class TensorFn(Kind):
    family = "tensor"
    has_module = False

    def torch_module(self):
        return None

    def torch_call(self, mod, xs):
        raise NotImplementedError


class Binary(TensorFn):
    N_INPUTS = (2, 2)           # torch.add(a, b): exactly two tensors (a `parallel` merge may sum more)
    SIG = (Arg("alpha", 1, "float"),)
    fn = "add"

    def setup(self):
        self.out_shapes = [broadcast(self.in_shapes, self.op)]

    def grad_passes_through(self, in_shape):
        # add hands its output's gradient to every input of the output's shape
        return self.fn == "add" and tuple(in_shape) == tuple(self.out_shapes[0])

    def linearised(self):
        # signs do not change which inputs are read, but could cancel them: sub -> add, div -> mul
        if self.fn == "sub":
            return lambda xs: sum(xs[1:], xs[0])
        if self.fn == "div":
            def product(xs):
                out = xs[0]
                for x in xs[1:]:
                    out = out * x
                return out
            return product
        return None

    def terms(self):
        k = len(self.in_shapes) - 1
        v = self.N * self.numel_out() * k
        return [Term(("elementwise",), v, Figure(v, "N*numel_out*(inputs - 1)", {"N": self.N, "numel_out": self.numel_out(),
                                                                              "inputs": k + 1}, "operations"))]

    def bwd_terms(self, needs_input_grad):
        return []

    def saved(self):
        # torch: mul keeps each operand for the other's gradient; div keeps the divisor for both gradients
        # and the dividend for the divisor's
        if self.op == "mul" and len(self.in_shapes) == 2:
            return [Saved(f"input{i}", prod(s), alias=f"input{i}" if i else "input", for_inputs=(1 - i,))
                    for i, s in enumerate(self.in_shapes)]
        if self.op == "mul":
            return [Saved(f"input{i}", prod(s), alias=f"input{i}" if i else "input")
                    for i, s in enumerate(self.in_shapes)]
        if self.op == "div":
            return [Saved("input1", prod(self.in_shapes[1]), alias="input1"),
                    Saved("input0", prod(self.in_shapes[0]), alias="input", for_inputs=(1,))]
        return []

    def rf(self):
        return RFStep("merge", formula=N_("elementwise merge"))

    def torch_call(self, mod, xs):
        import torch
        out = xs[0]
        for x in xs[1:]:
            if self.fn == "add":
                out = torch.add(out, x, alpha=self.a.get("alpha", 1))
            else:
                out = getattr(torch, self.fn)(out, x)
        return out


for _n in ("add", "sub", "mul", "div"):
    register(_n)(type(_n, (Binary,), {"fn": _n, "SIG": (Arg("alpha", 1, "float"),) if _n in ("add", "sub") else (),
                                      "doc": f"torch.{_n}, broadcasting"}))


@register("abs")
class Abs(TensorFn):
    SIG = ()
    doc = "torch.abs"

    def terms(self):
        v = self.N * self.numel_in()
        return [Term(("elementwise",), v, Figure(v, "N*numel", {"N": self.N, "numel": self.numel_in()}, "operations"))]

    def saved(self):
        return [Saved("input", self.numel_in(), alias="input")]

    def torch_call(self, mod, xs):
        return xs[0].abs()


@register("cat")
class Cat(TensorFn):
    N_INPUTS = (1, 1000)
    SIG = (Arg("dim", 1, "int"),)
    doc = "torch.cat (dim defaults to 1, the channels: the one departure from torch)"
    concatenates = True

    def grad_passes_through(self, in_shape):
        return True     # each input's gradient is a slice of the output's

    def setup(self):
        r = len(self.in_shape) + 1
        for s in self.in_shapes:
            if len(s) != len(self.in_shape):
                raise KindError(_("`cat`: inputs have different ranks: {in_shapes}").format(in_shapes=[list(x) for x in self.in_shapes]), None,
                                code="shape")
        d = _dim(self.a["dim"], r, "cat")
        self.d = d
        out = list(self.in_shape)
        out[d] = sum(s[d] for s in self.in_shapes)
        self.out_shapes = [tuple(out)]
        # mismatch outside dim is reported by the loader (which knows the branches' names)
        for s in self.in_shapes:
            if any(a != b for i, (a, b) in enumerate(zip(s, self.in_shape)) if i != d):
                raise KindError(_("cat: shapes differ outside the concatenated dim"), None, code="cat-mismatch")

    def rf(self):
        return RFStep("merge", formula=N_("concatenation"))

    def spatial_offsets(self):
        """Along a spatial dim, input i's units sit after the earlier inputs: the sum of their sizes."""
        if self.d == 0:
            return None
        return (self.d - 1, _offsets([s[self.d] for s in self.in_shapes]), (0,))

    def rf_index(self, sets, i=0, out=0):
        so = self.spatial_offsets()
        if so is None:
            return tuple(sets)
        return _shift(sets, so[0], -so[1][i], self.in_shapes[i][self.d])

    def torch_call(self, mod, xs):
        import torch
        return torch.cat(xs, dim=self.a["dim"])


@register("stack")
class Stack(TensorFn):
    N_INPUTS = (1, 1000)
    SIG = (Arg("dim", 1, "int"),)
    doc = "torch.stack (dim 1 by default here, since dim 0 is the batch)"

    def setup(self):
        if len(set(self.in_shapes)) != 1:
            raise KindError(_("`stack` needs equal shapes, got {in_shapes}").format(in_shapes=[list(s) for s in self.in_shapes]), None, code="shape")
        d = _dim(self.a["dim"], len(self.in_shape) + 2, "stack")
        out = list(self.in_shape)
        out.insert(d, len(self.in_shapes))
        self.out_shapes = [tuple(out)]

    def rf(self):
        return RFStep("merge", formula=N_("stack"))

    def torch_call(self, mod, xs):
        import torch
        return torch.stack(xs, dim=self.a["dim"])


@register("chunk")
class Chunk(TensorFn):
    SIG = (Arg("chunks", REQUIRED, "int"), Arg("dim", 0, "int"))
    view = True
    doc = "torch.chunk: several outputs, referenced as name:0, name:1, ..."

    def setup(self):
        d = _dim(self.a["dim"], len(self.in_shape) + 1, "chunk")
        L = self.in_shape[d]
        n = self.a["chunks"]
        if n < 1:
            raise KindError(_("`chunks` must be positive, got {n} (as in torch)").format(n=n), "chunks")
        _check_pieces(min(n, L), "chunk")
        size = -(-L // n)
        sizes = []
        left = L
        while left > 0:
            sizes.append(min(size, left))
            left -= size
        self.out_shapes = [tuple(s if i != d else sz for i, s in enumerate(self.in_shape)) for sz in sizes]

    def out_strides(self, ins):
        return [ins[0][1]] * len(self.out_shapes)     # slices along one dim keep the input's strides

    def torch_call(self, mod, xs):
        import torch
        return list(torch.chunk(xs[0], self.a["chunks"], dim=self.a["dim"]))

    def spatial_offsets(self):
        return _split_offsets(self)

    def rf_index(self, sets, i=0, out=0):
        return _split_index(self, sets, out)


@register("split")
class Split(TensorFn):
    SIG = (Arg("split_size_or_sections", REQUIRED, "any"), Arg("dim", 0, "int"))
    view = True
    doc = "torch.split"

    def setup(self):
        d = _dim(self.a["dim"], len(self.in_shape) + 1, "split")
        L = self.in_shape[d]
        s = self.a["split_size_or_sections"]
        if isinstance(s, int) and not isinstance(s, bool):
            if s < 1:
                raise KindError(_("`split_size_or_sections` must be positive, got {s} (as in torch)").format(s=s),
                                "split_size_or_sections")
            _check_pieces(-(-L // s), "split")
            sizes = [min(s, L - i) for i in range(0, L, s)]
        else:
            if not isinstance(s, (list, tuple)) or not s or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in s):
                raise KindError(_("`split_size_or_sections` must be a positive int or a list of positive ints, got {s!r}").format(s=s), "split_size_or_sections")
            _check_pieces(len(s), "split")
            sizes = list(s)
            if sum(sizes) != L:
                raise KindError(_("split sections {sizes} sum to {sum}, not {L}").format(sizes=sizes, sum=sum(sizes), L=L), "split_size_or_sections")
        self.out_shapes = [tuple(x if i != d else sz for i, x in enumerate(self.in_shape)) for sz in sizes]

    def out_strides(self, ins):
        return [ins[0][1]] * len(self.out_shapes)     # slices along one dim keep the input's strides

    def torch_call(self, mod, xs):
        import torch
        s = self.a["split_size_or_sections"]
        return list(torch.split(xs[0], list(s) if not isinstance(s, int) else s, dim=self.a["dim"]))

    def spatial_offsets(self):
        return _split_offsets(self)

    def rf_index(self, sets, i=0, out=0):
        return _split_index(self, sets, out)


def _shift(sets, axis, delta, L):
    """Index sets (bit masks) moved by `delta` along `axis` and clipped to [0, L - 1] there."""
    m = sets[axis] << delta if delta >= 0 else sets[axis] >> -delta
    return tuple(m & ((1 << L) - 1) if a == axis else x for a, x in enumerate(sets))


def _offsets(sizes):
    """Where each of consecutive parts of these sizes starts: 0, sizes[0], sizes[0] + sizes[1], ..."""
    out, off = [], 0
    for s in sizes:
        out.append(off)
        off += s
    return tuple(out)


def _split_offsets(self):
    """Output k of a split along a spatial dim starts at the sum of the earlier parts' sizes."""
    d = _dim(self.a["dim"], len(self.in_shape) + 1, self.op)
    if d == 0:
        return None
    return (d - 1, (0,), _offsets([s[d] for s in self.out_shapes]))


def _split_index(self, sets, out):
    so = _split_offsets(self)
    if so is None:
        return tuple(sets)
    return _shift(sets, so[0], so[2][out], self.in_shape[so[0] + 1])


def _check_pieces(n, op):
    """No more outputs than the bound on layers (a split of a huge dim into ones would be millions)."""
    from .. import limits
    if n > limits.get("nodes"):
        raise KindError(_("`{op}` would make {n:,} outputs").format(op=op, n=n), None, [limits.hint("nodes")], code="limit")


def _flatten_shape(shape, start, end, op):
    r = len(shape) + 1
    if start < 0:
        start += r
    if end < 0:
        end += r
    if start == 0:
        raise KindError(_("`{op}` with start_dim=0 would flatten the batch").format(op=op), "start_dim",
                        [_("use start_dim: 1 (nn.Flatten's default)")])
    s, e = start - 1, end - 1
    if not 0 <= s <= e < len(shape):
        raise KindError(_("`{op}`: dims {start}..{end} out of range for {shape}").format(op=op, start=start, end=end, shape=list(shape)), "start_dim")
    return tuple(shape[:s]) + (prod(shape[s:e + 1]),) + tuple(shape[e + 1:])


@register("flatten")
class FlattenFn(TensorFn):
    SIG = (Arg("start_dim", 0, "int"), Arg("end_dim", -1, "int"))
    view = True
    doc = "torch.flatten (start_dim defaults to 0 as in torch, which is refused: it is the batch)"

    def setup(self):
        self.out_shapes = [_flatten_shape(self.in_shape, self.a["start_dim"], self.a["end_dim"], "flatten")]

    def rf(self):
        return RFStep("global", formula=N_("flatten: spatial axes merged"))

    def out_strides(self, ins):
        # torch.reshape/flatten view the input when aten's computeStride allows, else copy (None)
        return [view_strides(ins[0][0], ins[0][1], self.full_out_shape())]

    def torch_call(self, mod, xs):
        return xs[0].flatten(self.a["start_dim"], self.a["end_dim"])


@register("reshape")
class Reshape(TensorFn):
    SIG = (Arg("shape", REQUIRED, "any"),)
    view = True
    doc = "torch.reshape; `shape` excludes the batch (one entry may be -1)"

    def setup(self):
        shp = list(self.a["shape"]) if not isinstance(self.a["shape"], int) else [self.a["shape"]]
        n = self.numel_in()
        if shp.count(-1) > 1:
            raise KindError(_("at most one -1 in `shape`"), "shape")
        if -1 in shp:
            rest = prod(x for x in shp if x != -1)
            if n % rest:
                raise KindError(_("cannot reshape {in_shape} ({n} elements) to {shp}").format(in_shape=list(self.in_shape), n=n, shp=shp), "shape")
            shp[shp.index(-1)] = n // rest
        if prod(shp) != n:
            raise KindError(_("cannot reshape {in_shape} ({n} elements) to {shp} ({prod})").format(in_shape=list(self.in_shape), n=n, shp=shp, prod=prod(shp)), "shape",
                            [_("`shape` excludes the batch")])
        self.out_shapes = [tuple(shp)]

    def rf(self):
        return RFStep("global", formula=N_("reshape"))

    def out_strides(self, ins):
        # torch.reshape/flatten view the input when aten's computeStride allows, else copy (None)
        return [view_strides(ins[0][0], ins[0][1], self.full_out_shape())]

    def torch_call(self, mod, xs):
        return xs[0].reshape((xs[0].shape[0],) + self.out_shape)


@register("permute")
class Permute(TensorFn):
    SIG = (Arg("dims", REQUIRED, "any"),)
    view = True
    doc = "torch.permute; dims include the batch, which must stay first"

    def setup(self):
        d = list(self.a["dims"])
        if sorted(d) != list(range(len(self.in_shape) + 1)) or d[0] != 0:
            raise KindError(_("`dims` must be a permutation of 0..{n_in_shape} keeping 0 (the batch) first").format(n_in_shape=len(self.in_shape)),
                            "dims")
        self.out_shapes = [tuple(self.in_shape[i - 1] for i in d[1:])]

    def rf(self):
        return RFStep("global", formula=N_("permute"))

    def out_strides(self, ins):
        return [permute(ins[0][1], self.a["dims"])]

    def rf_index(self, sets, i=0, out=0):
        """Spatial axes are reordered: input axis d[m] is output axis m.  The axis that becomes the
        output's channel axis is read whole (every channel of a unit), as is the input's channel axis."""
        d = list(self.a["dims"])
        res = []
        for ax, L in enumerate(self.in_shape[1:]):
            m = d.index(ax + 2)                        # where input axis ax + 2 (batch included) goes
            res.append((1 << L) - 1 if m == 1 else sets[m - 2])
        return tuple(res)

    def torch_call(self, mod, xs):
        return xs[0].permute(*self.a["dims"])


class Reduce(TensorFn):
    SIG = (Arg("dim", REQUIRED, "any"), Arg("keepdim", False, "bool"))

    def setup(self):
        dims = self.a["dim"]
        dims = [dims] if isinstance(dims, int) else list(dims)
        r = len(self.in_shape) + 1
        ds = sorted({_dim(x, r, self.op) for x in dims})
        self.ds = ds
        if self.a["keepdim"]:
            out = tuple(1 if i in ds else s for i, s in enumerate(self.in_shape))
        else:
            out = tuple(s for i, s in enumerate(self.in_shape) if i not in ds)
        self.out_shapes = [out]

    def terms(self):
        v = self.N * self.numel_in()
        return [Term(("reduce",), v, Figure(v, "N*numel_in", {"N": self.N, "numel_in": self.numel_in()}, "operations"))]

    def rf(self):
        sp = [i - 1 for i in self.ds if i >= 1]
        if sp:
            return RFStep("global", formula=N_("reduction over spatial axes"))
        return RFStep("merge", formula=N_("reduction over channels"))

    def rf_index(self, sets, i=0, out=0):
        """Reduced spatial axes are read whole; kept ones per position.  Without keepdim the kept axes
        move up: the first kept one is the output's channel axis (read whole), the next its spatial axes."""
        kept = list(range(len(self.in_shape))) if self.a["keepdim"] else \
            [i for i in range(len(self.in_shape)) if i not in self.ds]
        res = []
        for ax, L in enumerate(self.in_shape[1:]):
            i = ax + 1
            whole = i in self.ds or not kept or kept[0] == i
            res.append((1 << L) - 1 if whole else sets[kept.index(i) - 1])
        return tuple(res)

    def torch_call(self, mod, xs):
        import torch
        return getattr(torch, self.op)(xs[0], dim=self.a["dim"], keepdim=self.a["keepdim"])


@register("mean")
class Mean(Reduce):
    doc = "torch.mean over dims"


@register("amax")
class Amax(Reduce):
    doc = "torch.amax over dims"

    def linearised(self):
        # arg-max hides the inputs it does not pick: the mean reads the same ones
        dim, keep = self.a["dim"], self.a["keepdim"]
        return lambda xs: xs[0].mean(dim=dim, keepdim=keep)

    def saved(self):
        return [Saved("input", self.numel_in(), alias="input"), Saved("output", self.numel_out(), alias="output")]
