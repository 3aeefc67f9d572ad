"""The sample actors' sources, the C headers of the waPC guest runtime (``include/``) and the
project templates of ``wascc new`` (``templates/``); ``build.py`` builds the samples.
"""
