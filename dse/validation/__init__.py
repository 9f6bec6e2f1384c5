"""End-to-end check of the error model on a real network (`dse validate`).

A numpy BERT encoder (`bert`), its WordPiece tokenizer (`tokenizer`), a checkpoint loader
(`checkpoint`: the bundled all-MiniLM-L6-v2 or any BERT directory) and the comparison of the
engine's predicted errors with measured ones (`compare`). No deep-learning framework needed.
"""
