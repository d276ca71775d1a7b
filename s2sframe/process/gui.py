"""stream2segment's ``stream2segment.process.gui``: the decorators of ``s2s show`` modules.

``from stream2segment.process import gui`` becomes ``from s2sframe.process import gui``;
``@gui.preprocess``, ``@gui.plot`` (and the deprecated ``@gui.customplot``,
``@gui.sideplot``) are those of :mod:`s2sframe.show.gui`.

Examples
--------
>>> from s2sframe.process import gui
>>> @gui.plot('r', xaxis={'type': 'log'}, yaxis={'type': 'log'})
... def spectra(segment, config):
...     return {'x0': 0, 'dx': 0.5, 'y': [1, 2, 3]}
>>> gui.get_func_attrs(spectra)
('gui.plot', 'r', {'type': 'log'}, {'type': 'log'})
"""

from ..show.gui import (  # noqa: F401
    __all__,
    customplot,
    get_func_attrs,
    plot,
    preprocess,
    sideplot,
)
