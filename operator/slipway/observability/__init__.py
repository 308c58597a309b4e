"""What people watch the operator by: Prometheus metrics, JSON logs, health endpoints."""
