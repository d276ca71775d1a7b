"""The stream2segment-compatible processing API: change one import line.

``from stream2segment.process import ...`` becomes ``from s2sframe.process import ...``::

    from s2sframe.process import imap, process, get_segments, get_session, Segment

A stable public path; the implementation lives in :mod:`s2sframe.compat.api`.
"""

from .compat.api import *  # noqa: F403
from .compat.api import __all__  # noqa: F401
from .show import gui  # noqa: F401 - ``from s2sframe.process import gui`` as in stream2segment
