"""Cut the real demo clips from Debian's archive: deterministic, nothing fetched.

    python resources/demo/render_real.py [--out resources/demo/real]

band.flac          25 s of "Mutilated Mime" by Muldjord (metal band: drums, bass, rhythm and lead guitars),
                   CC BY-SA 3.0, from Debian `fretsonfire-songs-muldjord`: the game's backing track plus its
                   separate lead-guitar track, summed; the app's default clip
band.guitar.flac   the lead-guitar stem of the same 25 s (band = band.backing + band.guitar)
band.backing.flac  the backing stem (drums, bass, rhythm guitar)
groove.flac        20.6 s mixed from CC0 recordings in Debian `sonic-pi-samples`: the "Amen" drum break at
                   140 bpm, a plucked bass note on beats 1 and 3 + "and" of 3, an ambient piano phrase every
                   other bar and a choir swell on the bars between
groove.<stem>.flac its four stems (drums, bass, piano, choir), so that groove = the sum of the stems

All files: mono, 44100 Hz, 16-bit FLAC; a mix and its stems share one gain, set so the mix peaks at -1 dBFS.
The stems are written as the 16-bit values that add up to the mix's 16-bit values exactly.
Needs Debian `fretsonfire-songs-muldjord sonic-pi-samples` (`bash scripts/system_packages.sh test`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
MULDJORD = Path("/usr/share/games/fretsonfire/data/songs/muldjord/mutilated_mime")
SONIC_PI = Path("/usr/share/sonic-pi/samples")
SAMPLE_RATE = 44100
PEAK_DBFS = -1.0
BAND_SECONDS = 25
GROOVE_BPM = 140.0  # loop_amen_full.flac is 16 beats at 140 bpm (6.857 s)
GROOVE_BARS = 12


def read_mono(path: Path) -> np.ndarray:
    """[shape=(n,)] float64 at 44100 Hz, the channels averaged."""
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    if sr != SAMPLE_RATE:
        raise SystemExit(f"{path}: expected {SAMPLE_RATE} Hz, found {sr}")
    return x.mean(axis=1)


def quantise_together(stems: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One gain for all stems so that their sum peaks at PEAK_DBFS; int16 stems whose sum is the int16 mix."""
    mix = sum(stems.values())
    gain = 10 ** (PEAK_DBFS / 20) / np.max(np.abs(mix))
    names = list(stems)
    ints = {name: np.round(stems[name] * gain * 32767).astype(np.int64) for name in names}
    total = sum(ints.values())
    if np.max(np.abs(total)) > 32767:
        raise SystemExit("the quantised mix clips")
    return total.astype(np.int16), {name: v.astype(np.int16) for name, v in ints.items()}


def write(path: Path, samples: np.ndarray) -> None:
    sf.write(path, samples, SAMPLE_RATE, subtype="PCM_16", format="FLAC")


def loudest_common_window(a: np.ndarray, b: np.ndarray, seconds: int) -> int:
    """Start [samples] of the `seconds`-long window (1 s grid) where the quieter of two stems is loudest."""
    n = min(len(a), len(b)) // SAMPLE_RATE
    seconds_a = (a[: n * SAMPLE_RATE] ** 2).reshape(n, SAMPLE_RATE).mean(axis=1)
    seconds_b = (b[: n * SAMPLE_RATE] ** 2).reshape(n, SAMPLE_RATE).mean(axis=1)
    per_second = np.minimum(seconds_a, seconds_b)
    # the window's worst second counts, so no window with a silent stretch in either stem wins
    scores = [min(per_second[i : i + seconds]) for i in range(n - seconds + 1)]
    return int(np.argmax(scores)) * SAMPLE_RATE


def band_stems() -> dict[str, np.ndarray]:
    backing, guitar = read_mono(MULDJORD / "song.ogg"), read_mono(MULDJORD / "guitar.ogg")
    start = loudest_common_window(backing, guitar, BAND_SECONDS)
    end = start + BAND_SECONDS * SAMPLE_RATE
    fade = np.ones(end - start)
    ramp = int(0.02 * SAMPLE_RATE)  # 20 ms fades so the excerpt starts and ends without a click
    fade[:ramp], fade[-ramp:] = np.linspace(0, 1, ramp), np.linspace(1, 0, ramp)
    return {"backing": backing[start:end] * fade, "guitar": guitar[start:end] * fade}


def place(length: int, sample: np.ndarray, starts: list[float], *, max_seconds: float | None = None) -> np.ndarray:
    """A track of `length` samples holding `sample` at each start [s], cut to `max_seconds` with a 30 ms fade."""
    if max_seconds is not None:
        sample = sample[: int(max_seconds * SAMPLE_RATE)].copy()
        ramp = min(len(sample), int(0.03 * SAMPLE_RATE))
        sample[-ramp:] *= np.linspace(1, 0, ramp)
    track = np.zeros(length)
    for t in starts:
        i = round(t * SAMPLE_RATE)
        n = min(len(sample), length - i)
        if n > 0:
            track[i : i + n] += sample[:n]
    return track


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def groove_stems() -> dict[str, np.ndarray]:
    beat = 60.0 / GROOVE_BPM
    drums_loop = read_mono(SONIC_PI / "loop_amen_full.flac")
    repeats = GROOVE_BARS // 4
    drums = np.tile(drums_loop, repeats)
    length = len(drums)
    bars = range(GROOVE_BARS)
    bass = place(
        length,
        read_mono(SONIC_PI / "bass_woodsy_c.flac"),
        [(4 * bar + b) * beat for bar in bars for b in (0, 2, 2.5)],
        max_seconds=beat * 0.95,
    )
    piano = place(length, read_mono(SONIC_PI / "ambi_piano.flac"), [4 * bar * beat for bar in bars if bar % 2 == 0])
    choir = place(length, read_mono(SONIC_PI / "ambi_choir.flac"), [4 * bar * beat for bar in bars if bar % 2 == 1])
    # balance: drums as recorded; bass, piano and choir each 6 dB under the drums (RMS)
    target = rms(drums) / 2
    return {
        "drums": drums,
        "bass": bass * target / rms(bass),
        "piano": piano * target / rms(piano),
        "choir": choir * target / rms(choir),
    }


def render(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, stems in (("band", band_stems()), ("groove", groove_stems())):
        mix, parts = quantise_together(stems)
        write(out / f"{name}.flac", mix)
        written.append(out / f"{name}.flac")
        for stem, samples in parts.items():
            write(out / f"{name}.{stem}.flac", samples)
            written.append(out / f"{name}.{stem}.flac")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "real")
    for path in render(parser.parse_args().out):
        info = sf.info(path)
        print(f"{path}  {info.duration:.2f} s")


if __name__ == "__main__":
    main()
