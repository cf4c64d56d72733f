"""The ledger in GraphQL: journal entries and trial balances of an institution's book."""
