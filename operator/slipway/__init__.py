"""Slipway: progressive delivery for Kubernetes, as one explicit state machine."""

__version__ = "0.1.0"

GROUP = "slipway.dev"
VERSION = "v1alpha1"
