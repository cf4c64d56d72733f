"""GraphQL for bulk imports of enterprises and statements, and their row results."""
