"""Sending reputation: rates over a representative volume, and the words that quote them."""
