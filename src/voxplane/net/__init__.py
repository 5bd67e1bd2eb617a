"""Network policy shared by every layer that makes outbound requests for a tenant."""
