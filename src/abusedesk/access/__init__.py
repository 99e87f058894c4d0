"""Who may do what: roles, permissions, passwords and login throttling, in plain Python."""
