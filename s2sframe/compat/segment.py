"""The segment given to ``imap`` / ``process`` functions: :class:`s2sframe.Segment` + ORM extras.

Everything of :class:`s2sframe.Segment` (attributes, ``stream()``, ``inventory()``,
``sds_path()``, ``url``, ``seed_id``, ``event.url``, ``station.url``...) plus what
stream2segment's segments have that needs the ORM: ``siblings()``, ``dbsession``,
``classlabels``, ``add_classlabel()``, ``del_classlabel()``. Those use the ORM
object of the segment (:meth:`ProcessingSegment.orm`), loaded on first use in a
session of the process running the function, and implemented once, by
:class:`s2sframe.orm.Segment`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..engine.segment import Segment
from .orm import Segment as OrmSegment

__all__ = ["ProcessingSegment"]


class ProcessingSegment(Segment):
    """:class:`s2sframe.Segment` with the ORM-backed extras of stream2segment's segments.

    Parameters
    ----------
    segment : s2sframe.Segment
        The segment the engine made (same row, same database source).
    orm : callable
        ``orm(segment_id)``: the ORM Segment of that id, in a live session.
    """

    __slots__ = ("_orm",)

    def __init__(self, segment: Segment, orm: Callable[[int], OrmSegment]) -> None:
        super().__init__(segment._rows, segment._index, segment._source)
        self._orm = orm

    def __dir__(self) -> list[str]:
        own = ["orm", "siblings", "dbsession", "classlabels", "add_classlabel",
               "del_classlabel"]
        return sorted({*super().__dir__(), *own})

    def orm(self) -> OrmSegment:
        """The ORM :class:`s2sframe.orm.Segment` of this segment (in the worker's session)."""
        return self._orm(self.id)

    def siblings(self, *matching_attributes: str, include_self: bool = False) -> Any:
        """See :meth:`s2sframe.orm.Segment.siblings`."""
        return self.orm().siblings(*matching_attributes, include_self=include_self)

    @property
    def dbsession(self) -> Any:
        """The ORM session of the worker (see :meth:`orm`)."""
        return self.orm().dbsession

    @property
    def classlabels(self) -> list[str]:
        """Sorted labels of the classes assigned to this segment."""
        return self.orm().classlabels

    def add_classlabel(self, *class_ids_or_labels: int | str, **kwargs: Any) -> bool:
        """See :meth:`s2sframe.orm.Segment.add_classlabel`."""
        return self.orm().add_classlabel(*class_ids_or_labels, **kwargs)

    def del_classlabel(self, *class_ids_or_labels: int | str, **kwargs: Any) -> bool:
        """See :meth:`s2sframe.orm.Segment.del_classlabel`."""
        return self.orm().del_classlabel(*class_ids_or_labels, **kwargs)
