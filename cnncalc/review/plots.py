"""Former home of the plots: now :mod:`cnncalc.render.plots` (figures) and
:func:`cnncalc.reports.forward_memory` (the data of the memory plot)."""
from ..render.plots import *  # noqa: F401,F403
from ..render.plots import figure_for, plot_costs, plot_memory, plot_rf, save, to_svg  # noqa: F401
from ..reports import forward_memory  # noqa: F401
