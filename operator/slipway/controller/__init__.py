"""The Kopf operator: watch events wake a reconcile queue; each pass observes, decides, acts."""
