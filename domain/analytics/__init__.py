"""Portfolio analytics: the figures a credit committee reads, as SQL aggregations."""
