"""Fare rules and the quotes made from them."""
