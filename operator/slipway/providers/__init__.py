"""Metric providers: one file each behind the protocol in base.py; the core judges what they return."""
