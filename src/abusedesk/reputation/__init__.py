"""Reputation figures: an account's complaint and bounce rates over representative windows."""
