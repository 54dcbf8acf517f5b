"""Staff accounts: users, roles, API tokens and the login audit."""
