"""The pure core: the Release state machine. No I/O, no clock reads, no randomness."""
