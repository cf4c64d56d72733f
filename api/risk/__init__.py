"""GraphQL for risk: assessments, ratings, rules, indicators, alerts and models."""
