"""Device truth as fixtures: what the devices' own documents and sources say, each row citing its source.

evkit's tables (catalogs, simulators) are tested against these files, never the reverse.
"""
