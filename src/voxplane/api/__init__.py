"""The REST API (``/v1``): thin routes over the services, problem+json errors."""
