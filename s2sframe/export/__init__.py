"""A selection of segments -> training sets: SeisBench datasets, ASDF files, array columns.

Every export runs through :func:`s2sframe.map_segments`'s engine (workers,
progress, per-segment errors, resume after a kill, one owner per output):

- :func:`to_seisbench`: SeisBench's WaveformDataset format (``metadata.csv`` +
  ``waveforms.hdf5``, trace blocks, splits, chunks), 3-component traces per
  station and event, windowed, resampled, response removed;
- :func:`to_asdf`: an ASDF file (pyasdf): waveforms, StationXML, QuakeML events,
  provenance;
- :func:`waveforms`: the samples as a float32 array column of the frame, or
  streamed to Parquet.

Modules: :mod:`.options` (the parameters the exports share), :mod:`.traces` (what
the workers compute per segment), :mod:`.groups` (3-component groups, splits,
stacking), :mod:`.run` (batches through the engine, crash-safe parts, resume),
:mod:`.seisbench`, :mod:`.asdf`, :mod:`.arrays` (the three formats),
and :mod:`s2sframe.namespace` declares them as ``df.s2s`` methods.

``h5py`` and ``pyasdf`` are imported when used (extra ``s2sframe[export]``).
"""

from .arrays import waveforms
from .asdf import to_asdf
from .seisbench import to_seisbench

__all__ = ["to_asdf", "to_seisbench", "waveforms"]
