"""The supervisor's pages: the wallboard and the complaint log."""
