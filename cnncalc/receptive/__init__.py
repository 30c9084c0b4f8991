"""Receptive fields beyond the (size, jump, padding) recurrence of the analysis pass.

- ``index``: the index arithmetic of every spatial op (which inputs an output interval reads);
- ``window``: the exact window of any output unit, walking the graph backwards (no torch);
- ``envelope``: the analytic (r, j, p) per node with spatial concatenation and split offsets;
- ``report``: what ``cnncalc rf`` prints (windows beside envelopes, with the rules explained);
- ``probe``: the gradient-support cross-check of the windows (torch, imported inside functions);
- ``erf``: the effective receptive field (Luo et al., 2016) at initialisation (torch).
"""
