"""/metrics: the dashboard's figures in Prometheus' text format, one series per stream (labelled with its
number, as in ?stream=N, and its source), for the metrics stack an operations team already runs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from .labels import CLASSES
from .live import FRAME_BUCKETS


def _families(streams: Sequence[dict]) -> Iterator:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    def family(kind, name: str, doc: str, extra: tuple[str, ...] = ()):
        return kind(f"facemask_{name}", doc, labels=["stream", "source", *extra])

    frames = family(CounterMetricFamily, "frames", "Frames processed")
    fps = family(GaugeMetricFamily, "fps", "Frames per second, over the last few frames")
    faces = family(CounterMetricFamily, "faces", "Faces labelled, per frame they are in, by class", ("label",))
    in_view = family(GaugeMetricFamily, "people_in_view", "People in the current frame, by class", ("label",))
    people = family(GaugeMetricFamily, "people_seen", "Unique people so far (tracks, by their majority class)",
                    ("label",))
    alerts = family(CounterMetricFamily, "alerts", "Alerts raised")
    dropped = family(CounterMetricFamily, "dropped_frames", "Frames of a live source skipped for a newer one")
    reconnects = family(CounterMetricFamily, "reconnects", "Times a live source came back after it stopped")
    stages = family(CounterMetricFamily, "stage_seconds", "Seconds spent in each stage of the frame loop",
                    ("stage",))
    frame_time = family(HistogramMetricFamily, "frame_seconds", "Time from one frame to the next")
    for number, s in enumerate(streams):
        key = [str(number), s.get("source", "")]
        frames.add_metric(key, s["frames"])
        fps.add_metric(key, s["fps"])
        alerts.add_metric(key, s["alerts"])
        dropped.add_metric(key, s.get("dropped", 0))
        reconnects.add_metric(key, s.get("reconnects", 0))
        for c in CLASSES:
            faces.add_metric([*key, c], s["faces"][c])
            in_view.add_metric([*key, c], s["in_view"][c])
            people.add_metric([*key, c], s["people"][c])
        for stage, seconds in sorted(s.get("stage_seconds", {}).items()):
            stages.add_metric([*key, stage], seconds)
        histogram = s.get("frame_seconds")
        if histogram:
            cumulative, buckets = 0, []
            for bound, n in zip((*map(str, FRAME_BUCKETS), "+Inf"), histogram["buckets"], strict=True):
                cumulative += n
                buckets.append((bound, cumulative))
            frame_time.add_metric(key, buckets, histogram["sum"])
    yield from (frames, fps, faces, in_view, people, alerts, dropped, reconnects, stages, frame_time)


def prometheus_text(streams: Sequence[dict]) -> tuple[bytes, str]:
    """(body, content type) of a scrape of these streams' /api/stats figures."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    class Collector:
        def collect(self):
            return _families(streams)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
