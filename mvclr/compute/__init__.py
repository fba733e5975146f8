"""Running decode and embed past one machine, on Ray: `cluster` names the executor params.yaml
asks for and connects to the cluster (RAY_ADDRESS) or an embedded local Ray; `tasks` runs the
decode units as Ray tasks (an executor beside mvclr.data.executors.local); `actors` fills the
feature stores' blocks with one backbone-holding actor per GPU or CPU slot. Only these modules
import Ray, and only when `compute.executor` is `ray`."""
