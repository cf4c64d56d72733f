"""Credit scoring's model runtime, which knows nothing of lending's tables: features,
CatBoost and scorecard training, calibration, inference (PD, points, grade, reasons),
drift and the model card. The registry of models and the assessments that use them
live in ``domain/risk``."""
