"""How long a page of a LIST that may be long is (the watches' own LISTs, the Events after a restart)."""

PAGE = 100
"""Items per page. A start's peak is what its watches hold at once, a page each (kube/informer.py hands
one over at a time), and that peak stays in the RSS for good: one operator restarted over 1,000
Releases held 118 MiB with pages of 500, 98 with pages of 100 (3,000: 145 -> 121), restarts as fast.
Pages of 50 or 25 took off nothing more (docs/operator.md, "Pages of 100, and the least share")."""
