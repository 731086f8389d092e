"""``python -m breakout_kit.cli``."""

from breakout_kit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
