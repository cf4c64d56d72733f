"""Risk assessments of applications and early-warning alerts on loans."""
