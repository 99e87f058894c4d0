"""Spikes: robust seasonal baselines and count models that tell a real jump from a daily swing.

The batch API lives in ``abusedesk.spikes.detect``: ``detect`` (spikes), ``detect_collapses``
(a series whose volume fell away) and ``detect_bursts`` (a new account's sending burst),
each judging a numpy array shaped (series, hours) at once. ``baseline`` learns the
seasonal baseline, ``counts`` holds the count model, ``model`` the rules and results.
"""
