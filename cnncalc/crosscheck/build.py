"""Build the real ``torch.nn.Module`` of an analysed graph, and run it.

The module tree mirrors the spec's instance paths, so ``model.get_submodule("layer2.0.conv1")``
is the module the report calls ``layer2.0.conv1``, and counters that name modules
(``FlopCounterMode``, ``fvcore``) use the report's names.  Nodes with the same ``node.module``
(``share:``) call ONE module instance.  ``forward`` interprets the graph in its topological order,
as ``torch.fx.Interpreter`` does, freeing each value after its last use.

torch is imported inside functions only (this module is imported by the CLI lazily anyway).
"""
from __future__ import annotations

import math

# dtype names of the spec format -> torch attribute names
TORCH_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16", "float64": "float64"}


def torch_dtype(name: str):
    import torch
    return getattr(torch, TORCH_DTYPES.get(name, "float32"))


def build_model(graph, seed: int = 0):
    """The torch model of ``graph`` (an instance of ``GraphNet``), in eval mode, on the CPU."""
    import torch
    torch.manual_seed(seed)
    return _graph_net_class()(graph).eval()


_CLS = None


def _graph_net_class():
    """Define the nn.Module subclass on first use (torch imported lazily)."""
    global _CLS
    if _CLS is not None:
        return _CLS
    import torch.nn as nn

    class GraphNet(nn.Module):
        """Runs a cnncalc Graph: one submodule per distinct ``node.module``, values by (node id, k)."""

        def __init__(self, graph):
            super().__init__()
            self._g = graph
            self._mods = {}          # node.module -> nn.Module
            self._paths = {}         # node.module -> its qualified name inside this module
            self.unbuildable = []    # (node name, op) of nodes without a torch builder
            for n in graph.nodes:
                if n.is_input:
                    continue
                if not getattr(n.kind, "has_module", True):
                    if getattr(n.kind, "torch_call", None) is None:
                        self.unbuildable.append((n.name, n.op))
                    continue
                if n.module in self._mods:
                    continue
                try:
                    m = n.kind.torch_module()
                except NotImplementedError:
                    self.unbuildable.append((n.name, n.op))
                    continue
                if m is None:
                    if getattr(n.kind, "torch_call", None) is None:
                        self.unbuildable.append((n.name, n.op))
                    continue
                self._mods[n.module] = m
                self._paths[n.module] = _attach(self, n.module, m)
            uses = {}
            for n in graph.nodes:
                for ref in n.inputs:
                    uses[ref] = n.id
            for ref in graph.outputs:
                uses[ref] = math.inf
            self._last_use = uses
            self.record = False          # record output shapes of every node
            self.shapes = {}             # node id -> [shape with batch, ...]
            self.capture = set()         # node ids whose values to keep in `captured`
            self.captured = {}
            self.on_node = None          # callback(node) before a node runs (saved-tensor attribution)
            self.override = {}           # node id -> callable(xs) replacing the node (receptive-field probe)
            self.stop_after = None       # node id after which the forward stops (returns None)

        def module_of(self, node):
            return self._mods.get(node.module)

        def path_of(self, node):
            return self._paths.get(node.module)

        def forward(self, *inputs):
            g = self._g
            if len(inputs) != len(g.inputs):
                raise ValueError(f"the graph has {len(g.inputs)} inputs, got {len(inputs)}")
            vals = {}
            for nid, x in zip(g.inputs, inputs):
                vals[(nid, 0)] = x
            for n in g.nodes:
                if n.is_input:
                    continue
                xs = [vals[r] for r in n.inputs]
                if self.on_node is not None:
                    self.on_node(n)
                out = self._run(n, xs)
                if not isinstance(out, (list, tuple)):
                    out = [out]
                out = list(out)[:max(1, len(n.out_shapes))]
                for k, v in enumerate(out):
                    vals[(n.id, k)] = v
                if self.record:
                    self.shapes[n.id] = [tuple(v.shape) for v in out]
                if n.id in self.capture:
                    self.captured[n.id] = out
                for r in set(n.inputs):
                    if self._last_use.get(r) == n.id:
                        vals.pop(r, None)
                if n.id == self.stop_after:
                    return None
            if self.on_node is not None:
                self.on_node(None)
            outs = [vals[r] for r in g.outputs]
            return outs[0] if len(outs) == 1 else tuple(outs)

        def _run(self, n, xs):
            k = n.kind
            if n.id in self.override:
                return self.override[n.id](xs)
            mod = self._mods.get(n.module) if getattr(k, "has_module", True) else None
            call = getattr(k, "torch_call", None)
            if call is not None:
                return call(mod, xs)
            if mod is None:
                raise NotImplementedError(f"{n.op} ({n.name}) has neither a torch module nor a torch call")
            return mod(*xs)

    _CLS = GraphNet
    return _CLS


def _attach(root, path: str, mod) -> str:
    """Register ``mod`` under the dotted ``path``, creating plain containers on the way.

    Where a prefix of the path is already a leaf module (a name used both as a layer and a
    group), the remaining dots are flattened to underscores.  Returns the qualified name.
    """
    import torch.nn as nn
    parts = path.split(".")
    cur = root
    done = []
    for i, p in enumerate(parts[:-1]):
        child = cur._modules.get(p)
        if child is None:
            child = nn.Module()
            cur.add_module(p, child)
        elif type(child) is not nn.Module:        # a real layer: cannot hold children
            rest = "_".join(parts[i:])
            while rest in cur._modules:
                rest += "_"
            cur.add_module(rest, mod)
            return ".".join(done + [rest])
        cur = child
        done.append(p)
    last = parts[-1]
    if last in cur._modules:                       # a container already sits here
        last = last + "_"
        while last in cur._modules:
            last += "_"
    cur.add_module(last, mod)
    return ".".join(done + [last])


def make_inputs(graph, batch: int, seed: int = 0, dtype=None, device="cpu", positive=False):
    """Random inputs of the graph's input shapes (batch first)."""
    import torch
    gen = torch.Generator().manual_seed(seed + 1)
    dt = dtype or torch_dtype(graph.dtype)
    out = []
    for nid in graph.inputs:
        shape = (batch,) + tuple(graph.nodes[nid].out_shapes[0])
        x = torch.rand(shape, generator=gen) + 0.5 if positive else torch.randn(shape, generator=gen)
        out.append(x.to(device=device, dtype=dt))
    return tuple(out)
