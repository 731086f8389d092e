"""Historical pacing (placeholder)."""


class Pacer:
    def __init__(self, clock, enabled=True):
        self.clock = clock
        self.enabled = enabled
