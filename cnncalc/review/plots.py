"""Former home of the plots, now :mod:`cnncalc.render.plots` (the figures) and
:func:`cnncalc.reports.forward_memory` (the data of the memory plot)."""
from ..render.plots import WHAT, figure_for, plot_costs, plot_memory, plot_rf, save, to_svg  # noqa: F401
from ..reports import forward_memory  # noqa: F401
