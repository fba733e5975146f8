"""From a folder of videos to the segment store: what each row of `metadata` points at (`scan`,
`playlists`; fingerprints memoised by `memo`), the validated index (`ingest`, `index`, `media`),
the split by video (`split`), the segments of each video (`sampling`) and what of them is kept
(`layout`), their decoding (`reader`) in units of work (`decoding`) run by an executor
(`executors`) under a per-file time budget (`supervise`) into shards assembled and resumed by
`shards` as the HDF5 segment store (`segment_store`); `demo` generates the demo data set."""
