"""The shell every feature builds on: extensions, the model base, the application factory."""
