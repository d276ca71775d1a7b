"""The stream2segment-compatible processing API: change one word in the imports.

``from stream2segment.process import ...`` becomes ``from s2sframe.process import ...``::

    from s2sframe.process import imap, process, get_segments, get_session, Segment

and so do stream2segment's other processing modules: :mod:`s2sframe.process.gui`
(the ``@gui.preprocess`` and ``@gui.plot`` decorators of ``s2s show`` modules),
:mod:`s2sframe.process.funclib.traces` and :mod:`s2sframe.process.funclib.ndarrays`
(stream2segment's signal-processing functions, same names, signatures and results).

A stable public path; the implementation lives in :mod:`s2sframe.compat.api`.
"""

from ..compat.api import *  # noqa: F403
from ..compat.api import __all__  # noqa: F401
from . import gui  # noqa: F401 - ``from s2sframe.process import gui`` as in stream2segment
