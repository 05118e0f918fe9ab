"""The query side: the Index facade (opens, checks, delegates) and the parts under it: filters,
semantic search, lexical find, results, bulk neighbours and export."""
