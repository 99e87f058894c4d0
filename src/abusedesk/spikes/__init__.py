"""Spikes: robust seasonal baselines and count models that tell a real jump from a daily swing."""
