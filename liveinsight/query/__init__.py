"""Answering questions: the stats and realtime readers over the stored items, and their query parameters."""
