"""Evaluation of the representations: cosine-similarity primitives (`similarity`), cross-modal
median ranks (`retrieval`, Table 1), segment-to-video pooling (`pooling`, `attention_pool`,
`videos`), MLP probes (`probes`, Table 2), both run over every configuration (`experiment`),
why alignment fails (`diagnostics`, `diagnosis`), nearest neighbours (`neighbours`), the
FAISS index of video vectors behind `mvclr similar` (`index`) and clustered synthetic vectors
to measure it on (`synthetic`)."""
