"""Pure functions on arrays and records: no models, unit-tested with small arrays."""
