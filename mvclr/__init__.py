"""mvclr: contrastive audio-video representation learning on music videos, the library behind the
DVC stages of `stages/` and the `mvclr` command.

One subpackage per step of the pipeline: `data` (index and split, media probing and decoding,
the segment store, the demo generator), `features` (the frozen backbones and their feature
stores), `contrastive` (projection heads, losses, batching, fitting), `evaluation` (similarity
primitives, retrieval, pooling, probes, diagnostics, neighbours) and `reporting` (tables,
verdicts, plots, the HTML neighbour report)."""
