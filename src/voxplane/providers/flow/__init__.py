"""voxplane.providers.flow."""
