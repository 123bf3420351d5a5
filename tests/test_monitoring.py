"""Tracks, counts, alerts and the event log: on hand-made detections, and end to end on generated videos."""

import io
import json
import shlex
import sys
import time
from contextlib import redirect_stderr, redirect_stdout

import cv2
import numpy as np
import pytest
from conftest import CLASS_COLORS, GRACE_HOPPER, write_video

from facemask.alerts import AlertRules
from facemask.cli import video_main
from facemask.errors import OutputError
from facemask.events import CommandHook, EventLog, label_runs, ring_bell
from facemask.overlay import draw_faces, draw_tally, face_text, tally_lines
from facemask.sinks import AlertConsole, EventLogSink
from facemask.tracking import Tracker
from facemask.types import UNSURE_BELOW, Face, FrameResult, Summary

FPS = 10
MASK, BARE, WRONG = np.array([0.9, 0.05, 0.05]), np.array([0.05, 0.9, 0.05]), np.array([0.05, 0.05, 0.9])
LEFT, RIGHT = (10, 10, 110, 110), (300, 10, 400, 110)


def visible_faces(tracker: Tracker) -> list[Face]:
    return [Face(t.int_box(640, 480), t.label, float(t.probs.max()), t.probs, t.score, t.id) for t in tracker.visible()]


def feed(rules: AlertRules, frames: list[list[tuple]], sinks=()) -> list[tuple[int, dict]]:
    """Each frame's detections as (box, probs) pairs, at FPS frames a second, through the rules and then the
    sinks; returns (frame, event) pairs."""
    events = []
    for index, detections in enumerate(frames):
        probs = np.array([p for _, p in detections]).reshape(-1, 3)
        rules.tracker.update([(box, 0.9) for box, _ in detections], probs)
        faces = visible_faces(rules.tracker)
        result = FrameResult(index, index / FPS, faces, rules.update(faces, index, index / FPS),
                             np.zeros((480, 640, 3), np.uint8))
        for sink in sinks:
            sink.observe(result)
        events += [(index, e) for e in result.events]
    return events


def alerts_of(events: list[tuple[int, dict]]) -> list[tuple[int, int, str]]:
    return [(i, e["track"], e["label"]) for i, e in events if e["event"] == "alert"]


def test_one_alert_per_person_after_the_set_time_and_not_before():
    rules = AlertRules(Tracker(), alert_after=1.0)
    events = feed(rules, [[(LEFT, BARE), (RIGHT, MASK)]] * 35)
    assert alerts_of(events) == [(10, 1, "without_mask")]  # 10 frames at 10 fps: one second
    assert rules.alerts == 1


def test_a_mask_put_on_restarts_the_clock_and_wrong_or_none_count_together(capsys):
    rules = AlertRules(Tracker(smooth=1), alert_after=1.0)
    labels = [BARE] * 6 + [MASK] * 3 + [BARE] * 5 + [WRONG] * 20
    events = feed(rules, [[(LEFT, p)] for p in labels], [AlertConsole(bell=False)])
    assert alerts_of(events) == [(19, 1, "incorrect_mask")]  # the clock restarted at frame 9
    alert = events[0][1]
    assert alert["seconds"] == 1.0 and alert["video_time"] == 1.9 and alert["box"] == list(LEFT)
    assert alert["labels"] == [["without_mask", 6], ["with_mask", 3], ["without_mask", 5], ["incorrect_mask", 6]]
    assert "alert: #1 Incorrect Mask for 1 s (frame 19)" in capsys.readouterr().err


def test_alert_after_zero_alerts_on_first_sight():
    rules = AlertRules(Tracker(), alert_after=0)
    assert alerts_of(feed(rules, [[(LEFT, WRONG)]] * 3)) == [(0, 1, "incorrect_mask")]


def test_ended_tracks_are_logged_and_people_counted_once_by_majority_label(tmp_path):
    log = tmp_path / "logs" / "events.jsonl"
    rules, sink = AlertRules(Tracker(smooth=1), alert_after=10, source="cam"), EventLogSink(log)
    right = [MASK, MASK, BARE, MASK, BARE]  # mostly masked, though not at the end
    frames = [[(LEFT, BARE), (RIGHT, right[i])] for i in range(5)] + [[(LEFT, BARE)]] * 5
    events = feed(rules, frames, [sink])
    ends = [(i, e) for i, e in events if e["event"] == "track_end"]
    assert [(i, e["track"]) for i, e in ends] == [(7, 2)]  # three detections missed: gone
    end = ends[0][1]
    assert end["label"] == "with_mask"
    assert end["labels"] == [["with_mask", 2], ["without_mask", 1], ["with_mask", 1], ["without_mask", 1]]
    assert (end["first_frame"], end["last_frame"], end["box"], end["alerted"]) == (0, 4, list(RIGHT), False)
    logged = [json.loads(line) for line in log.read_text().splitlines()]  # written before the log closes
    assert logged == [end]
    sink.observe(FrameResult(9, 0.9, [], rules.close(9, 0.9)))
    sink.close(Summary())
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["event"], e["track"], e["frame"], e["label"], e["source"]) for e in logged] == [
        ("track_end", 2, 7, "with_mask", "cam"), ("track_end", 1, 9, "without_mask", "cam")]
    assert {"time", "video_time", "labels", "box"} <= set(logged[1])
    assert rules.people == {"with_mask": 1, "without_mask": 1}


def test_the_log_appends_across_runs(tmp_path):
    path = tmp_path / "events.jsonl"
    for n in range(2):
        log = EventLog(path)
        log.write({"n": n})
        log.close()
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"n": 0}, {"n": 1}]


def hook_command(tmp_path, sleep: float = 0.0) -> tuple[str, object]:
    """A command that waits a while, then appends its stdin to a file."""
    script = tmp_path / "hook.py"
    script.write_text(f"import sys, time\ntime.sleep({sleep})\nopen(sys.argv[1], 'a').write(sys.stdin.read())\n")
    out = tmp_path / "hook-received.jsonl"
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(out))}", out


def test_on_alert_command_gets_the_event_without_holding_up_the_caller(tmp_path):
    command, out = hook_command(tmp_path, sleep=1.0)
    hook = CommandHook(command)
    start = time.perf_counter()
    hook.send({"event": "alert", "track": 1})
    hook.send({"event": "alert", "track": 2})
    assert time.perf_counter() - start < 0.5  # the commands take 2 s
    hook.close()  # waits for both
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"event": "alert", "track": 1}, {"event": "alert", "track": 2}]


def test_a_failing_or_hanging_command_is_one_warning_each(capsys):
    hook = CommandHook(f"{shlex.quote(sys.executable)} -c 'raise SystemExit(3)'")
    hook.send({})
    hook.close()
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "exit status 3" in err
    hook = CommandHook(f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(5)'", timeout=0.5)
    hook.send({})
    hook.close()
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "killed after 0.5 s" in err


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.skipif(sys.platform == "win32", reason="Windows beeps instead")
def test_the_bell_rings_on_a_terminal_only():
    terminal, file = FakeTerminal(), io.StringIO()
    assert ring_bell(terminal) and terminal.getvalue() == "\a"
    assert not ring_bell(file) and file.getvalue() == ""


def test_label_runs():
    assert label_runs([]) == []
    assert label_runs(["a", "a", "b", "a"]) == [["a", 2], ["b", 1], ["a", 1]]


def test_tally_and_box_labels():
    faces = [Face((0, 0, 40, 40), label, 0.97, MASK, 1.0, i) for i, label in
             enumerate(["with_mask", "with_mask", "without_mask", "with_mask"], 1)]
    assert tally_lines(faces) == ["In view: 4", "Mask: 3", "No Mask: 1", "Incorrect Mask: 0", "Compliance: 75%"]
    assert tally_lines([])[-1] == "Compliance: -"
    assert face_text(faces[2]) == "#3 No Mask: 97.0%"
    assert face_text(Face((0, 0, 40, 40), "with_mask", 0.5, MASK)) == "Mask: 50.0%"


def test_a_face_too_small_to_tell_is_shown_as_unsure_and_left_out_of_the_counts():
    big = Face((0, 0, 40, 40), "with_mask", 0.97, MASK, 1.0, 1)
    small = Face((100, 100, 160, 100 + UNSURE_BELOW - 1), "without_mask", 0.9, BARE, 1.0, 2)  # 31 px high
    assert not big.unsure and small.unsure
    assert not Face((0, 0, UNSURE_BELOW, UNSURE_BELOW), "without_mask", 0.9, BARE).unsure
    assert face_text(small) == "#2 ?"
    assert tally_lines([big, small]) == ["In view: 2", "Mask: 1", "No Mask: 0", "Incorrect Mask: 0", "Too small: 1",
                                         "Compliance: 100%"]
    assert tally_lines([small])[-2:] == ["Too small: 1", "Compliance: -"]


def test_a_face_too_small_to_tell_is_never_alerted_on():
    tiny, grown = (10, 10, 40, 40), (10, 10, 44, 44)  # 30 px, then 34: the same track
    rules = AlertRules(Tracker(smooth=1), alert_after=1.0)
    events = feed(rules, [[(tiny, BARE)]] * 30 + [[(grown, BARE)]] * 15)
    assert alerts_of(events) == [(40, 1, "without_mask")]  # one second after it grew big enough to tell


# End to end: generated videos whose faces the colour model labels by their tint.

FACE = cv2.resize(cv2.imread(str(GRACE_HOPPER)), (160, 187))


def person(label: str) -> np.ndarray:
    return np.clip(0.5 * FACE + 0.5 * np.array(CLASS_COLORS[label]), 0, 255).astype(np.uint8)


def frame_with(people: list[tuple[str, int, int]]) -> np.ndarray:
    frame = np.zeros((480, 640, 3), np.uint8)
    for label, x, y in people:
        frame[y : y + 187, x : x + 160] = person(label)
    return frame


def run_video(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = video_main([*argv, "--no-display", "--no-bell"])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module", params=["yunet", "ssd"])
def three_people(tmp_path_factory, color_model, request):
    """40 frames at 10 fps. A, unmasked, walks right the whole time; B, masked, leaves after frame 19;
    C, mask worn wrong, comes in at frame 15. Alerts after 1 s: A at frame 10, C at frame 25, never B."""
    root = tmp_path_factory.mktemp("people")
    frames = []
    for i in range(40):
        people = [("without_mask", 40 + i, 40)]
        if i < 20:
            people.append(("with_mask", 300, 40))
        if i >= 15:
            people.append(("incorrect_mask", 440, 260))
        frames.append(frame_with(people))
    video = write_video(root / "people.mp4", frames, fps=FPS)
    command, received = hook_command(root)
    code, out, err = run_video([
        "--video", str(video), "-m", str(color_model), "--face-detector", request.param,
        "--alert-after", "1", "--on-alert", command,
        "--log", str(root / "events.jsonl"), "--snapshots", str(root / "snaps"), "--output", str(root / "out.mp4"),
    ])
    assert code == 0, err
    events = [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]
    return {"root": root, "out": out, "err": err, "events": events, "received": received}


def by_kind(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["event"] == kind]


def test_each_person_keeps_one_track_id(three_people):
    ends = by_kind(three_people["events"], "track_end")
    spans = sorted((e["first_frame"], e["last_frame"], e["label"]) for e in ends)
    assert spans == [(0, 19, "with_mask"), (0, 39, "without_mask"), (15, 39, "incorrect_mask")]
    assert len({e["track"] for e in ends}) == 3
    b = next(e for e in ends if e["label"] == "with_mask")
    assert (b["frame"], b["alerted"], b["labels"]) == (22, False, [["with_mask", 20]])  # ended 3 frames after


def test_alerts_come_once_per_person_after_one_second_of_video(three_people):
    events = three_people["events"]
    alerts = by_kind(events, "alert")
    assert [(e["frame"], e["video_time"], e["label"], e["seconds"]) for e in alerts] == [
        (10, 1.0, "without_mask", 1.0), (25, 2.5, "incorrect_mask", 1.0)]
    ends = {e["track"]: e for e in by_kind(events, "track_end")}
    assert [ends[e["track"]]["label"] for e in alerts] == ["without_mask", "incorrect_mask"]
    assert all(ends[e["track"]]["alerted"] for e in alerts)
    assert all(e["labels"] == [[e["label"], 11]] for e in alerts)  # 11 detections: frames 0..10 or 15..25
    x1, y1, x2, y2 = alerts[1]["box"]
    assert 440 <= x1 < x2 <= 600 and 260 <= y1 < y2 <= 447  # C's face
    assert three_people["err"].count("alert: #") == 2


def test_the_on_alert_command_received_each_alert(three_people):
    received = [json.loads(line) for line in three_people["received"].read_text().splitlines()]
    assert received == by_kind(three_people["events"], "alert")


def test_snapshots_hold_the_frame_of_each_alert_with_its_banner(three_people):
    paths = [e["snapshot"] for e in by_kind(three_people["events"], "alert")]
    assert sorted(paths) == sorted(str(p) for p in (three_people["root"] / "snaps").iterdir())
    for path in paths:
        image = cv2.imread(path)
        assert image.shape == (480, 640, 3)
        assert np.abs(image[-3:].astype(int) - (0, 0, 200)).mean() < 30  # the red banner along the bottom
    assert "frame000010" in paths[0] and "frame000025" in paths[1]


def test_summary_counts_unique_people(three_people):
    first, second = three_people["out"].splitlines()[:2]
    assert first.startswith("40 frames, faces: Mask 20, No Mask 40, Incorrect Mask 25;")
    assert second == "people (one per track): Mask 1, No Mask 1, Incorrect Mask 1; alerts: 2"


@pytest.mark.parametrize(("smooth", "alert_frame"), [(5, 10), (1, 16)])
def test_one_ambiguous_frame_neither_flips_the_label_nor_delays_the_alert(
    tmp_path, color_model, smooth, alert_frame
):
    frames = [frame_with([("with_mask" if i == 5 else "without_mask", 200, 100)]) for i in range(20)]
    video = write_video(tmp_path / "flicker.mp4", frames, fps=FPS)
    log = tmp_path / "events.jsonl"
    code, _, err = run_video(["--video", str(video), "-m", str(color_model), "--alert-after", "1",
                              "--log", str(log), "--smooth", str(smooth), "--reclassify-every", "1"])
    assert code == 0, err
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["frame"] for e in by_kind(events, "alert")] == [alert_frame]
    (end,) = by_kind(events, "track_end")
    expected = [["without_mask", 20]] if smooth > 1 else [["without_mask", 5], ["with_mask", 1], ["without_mask", 14]]
    assert end["labels"] == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--alert-after", "-1"], "must be 0 or more"), (["--snapshots", __file__], "not a folder"),
     (["--log", "."], "is a folder")],
)
def test_bad_monitoring_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        video_main([*argv, "--no-display"])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_snapshot_that_cannot_be_written_is_warned_and_ends_the_run_with_status_1(tmp_path, color_model,
                                                                                    monkeypatch):
    def full_disk(path, image, **kwargs):
        raise OutputError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr("facemask.sinks.write_image", full_disk)
    frames = [frame_with([("without_mask", 200, 100)]) for _ in range(15)]
    video = write_video(tmp_path / "one.mp4", frames, fps=FPS)
    log = tmp_path / "events.jsonl"
    code, out, err = run_video(["--video", str(video), "-m", str(color_model), "--alert-after", "1",
                                "--log", str(log), "--snapshots", str(tmp_path / "snaps")])
    assert code == 1
    assert out.startswith("15 frames, faces:")  # the summary still comes first
    assert "No space left on device" in err
    assert err.strip().splitlines()[-1] == (f"error: 1 alert snapshot(s) could not be written to {tmp_path / 'snaps'} "
                                            "(the alerts themselves were raised and logged)")
    alerts = [json.loads(line) for line in log.read_text().splitlines() if '"alert"' in line]
    assert len(alerts) == 1 and alerts[0]["snapshot"] is None


@pytest.mark.parametrize("draw", [draw_faces, draw_tally])
def test_labels_on_a_4k_frame_are_drawn_as_large_as_on_a_720p_one_seen_at_the_same_size(draw):
    """What is drawn grows with the frame, so that a 4K frame scaled down to a screen is as readable as 720p."""
    def drawn_rows(width: int, height: int) -> int:
        frame = np.full((height, width, 3), 128, np.uint8)
        box = (width // 4, height // 4, width // 2, height // 2)
        draw(frame, [Face(box, "with_mask", 0.97, MASK, 0.9, 3)])
        changed = np.any(frame != 128, axis=2)
        changed[box[1] : box[3] + 1, box[0] : box[2] + 1] = False  # the box itself
        return int(changed.any(axis=1).sum())

    small, large = drawn_rows(1280, 720), drawn_rows(3840, 2160)
    assert 2.5 * small <= large <= 3.5 * small
