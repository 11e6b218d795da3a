"""hlmm.models."""
