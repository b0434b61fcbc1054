"""Core library: documents, passages, encoder, index store and retrieval.

`indexer/` and `api/` build on this package; nothing here imports from them.
"""
