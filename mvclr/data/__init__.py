"""From a folder of videos to the segment store: the validated index (`index`, `media`), the
split by video (`split`), the windows of each video (`sampling`), their decoding (`reader`,
`decoding`) into the HDF5 segment store (`segment_store`); `demo` generates the demo data set."""
