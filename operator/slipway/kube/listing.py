"""How long a page of a LIST that may be long is (the watches' own LISTs, the Events after a restart)."""

PAGE = 500
"""Items per page."""
