"""Encoding: resolving a model, mean pooling + L2 normalisation, the batching both encoders share,
the embedding cache, the ONNX export (build time) and the ONNX runtime (query time)."""
