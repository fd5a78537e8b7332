"""Savepoints: the document and the writer that records progress (`writer`), where they are kept (`stores`), and
`--resume` (`resume`)."""
