"""Running decode and embed past one machine, on Ray: `cluster` names the executor params.yaml
asks for (`compute.executor`) and connects to the cluster (RAY_ADDRESS) or an embedded local
Ray; `tasks` runs the decode units as Ray tasks (an executor beside mvclr.data.executors.local);
`actors` fills the feature stores' blocks with one backbone-holding actor per GPU or CPU slot;
`embed` is the embed stages' entry, local or on actors. Only `tasks` and `actors` import Ray,
and they are imported only when `compute.executor` is `ray`."""
