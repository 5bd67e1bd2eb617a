"""voxplane.providers."""
