"""voxplane.testing."""
