"""The analysis passes: pure functions of the topologically ordered graph.

Each pass takes what it needs explicitly and returns its own frozen result; none reads or writes
another pass's object.  The order they run in (``core/analyze.py``):

  gradients   which nodes autograd records, which need an input gradient
  costs       parameters and buffers per module (shared modules once), forward and backward work
  layout      the strides of every tensor; which outputs of view kinds torch copies
  storage     which storage each output lives in, its bytes; saved-for-backward bytes per node
  receptive   receptive field per axis, in the coordinates of each network input
  expects     the spec's expected answers, checked against the values above
"""
