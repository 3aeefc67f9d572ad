"""wascc-py: a host for signed WebAssembly actors in the style of waSCC 0.14.

The packages: ``wascc.host`` (the runtime and the ``wascc`` command), ``wascc.providers``
(the built-in capability providers), ``wascc.keys`` (keys, claims, signing) and
``wascc.actors`` (the sample actors, the C headers and the templates of ``wascc new``).
"""
