"""The JSON API under /api: bearer tokens, one error format, an OpenAPI document."""
