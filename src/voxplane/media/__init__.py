"""voxplane.media."""
