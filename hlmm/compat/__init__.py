"""hlmm.compat."""
