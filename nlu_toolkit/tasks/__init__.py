"""Library functions, one module per task: they take Python values and return records."""
