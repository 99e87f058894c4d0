"""Intake: every channel a report arrives by, storing raw bytes before acknowledging."""
