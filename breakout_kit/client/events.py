"""The event type of every breakout_kit event (eventkit's ``Event``, as the IB client library uses).

Connect a handler with ``event += handler`` (or ``event.connect(handler)``), remove it with ``-=``;
``await event`` waits for the next emit. Outside ``client/`` import it from here, never from the IB library.
"""

from breakout_kit.client.iblib import Event

__all__ = ["Event"]
