"""hlmm.scan."""
