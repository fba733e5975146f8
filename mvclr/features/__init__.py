"""The frozen backbones (`musicnn`, `r2plus1d`) over the analysis window (`windows`) of every
segment, into zarr feature stores (`store`) filled block by block (`filling`, `embedding`);
`paired` opens the segment metadata and both stores together."""
