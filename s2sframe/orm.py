"""SQLAlchemy ORM models of a stream2segment database: ``from s2sframe.orm import Segment``.

A stable public path; the models live in :mod:`s2sframe.compat.orm`.
"""

from .compat.orm import *  # noqa: F403
from .compat.orm import __all__  # noqa: F401
