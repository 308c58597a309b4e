"""Alert sources: where the operator learns which alerts fire for a Release (beside the metric providers)."""
