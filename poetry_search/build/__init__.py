"""The indexing job: read the corpus, encode what the cache lacks, write the stores."""
