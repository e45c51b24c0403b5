"""The Resource aggregate, its events and its domain errors. No I/O."""
