"""Synthetic market (placeholder until the full model lands)."""


class Market:
    def __init__(self, seed, start, plant_breakouts=True):
        self.seed = seed
        self.start = start
