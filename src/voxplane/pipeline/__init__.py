"""voxplane.pipeline."""
