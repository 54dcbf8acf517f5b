"""Administration: staff accounts and office settings."""
