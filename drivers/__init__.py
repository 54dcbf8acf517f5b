"""Drivers and their vehicles."""
