"""voxplane.agents."""
