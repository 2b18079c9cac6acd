"""The EDI standards as data: the compiled UN/EDIFACT directories (``directory``), the message
structure machine (``structure``), element checks (``elements``), what a message breaks
(``errors``) and the validation a route runs (``validation``)."""
