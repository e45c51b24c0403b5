"""The use cases: commands in, events out; and the ports they need."""
