"""stream2segment's processing API (``imap``, ``process``, sessions, ORM models, writers, YAML config) as a thin layer over :mod:`s2sframe.engine` and :mod:`s2sframe.db`."""
