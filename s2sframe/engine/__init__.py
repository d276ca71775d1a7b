"""Map engine: the Segment handed to user functions, ``map_segments`` (chunks, executors, retries), the worker side, crash-safe output parts, the ``.s2s`` namespace."""
