"""Cases: aggregation of events into units of work, and their priority."""
