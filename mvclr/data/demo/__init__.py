"""The demo data set: synthetic music videos whose audio and video share latent factors (the demo data set).

Every video is planned first (`plan.plan_videos`): a genre *style*, a tempo, and a sequence of
sections (2-4 bars each) with an *intensity* in [0.1, 1] and a drums on/off flag. Both
modalities are rendered from that plan with their own random generators:

- genre -> audio: tempo range, metre, swing, drum pattern, lead timbre (additive
  harmonics), bass, pad, key; -> video: palette hue, shape (blob | box | bar), motion
  (orbit | bounce | shake | drift | sweep), object count and size.
- section intensity -> louder, denser audio (more notes, busier hi-hats, louder pad) <->
  brighter background, more, larger and faster objects. Section starts: crash cymbal <->
  scene change (background hue).
- beats -> drum hits <-> flashes and pulsing shapes (only while the drums play).
- nuisance, independent across modalities: key, melody, noise floor and blips (audio);
  object layout, drifting shapes of random colour, per-section hue, pixel noise (video).

Tags (multi-label, `TAGS`) are attributes: `female vocals` and `acoustic` change only the
audio, `black and white` and `live performance` (a bobbing crowd) only the video,
`dance` (fast tempo, four-on-the-floor, strong beat-locked motion) and `mellow` (slow,
soft, dark, slow motion) both. A few videos have no genre label or no tags.

Same parameters, same files: each video draws from generators seeded with (seed, index),
so video i does not depend on how many videos are generated or on the worker count, and
the encoders run single-threaded.
"""

