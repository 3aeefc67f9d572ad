"""Desired state for a lattice: application specs, their store, and the reconciler.

An application spec (``spec``) names the actors an application runs, how many replicas of
each and on which hosts (by label). ``wascc apply`` checks it and keeps it, with every
earlier version, in the lattice's NATS JetStream (``store``). The reconciler
(``reconciler``) compares what the specs ask for with what the lattice runs and sends signed
control commands until they match.
"""
