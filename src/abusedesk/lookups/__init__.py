"""Network lookups at the edge: DNS through a configured resolver, cached and rate-limited."""
