"""Builds the sample actors (none yet: the host core issue adds them)."""

print("no sample actors yet")
