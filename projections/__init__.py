"""Read models, the projection code that writes them from events, and rebuilds."""
