"""Evidence retention and erasure rules, in plain Python."""
