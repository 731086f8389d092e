"""breakout_kit: breakout research on Interactive Brokers data, one asyncio loop from Jupyter to the CLI."""

__version__ = "0.1.0"
