"""Process concerns of the operator: its config, logging, metrics and health server, leader election."""
