"""Behaviour unlike an account's own: compromised hosted mailboxes and SMS pumping."""
