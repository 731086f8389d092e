"""The IB side: the only package that imports ib_insync / ib_async (through ``iblib``).

``IBClient`` is the one façade; ``ingest`` / ``load`` move history to and from Parquet.
"""
