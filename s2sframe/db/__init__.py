"""Database layer: URLs and engines, the Core schema, the attribute registry, selections, Polars-expression -> SQL pushdown, ``scan()``, copying databases."""
