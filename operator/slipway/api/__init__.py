"""The Release API: models, CRD generation and offline validation."""
