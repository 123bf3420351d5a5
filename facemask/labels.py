"""The three classes, how they are shown, and the spellings other datasets use for them."""

from collections.abc import Mapping

CLASSES = ("with_mask", "without_mask", "incorrect_mask")

DISPLAY_NAMES = {
    "with_mask": "Mask",
    "without_mask": "No Mask",
    "incorrect_mask": "Incorrect Mask",
}

# BGR, as OpenCV draws.
COLORS = {
    "with_mask": (0, 200, 0),
    "without_mask": (0, 0, 230),
    "incorrect_mask": (0, 140, 255),
}

UNSURE_COLOR = (150, 150, 150)  # a face too small to tell: grey

ALIASES = {
    "with_mask": "with_mask",
    "mask": "with_mask",
    "correct": "with_mask",
    "mask_correct": "with_mask",
    "without_mask": "without_mask",
    "no_mask": "without_mask",
    "nomask": "without_mask",
    "incorrect_mask": "incorrect_mask",
    "mask_weared_incorrect": "incorrect_mask",
    "with_incorrect_mask": "incorrect_mask",
    "mask_incorrect": "incorrect_mask",
    "incorrect": "incorrect_mask",
    "mask_worn_incorrectly": "incorrect_mask",
}


def canonical_label(name: str) -> str | None:
    """Map a dataset's spelling of a class to ours; None when it names none of them."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return ALIASES.get(key)


def per_class(counts: Mapping[str, int]) -> dict[str, int]:
    """Counts per class in CLASSES order, every class present (0 where none): the one shape of a per-class
    tally in summaries, the dashboard's figures and payloads."""
    return {c: counts.get(c, 0) for c in CLASSES}


def counts_text(counts: Mapping[str, int], unsure: int = 0) -> str:
    """Faces per class as the summaries print them, e.g. "Mask 3, No Mask 1, Incorrect Mask 0", and the faces
    too small to tell when there were any."""
    text = ", ".join(f"{DISPLAY_NAMES[c]} {counts.get(c, 0)}" for c in CLASSES)
    return text + (f", too small to tell {unsure}" if unsure else "")


def compliance(counts: Mapping[str, int], digits: int | None = None) -> float | None:
    """The share of people, among those counted per class, who wear a mask and wear it right (rounded to
    `digits` for JSON); None when none were counted."""
    total = sum(counts.values())
    if not total:
        return None
    rate = counts.get("with_mask", 0) / total
    return rate if digits is None else round(rate, digits)
