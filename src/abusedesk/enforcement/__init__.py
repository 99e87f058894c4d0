"""The enforcement ladder: standings, actions, policy, approvals and appeals, in plain Python."""
