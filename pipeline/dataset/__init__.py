"""`python -m pipeline dataset`: seeds to labeled, embedded shards and their manifest."""
