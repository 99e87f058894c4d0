"""Customer notices: redacted evidence, signed portal links and reply addresses, in plain Python."""
