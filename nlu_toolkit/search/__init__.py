"""Search: the saved index (vectors, documents, manifest, ANN) and the library search()."""
