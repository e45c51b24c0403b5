"""The edge: the Litestar app, HTTP schemas, auth, signed URLs, the CLI, settings."""
