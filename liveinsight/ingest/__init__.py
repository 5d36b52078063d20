"""Taking events in: the event model and its bounds, enrichment (client, source, referrer), the collector."""
