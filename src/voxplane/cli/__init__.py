"""voxplane.cli."""
