"""Kept for its import path: the export methods of the ``.s2s`` namespace.

``df.s2s.to_seisbench()``, ``df.s2s.to_asdf()`` and ``df.s2s.waveforms()`` are
declared in :mod:`s2sframe.namespace`, each as the function it calls.
"""
