"""Former home of the homework renderers: now :mod:`cnncalc.render.homework`."""
from ..render.homework import *  # noqa: F401,F403
from ..render.homework import check_text, diagnosis_text, layer_text, to_json  # noqa: F401
