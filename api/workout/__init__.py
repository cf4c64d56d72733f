"""GraphQL for loans in difficulty: workout cases, collection and recoveries after write-off."""
