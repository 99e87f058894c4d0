"""Linked bad actors: accounts joined by shared indicators, clustered, with the evidence for each link."""
