"""Research at scale: run the pure sweep engine of ``core`` on every core of this machine or on a Dask cluster."""
