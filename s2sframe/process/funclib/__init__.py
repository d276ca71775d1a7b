"""stream2segment's ``stream2segment.process.funclib``: its signal-processing functions.

:mod:`.traces` (functions of ObsPy Traces) and :mod:`.ndarrays` (functions of NumPy
arrays) have the names, signatures and results of stream2segment's modules, so
that ``from stream2segment.process.funclib.traces import bandpass`` becomes
``from s2sframe.process.funclib.traces import bandpass`` and nothing else changes.
They are computed by :mod:`s2sframe.signal`, whose own functions (keyword
arguments, never modifying their input) are the ones to use in new code.
"""
