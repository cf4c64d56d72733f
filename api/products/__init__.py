"""GraphQL for the product catalog: versions, comparison, quotes and recommendations."""
