"""Reading the corpus: every collection's JSON into Poem records with stable ids; normalisation
(the one place that decides the embedded text and the matching key); dynasties and authors."""
