"""Cases: states, aggregation, priority, calendars and SLAs, routing, escalations, follow-ups.

Plain Python: storage and the pages apply these decisions; see docs/cases.md.
"""
