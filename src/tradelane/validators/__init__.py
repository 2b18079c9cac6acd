"""The steps of a route's ``validate:`` list (XSD, Schematron, JSON Schema), one module per
kind; ``run`` is what the pipeline and ``tradelane validate`` call. The interface is
``tradelane.abc.Validator``; the specs and registrations are in ``tradelane.spec.validate``.
"""
