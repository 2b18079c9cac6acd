"""``tradelane draft``: profile a sample file and write a route spec a human can finish.

``drafting.draft_route`` is the entry point: ``sniff`` reads a bounded head of the sample and
finds its kind and encoding, one module per format profiles it (``csv``, ``fixed``, ``json``,
``xml``, ``edifact``, ``x12``; column types in ``values``, EDI segments in ``segments``),
``render`` writes the YAML with the evidence of every guess, ``errors`` says what is refused.
Nothing is imported here: the CLI loads the profilers (Arrow, lxml) only when it drafts.
"""
