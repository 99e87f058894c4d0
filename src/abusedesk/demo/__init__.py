"""A simulated cloud messaging provider and the reports outsiders send about it.

Everything here is generated from a seed with its own ``random.Random``, so the same
seed gives the same accounts, traffic and report bytes. The label saying what each
account really is (legitimate sender, snowshoe spammer, phishing kit ...) lives only in
the generator's objects and in the ground-truth file, never in the product's tables.
"""
