"""Every layer kind, registered by op name in :data:`REGISTRY`."""
from . import (activation, attention, conv, linear, misc, mvit, norm, pool, rnn, swin,  # noqa: F401  (registration)
               tensor, tensor_ops, vision_ops)
from .base import REGISTRY, Arg, Kind, KindError, RFStep, Saved, Term

__all__ = ["REGISTRY", "Arg", "Kind", "KindError", "RFStep", "Saved", "Term"]
