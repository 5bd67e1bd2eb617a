"""voxplane.transports."""
