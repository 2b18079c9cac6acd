"""AS2 (RFC 4130) over pyas2lib: keys, sending with MDN checks, the receiving endpoint, and
the ledger of messages. Imported only by AS2 targets and by serve's endpoint."""
