"""What the GPU libraries allocate beside the tensors cnncalc's analytical model counts.

Pure functions of a layer kind and a profile (a dict read from a profile file): no torch here.

* convolution workspaces: cuDNN picks an algorithm per call and allocates a scratch buffer for it.
  The profile holds rules fitted on per-layer measurements (tools/fit_device.py): each rule matches a
  class of convolutions (grouping, kernel, stride, input channels) and gives
  ``max(floor, ratio * output bytes)`` for the forward call; the backward calls (data and filter
  gradients) are modelled as ``backward_factor`` times the forward value;
* fixed workspaces (cuBLAS's per-thread workspace) and optimizer-step temporaries: see model.py.
"""
from __future__ import annotations

import math


def conv_class(kind) -> dict:
    """The features a workspace rule can match, asked of the kind (family `conv`)."""
    a = kind.a
    cin, groups = a["in_channels"], a["groups"]
    grouping = "depthwise" if groups > 1 and groups == cin else ("grouped" if groups > 1 else "dense")
    return {
        "grouping": grouping,
        "kernel": "1" if math.prod(a["kernel_size"]) == 1 else ("3" if max(a["kernel_size"]) <= 3 else "large"),
        "strided": any(s > 1 for s in a["stride"]),
        "thin_input": cin < 16,
        "widens": a["out_channels"] > cin,
        "transposed": bool(getattr(kind, "transposed", False)),
    }


def match_rule(rules, features: dict):
    """The first rule whose `match` fields all equal the features (rules go from specific to general)."""
    for r in rules:
        if all(features.get(k) == v for k, v in r["match"].items()):
            return r
    return None


def forward_workspace(kind, batch: int, itemsize: int, profile: dict) -> int:
    """Bytes of library scratch while this layer's forward runs (not kept after it)."""
    if kind is None or kind.family != "conv":
        return 0
    rule = match_rule(profile["conv_workspace"]["rules"], conv_class(kind))
    if rule is None:
        return 0
    out = batch * kind.numel_out() * itemsize
    return int(max(rule["floor_bytes"], rule["ratio"] * out))


def backward_workspace(kind, batch: int, itemsize: int, profile: dict) -> int:
    """Bytes of library scratch while this layer's backward runs."""
    return int(profile["conv_workspace"]["backward_factor"] * forward_workspace(kind, batch, itemsize, profile))


def rounded(nbytes: int, profile: dict) -> int:
    """The caching allocator's block size for a request of nbytes (512-byte blocks)."""
    if nbytes <= 0:
        return 0
    q = profile["allocator"]["block_bytes"]
    return -(-nbytes // q) * q


def frame_ends(graph) -> dict:
    """(node id, output index) -> the last node id while an enclosing module call still holds it.

    In eager PyTorch a block's input is an argument of the block's ``forward`` (and the loop variable
    of the ``Sequential`` that calls it): it stays referenced until that call returns, even after its
    last reader inside the block.  A tensor read by a group (a module path of the spec) from outside it
    is therefore alive at least until the group's last node."""
    ends = {}
    for ids in graph.groups.values():
        inside = set(ids)
        end = max(ids)
        for nid in ids:
            for r in graph.nodes[nid].inputs:
                if r[0] not in inside:
                    ends[r] = max(ends.get(r, -1), end)
    return ends
