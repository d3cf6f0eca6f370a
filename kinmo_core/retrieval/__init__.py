"""Text-motion retrieval with HTMA: `index` (a flat cosine index on disk) and `search` (index a dataset, query it)."""
