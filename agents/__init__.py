"""The call agent's console: the live call queue and the screen pop."""
