"""The business of LendGraph: one package per bounded context, no GraphQL, no HTTP."""
