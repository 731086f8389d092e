"""The paper gateway's TWS socket side: framing (protocol.py), sessions and the handshake (session.py), API
versions and the version-gated fields of outgoing messages (versions.py), per-connection limits (limits.py), the
one table of every incoming request id (requests.py) and the ``*_requests.py`` handlers that decode requests and
hand them to ``gateway.sim``. It imports ``sim`` and nothing else of the gateway (not server.py or faults.py).
"""
