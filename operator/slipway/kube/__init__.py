"""Adapters between the core's actions/observations and the Kubernetes API."""
