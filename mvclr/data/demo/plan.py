"""The plan of each demo video: its style and the latent factors both modalities share."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TAGS = ("female vocals", "acoustic", "black and white", "live performance", "dance", "mellow")
AUDIO_TAGS = frozenset({"female vocals", "acoustic", "dance", "mellow"})   # change the audio
VIDEO_TAGS = frozenset({"black and white", "live performance", "dance", "mellow"})  # change the video
UNLABELLED = 0.05   # probability that a video's genre label is left empty


@dataclass(frozen=True)
class Style:
    """What a genre means on both sides."""
    tempo: tuple[float, float]      # BPM range
    steps: int                      # 16th steps per bar (12 = 3/4 time)
    swing: float                    # delay of odd 16ths, in steps
    kick: tuple[int, ...]           # steps of the bar with a kick
    snare: tuple[int, ...]
    hats: int                       # hi-hat every `hats` steps at full intensity (0 = none)
    drums: float                    # drum level
    lead: tuple[float, ...]         # harmonic amplitudes of the lead
    lead_steps: int                 # lead note length in steps
    attack: float                   # lead attack, s
    drive: float                    # lead and pad distortion (tanh drive; 0 = clean)
    bass: tuple[float, ...]         # harmonic amplitudes of the bass
    bass_level: float
    pad: float                      # sustained chord level
    minor: float                    # probability of a minor key
    shape: str                      # blob | box | bar
    motion: str                     # orbit | bounce | shake | drift | sweep
    saturation: float
    objects: tuple[int, int]        # objects on screen at intensity 0 and 1
    size: float                     # object radius, fraction of the frame height
    speed: float                    # motion cycles per second at 120 BPM, intensity 0.75
    flash: float                    # beat flash strength
    tag_prior: dict                 # tag -> probability


def _prior(vocals, acoustic, bw, live, dance, mellow) -> dict:
    return dict(zip(TAGS, (vocals, acoustic, bw, live, dance, mellow)))


STYLES = {
    "rock": Style((100, 140), 16, 0.0, (0, 6, 8), (4, 12), 2, 1.0,
                  (1, .8, .7, .6, .5, .45, .4, .35, .3, .25), 2, .005, 3.0, (1, .5, .33, .25), .6, .15, .6,
                  "box", "shake", .85, (2, 7), .20, .5, .35, _prior(.3, .3, .2, .5, .15, .1)),
    "pop": Style((95, 125), 16, 0.0, (0, 8), (4, 12), 2, .8,
                 (1, .5, .25, .35, .1, .1), 2, .005, 0.0, (1, .3), .5, .35, .3,
                 "blob", "bounce", .9, (3, 9), .18, .6, .3, _prior(.65, .2, .15, .25, .45, .15)),
    "electronic": Style((120, 150), 16, 0.0, (0, 4, 8, 12), (4, 12), 1, .9,
                        (1, 0, .33, 0, .2, 0, .14, 0, .11), 1, .002, .5, (1, 0, .3), .7, .3, .6,
                        "bar", "sweep", 1.0, (2, 8), .12, 1.0, .5, _prior(.35, .03, .15, .15, .7, .1)),
    "jazz": Style((85, 130), 16, .33, (0, 10), (4, 12), 2, .45,
                  (1, .25, .08, .03), 3, .01, 0.0, (1, .15), .55, .3, .4,
                  "blob", "drift", .45, (2, 6), .25, .25, .12, _prior(.35, .7, .3, .45, .08, .45)),
    "hiphop": Style((80, 100), 16, .15, (0, 7, 10), (4, 12), 2, 1.0,
                    (1, .1, .05), 4, .005, 0.0, (1, .05), .9, .25, .6,
                    "box", "bounce", .7, (1, 5), .28, .5, .3, _prior(.3, .08, .25, .3, .4, .15)),
    "classical": Style((60, 90), 12, 0.0, (0,), (), 0, .12,
                       (1, .6, .45, .35, .3, .25, .2, .15), 4, .08, 0.0, (1, .4, .2), .3, .6, .45,
                       "blob", "orbit", .35, (2, 6), .22, .2, .08, _prior(.12, .9, .35, .35, .02, .55)),
}


def style_of(genre_index: int, genres: list[str]) -> str:
    """The style behind genre `genres[genre_index]`: its own if it has one, else by position."""
    name = genres[genre_index]
    return name if name in STYLES else list(STYLES)[genre_index % len(STYLES)]


@dataclass(frozen=True)
class Plan:
    """The latent factors one video's audio and video share."""
    seed: int
    index: int
    video_id: str
    genre: str                      # label written to metadata.csv ('' = unlabelled)
    style: str                      # key of STYLES
    hue: float                      # palette hue of the genre, jittered
    tags: tuple[str, ...]
    frames: int
    fps: float
    bpm: float
    offset: float                   # time of the first downbeat, s
    section_bars: tuple[int, ...]   # first bar of each section
    intensity: tuple[float, ...]    # per section, in [0.1, 1]
    drums_on: tuple[bool, ...]      # per section

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    @property
    def beat(self) -> float:
        return 60.0 / self.bpm

    @property
    def bar(self) -> float:
        return self.beat / 4 * STYLES[self.style].steps

    def section_starts(self) -> np.ndarray:
        starts = self.offset + np.asarray(self.section_bars) * self.bar
        starts[0] = 0.0
        return starts

    def section_at(self, t) -> np.ndarray:
        """Section index at times t (s)."""
        return np.searchsorted(self.section_starts(), np.asarray(t, dtype=float), side="right") - 1

    def intensity_at(self, t) -> np.ndarray:
        return np.asarray(self.intensity)[self.section_at(t)]

    def rng(self, part: int) -> np.random.Generator:
        """Generator 0 plans, 1 renders audio, 2 renders video."""
        return np.random.default_rng([self.seed, self.index, part])


def plan_video(index: int, *, seed: int, genres: list[str], min_seconds: float,
               max_seconds: float, fps: float) -> Plan:
    rng = np.random.default_rng([seed, index, 0])
    g = index % len(genres)     # round robin: balanced genres
    style = STYLES[style_of(g, genres)]
    frames = int(round(rng.uniform(min_seconds, max_seconds) * fps))
    tags = [tag for tag in TAGS if rng.random() < style.tag_prior[tag]]
    if "dance" in tags and "mellow" in tags:
        tags.remove("mellow")
    lo, hi = style.tempo
    u = rng.random()
    bpm = lo + (hi - lo) * u
    if "dance" in tags:
        bpm = (hi + (hi - lo) * u / 3) * 1.08
    elif "mellow" in tags:
        bpm = (lo + (hi - lo) * u / 3) * 0.92
    beat = 60.0 / bpm
    bar = beat / 4 * style.steps
    offset = rng.uniform(0.05, 0.5) * beat
    bars, levels, drums = [0], [], []
    while offset + bars[-1] * bar < frames / fps:
        bars.append(bars[-1] + int(rng.integers(2, 5)))
    for k in range(len(bars) - 1):
        level = rng.uniform(0.1, 1.0)
        while levels and abs(level - levels[-1]) < 0.25:  # neighbouring sections differ
            level = rng.uniform(0.1, 1.0)
        levels.append(level)
        drums.append(bool(rng.random() > (0.35 if k == 0 else 0.15)))
    unlabelled = rng.random() < UNLABELLED
    return Plan(seed=seed, index=index, video_id=f"demo{index:03d}",
                genre="" if unlabelled else genres[g], style=style_of(g, genres),
                hue=(g / len(genres) + rng.normal(0, 0.02)) % 1.0, tags=tuple(tags),
                frames=frames, fps=fps, bpm=bpm, offset=offset, section_bars=tuple(bars[:-1]),
                intensity=tuple(levels), drums_on=tuple(drums))


def plan_videos(videos: int, *, seed: int, genres: list[str], min_seconds: float,
                max_seconds: float, fps: float) -> list[Plan]:
    if not genres:
        raise ValueError("demo: at least one genre is needed")
    if not 0 < min_seconds <= max_seconds:
        raise ValueError(f"demo: need 0 < min_seconds ({min_seconds}) <= max_seconds ({max_seconds})")
    return [plan_video(i, seed=seed, genres=list(genres), min_seconds=min_seconds,
                       max_seconds=max_seconds, fps=fps) for i in range(videos)]
