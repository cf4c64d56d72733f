"""GraphQL for contracts after the signature: amendments and contract versions."""
