"""Reports and the wallboard: figures read from the records, for supervisors (nothing imports this package)."""
