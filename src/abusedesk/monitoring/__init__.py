"""Signals: what the monitors raise, and the rules that turn signals into casework."""
