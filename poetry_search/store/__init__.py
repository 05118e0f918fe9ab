"""Everything on disk: the SQLite schema and its migrations, the manifest, FAISS vectors, the lexical
index, atomic file writes. SQL lives here and nowhere else; FAISS in vectors.py alone."""
