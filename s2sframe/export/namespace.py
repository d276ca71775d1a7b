"""``df.s2s.to_seisbench()``, ``df.s2s.to_asdf()``, ``df.s2s.waveforms()`` (and ``lf.s2s``).

The namespace lives in the engine layer, below this one: this module adds the
export methods to it when :mod:`s2sframe.export` is imported (``import s2sframe``
does it), each made from its function by
:func:`~s2sframe.engine.namespace.frame_method` (same signature without the frame,
same docstring).
"""

from __future__ import annotations

from ..engine.namespace import S2SLazyNamespace, S2SNamespace, frame_method
from .arrays import waveforms
from .asdf import to_asdf
from .seisbench import to_seisbench

for _func in (to_seisbench, to_asdf, waveforms):
    setattr(S2SNamespace, _func.__name__, frame_method(_func))
    setattr(S2SLazyNamespace, _func.__name__, frame_method(_func))
