"""voxplane.runtime."""
