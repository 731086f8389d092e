"""The paper gateway's TWS socket side: framing (protocol.py), sessions and version negotiation (session.py),
per-connection limits (limits.py), the one table of every incoming request id (requests.py) and the handlers that
decode requests and hand them to ``gateway.sim``.
"""
