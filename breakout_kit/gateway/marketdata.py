"""Market data requests (placeholder)."""


class MarketData:
    def __init__(self, gateway):
        self.gateway = gateway

    def start(self):
        pass

    def stop(self):
        pass
