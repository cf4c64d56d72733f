"""The double-entry ledger: a chart of accounts per institution and its journal."""
