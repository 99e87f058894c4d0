"""Blocklists (DNSBL and URI BL): the lists we watch, how to ask them, what their answers mean."""
