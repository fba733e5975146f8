"""The frozen backbones over the analysis window (`windows`) of every segment: musicnn through
the runtime `musicnn_runtime` picks (TensorFlow `musicnn`, or the PyTorch port
`musicnn_torch`; both from the wheel's checkpoint, `musicnn_wheel`; log-mel in `mel`) and
R(2+1)D-18 (`r2plus1d`), on the device `device` describes; into zarr feature stores (`store`)
filled block by block (`filling`, `embedding`; `worker`: both backbones in one GPU process);
`paired` opens the segment metadata and both stores together."""
