"""The callback body (`Mixer.render`) driven directly with numpy ``outdata``: exact samples, no device."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from app.playback import Mixer, MixSettings, Slot

SR = 48000


def _sources(a=None, b=None, r=None, c=None):
    return tuple(None if x is None else np.ascontiguousarray(x, dtype=np.float32) for x in (a, b, r, c))


def _mixer(a=None, b=None, r=None, c=None, *, crossfade_s: float = 0.005, **settings) -> Mixer:
    m = Mixer(SR, crossfade_s=crossfade_s)
    m.settings = MixSettings(sources=_sources(a, b, r, c), **settings)
    return m


def _render(m: Mixer, frames: int, channels: int = 2) -> np.ndarray:
    out = np.full((frames, channels), np.nan, dtype=np.float32)
    m.render(out)
    return out


def _signals(n: int = SR) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return (rng.uniform(-0.5, 0.5, n).astype(np.float32), rng.uniform(-0.5, 0.5, n).astype(np.float32))


def test_crossfade_is_five_ms_at_48k() -> None:
    m = Mixer(SR)
    assert m.n_fade == 240
    assert Mixer(44100).n_fade == 220


def test_plays_slot_a_exactly_after_a_linear_fade_in_on_every_channel() -> None:
    a, b = _signals()
    m = _mixer(a, b)
    m.post_play(1)
    out = np.concatenate([_render(m, 256) for _ in range(4)])
    ramp = np.arange(1, 241, dtype=np.float32) / np.float32(240)
    np.testing.assert_allclose(out[:240, 0], a[:240] * ramp, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(out[240:, 0], a[240:1024])  # bit-exact once the fade-in is over
    np.testing.assert_array_equal(out[:, 1], out[:, 0])  # mono duplicated to both channels
    assert m.playhead == 1024


def test_slot_c_plays_the_compared_map_at_the_same_playhead() -> None:
    a, b = _signals()
    c = -0.5 * b
    m = _mixer(a, b, None, c, crossfade_s=0.0, gains=(1.0, 1.0, 1.0, 0.5))
    m.post_select(Slot.B)
    m.post_play(1)
    _render(m, 512, channels=1)
    m.post_select(Slot.C)
    out = _render(m, 512, channels=1)
    np.testing.assert_allclose(out[:, 0], 0.5 * c[512:1024], rtol=0, atol=1e-7)  # C's own gain, no restart
    assert m.playhead == 1024


def test_plays_slot_b_when_selected_before_play() -> None:
    a, b = _signals()
    m = _mixer(a, b, crossfade_s=0.0)
    m.post_select(Slot.B)
    m.post_play(1)
    out = _render(m, 512, channels=1)
    np.testing.assert_array_equal(out[:, 0], b[:512])
    assert m.last_switch_sample == -1  # selecting while stopped is no crossfade


def test_switch_starts_a_linear_crossfade_at_the_next_block_at_the_same_playhead() -> None:
    a = np.ones(SR, dtype=np.float32)
    b = np.full(SR, -1.0, dtype=np.float32)
    m = _mixer(a, b)
    m.post_play(1)
    before = np.concatenate([_render(m, 300) for _ in range(3)])[:, 0]
    np.testing.assert_array_equal(before[240:], 1.0)  # steady A
    m.post_select(Slot.B)
    out = np.concatenate([_render(m, 100) for _ in range(4)])[:, 0]  # blocks shorter than the fade
    w = np.arange(1, 241) / 240
    np.testing.assert_allclose(out[:240], (1 - w) * 1.0 + w * -1.0, atol=2e-7)  # linear over 240 samples
    np.testing.assert_array_equal(out[240:], -1.0)
    assert m.last_switch_sample == 900  # the playhead did not restart
    assert m.last_switch_block == 4  # the 4th block: the first after select()
    assert m.playhead == 1300
    # largest step inside the fade is 2/240, far below the jump of 2.0 of a hard switch
    assert np.max(np.abs(np.diff(np.concatenate([before, out])))) <= 2 / 240 + 1e-6


def test_switch_posted_during_a_block_waits_for_the_next_block() -> None:
    a = np.ones(SR, dtype=np.float32)
    b = np.zeros(SR, dtype=np.float32)
    m = Mixer(SR, max_chunk=64)
    m.settings = MixSettings(sources=_sources(a, b))
    m.post_play(1)
    _render(m, 512)
    original = m._render_chunk
    calls = 0

    def chunk_then_post(out, s, n):
        nonlocal calls
        calls += 1
        if calls == 1:
            m.post_select(Slot.B)  # as if the GUI thread selected while the callback was running
        return original(out, s, n)

    m._render_chunk = chunk_then_post
    mid = _render(m, 256)[:, 0]
    np.testing.assert_array_equal(mid, 1.0)  # the whole block stays A
    assert calls == 4
    nxt = _render(m, 256)[:, 0]
    np.testing.assert_allclose(nxt[:240], 1 - np.arange(1, 241) / 240, atol=2e-7)
    assert m.last_switch_sample == 768


def test_retarget_during_a_crossfade_is_continuous() -> None:
    m = _mixer(np.ones(SR), np.full(SR, -1.0), np.full(SR, 3.0))
    m.post_play(1)
    _render(m, 480)
    m.post_select(Slot.B)
    first = _render(m, 120)[:, 0]  # half way: weights A 0.5, B 0.5 -> 0.0
    assert first[-1] == pytest.approx(0.0, abs=1e-6)
    m.post_select(Slot.R)
    second = _render(m, 480)[:, 0]
    assert abs(second[0] - first[-1]) < 4 / 240 + 1e-6  # no jump: fades on from the sounding mix
    np.testing.assert_allclose(second[240:], 3.0)


def test_loop_wraps_at_the_exact_sample() -> None:
    idx = np.arange(4000, dtype=np.float32)  # each sample says its own index
    m = _mixer(idx, crossfade_s=0.0, loop=(1000, 1500), looping=True)
    m.post_seek(1400)
    m.post_play(1)
    out = _render(m, 256, channels=1)[:, 0]
    np.testing.assert_array_equal(out[:100], np.arange(1400, 1500))
    np.testing.assert_array_equal(out[100:], np.arange(1000, 1156))
    assert m.playhead == 1156
    out = np.concatenate([_render(m, 300, channels=1)[:, 0] for _ in range(5)])  # wraps 3 more times
    expected = 1000 + (np.arange(1156, 1156 + 1500) - 1000) % 500
    np.testing.assert_array_equal(out, expected)


def test_loop_shorter_than_a_block_and_playhead_past_the_loop_end() -> None:
    idx = np.arange(1000, dtype=np.float32)
    m = _mixer(idx, crossfade_s=0.0, loop=(10, 13), looping=True)
    m.post_seek(500)  # past the loop end: jumps into the loop
    m.post_play(1)
    out = _render(m, 8, channels=1)[:, 0]
    np.testing.assert_array_equal(out, [10, 11, 12, 10, 11, 12, 10, 11])


def test_end_of_buffer_gives_zeros_and_stops() -> None:
    idx = np.arange(1, 1001, dtype=np.float32)
    m = _mixer(idx, crossfade_s=0.0)
    m.post_seek(900)
    m.post_play(7)
    out = _render(m, 256, channels=1)[:, 0]
    np.testing.assert_array_equal(out[:100], np.arange(901, 1001))
    np.testing.assert_array_equal(out[100:], 0.0)
    assert not m.running
    assert m.ended_serial == 7
    assert m.playhead == 1000
    np.testing.assert_array_equal(_render(m, 64), 0.0)
    m.post_play(8)  # play at the end starts again from 0
    np.testing.assert_array_equal(_render(m, 4, channels=1)[:, 0], [1, 2, 3, 4])


def test_shorter_slot_is_silent_past_its_end_while_the_longest_plays_on() -> None:
    m = _mixer(np.ones(1000), np.ones(600), crossfade_s=0.0)
    m.post_select(Slot.B)
    m.post_play(1)
    out = _render(m, 1000, channels=1)[:, 0]
    np.testing.assert_array_equal(out[:600], 1.0)
    np.testing.assert_array_equal(out[600:], 0.0)
    assert m.running  # slot A (1000 samples) sets the length


def test_volume_and_slot_gain_are_applied() -> None:
    a, b = _signals()
    gain_b = 10 ** (-6.0 / 20)
    m = _mixer(a, b, crossfade_s=0.0, gains=(1.0, gain_b, 1.0, 1.0), volume=0.5)
    m.post_play(1)
    np.testing.assert_allclose(_render(m, 256)[:, 0], a[:256] * 0.5, rtol=1e-6, atol=0)
    m.post_select(Slot.B)
    np.testing.assert_allclose(_render(m, 256)[:, 1], b[256:512] * gain_b * 0.5, rtol=1e-6, atol=1e-9)
    m.settings = MixSettings(sources=m.settings.sources, gains=(1.0, 1.0, 1.0, 1.0), volume=0.0)
    np.testing.assert_array_equal(_render(m, 256), 0.0)


def test_pause_fades_out_holds_the_playhead_and_resume_fades_in() -> None:
    m = _mixer(np.ones(SR))
    m.post_play(1)
    _render(m, 1000)
    m.post_pause()
    out = _render(m, 1000)[:, 0]
    np.testing.assert_allclose(out[:240], 1 - np.arange(1, 241) / 240, atol=2e-7)
    np.testing.assert_array_equal(out[240:], 0.0)
    assert m.playhead == 1240 and not m.running
    np.testing.assert_array_equal(_render(m, 500), 0.0)
    assert m.playhead == 1240
    m.post_play(2)
    out = _render(m, 300)[:, 0]
    np.testing.assert_allclose(out[:240], np.arange(1, 241) / 240, atol=2e-7)
    assert m.playhead == 1540


def test_stop_fades_out_then_rewinds() -> None:
    m = _mixer(np.ones(SR))
    m.post_play(1)
    _render(m, 1000)
    m.post_stop()
    m.post_seek(5000)  # a seek during the fade-out waits for it, then wins
    _render(m, 100)
    assert m.playhead == 1100
    _render(m, 200)
    assert m.playhead == 5000 and not m.running


def test_underflow_flags_are_counted() -> None:
    m = _mixer(np.ones(SR))
    m.post_play(1)
    for flag in (False, True, False, True, True):
        m.render(np.zeros((64, 2), dtype=np.float32), underflow=flag)
    assert m.underflows == 3


def test_gaps_in_the_dac_clock_count_once_and_as_heard_only_while_sounding() -> None:
    """The ALSA layer recovers from some underruns without PortAudio's flag; the DAC clock still shows the gap."""
    m = _mixer(np.ones(SR))
    block = 480  # 10 ms at 48 kHz
    t = 1.0

    def block_at(extra_s: float = 0.0, flag: bool = False) -> None:
        nonlocal t
        t += extra_s
        m.render(np.zeros((block, 2), dtype=np.float32), dac_time=t, now=t - 0.1, underflow=flag)
        t += block / SR

    for _ in range(5):
        block_at(extra_s=0.004 if _ == 0 else 0.0)  # a stream's first blocks may jitter: not gaps
    assert (m.underflows, m.clock_gaps, m.heard_underflows) == (0, 0, 0)
    block_at(extra_s=0.004)  # 4 ms of jitter, under half a block: not a gap
    block_at(extra_s=0.030)  # 30 ms dropped while paused: a gap, not heard
    assert (m.underflows, m.clock_gaps, m.heard_underflows) == (1, 1, 0)
    m.post_play(1)
    block_at()
    block_at(extra_s=0.030)  # while playing: heard
    block_at(extra_s=0.030, flag=True)  # flagged and late: one gap, not two
    block_at(flag=True)  # flagged only
    assert (m.underflows, m.clock_gaps, m.heard_underflows) == (4, 2, 3)
    m.stream_started()  # a new stream's clock starts elsewhere: no gap from the old timeline
    t += 50.0
    for _ in range(4):
        block_at()
    assert m.underflows == 4


def test_audible_sample_follows_the_dac_clock_and_wraps_in_the_loop() -> None:
    idx = np.arange(10000, dtype=np.float32)
    m = _mixer(idx, crossfade_s=0.0, loop=(0, 1000), looping=True)
    assert m.audible_sample(0.0) == 0  # nothing rendered yet: the playhead
    m.post_seek(700)
    m.post_play(1)
    latency = 0.1
    for k in range(8):  # blocks of 256 written at t = k * 256 / SR, audible 0.1 s later
        t = k * 256 / SR
        m.render(np.zeros((256, 1), dtype=np.float32), dac_time=t + latency, now=t)
    assert m.playhead == 700 + 8 * 256 - 2 * 1000
    assert m.audible_sample(0.05) == 700  # no block at the DAC yet: the first block's start
    assert m.audible_sample(latency + 10 / SR) == 710
    assert m.audible_sample(latency + 290 / SR) == 990
    assert m.audible_sample(latency + 310 / SR) == 10  # 700 + 310 wrapped at 1000
    assert m.audible_sample(latency + 2047 / SR) == (700 + 2047) % 1000
    assert m.audible_sample(latency + 5000 / SR) == m.playhead  # last block ended: clamped to its end
    assert m.last_callback_time == pytest.approx(7 * 256 / SR)


def test_callback_does_not_allocate() -> None:
    a, b = _signals(SR * 2)
    m = _mixer(a, b, np.zeros(SR * 2), gains=(1.0, 0.7, 1.0, 1.0), volume=0.8, loop=(1000, 40000), looping=True)
    out = np.zeros((441, 2), dtype=np.float32)
    m.post_play(1)
    slots = [Slot.A, Slot.B, Slot.R]
    commands = [(lambda s=s: m.post_select(s)) for s in slots]  # made before measuring
    for _ in range(50):
        m.render(out, 1.0, 0.9, False)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for i in range(3000):  # ~30 s of audio: crossfades, loop wraps, underflow flags
            if i % 25 == 0:
                commands[(i // 25) % 3]()
            m.render(out, 1.0 + i * 0.01, 0.9 + i * 0.01, i % 100 == 0)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 1024  # no growth
    assert peak - before < 2048  # and never a temporary audio buffer (one block is 441 * 2 * 4 = 3528 B)
    assert m.underflows == 30 and m.blocks == 3050
    assert not math.isnan(m.last_callback_time)
