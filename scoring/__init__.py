"""Credit scoring: features, CatBoost training, registry and inference (scoring issue)."""
