"""Search: how typed queries are read and how events are made findable, in plain Python."""
