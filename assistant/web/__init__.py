"""The server's parts: guard, limits, metrics, service, schemas, errors, embed."""
