//! Sentence embeddings with multilingual-e5-small (ONNX Runtime + `tokenizers`).
