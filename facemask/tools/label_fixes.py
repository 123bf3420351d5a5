"""Faces that a public dataset labels against our definition of the classes, and the class they get instead.

Our definition: a mask that leaves the nose or the mouth uncovered (under the nose, on the chin, over the
eyes) is worn incorrectly. The public sets disagree in places: `mask-nomask-real` files many masks worn
under the nose as `with_mask`, ILC 2021 some masks on the chin as `without_mask`. Taught as they are, such
faces tell the model that a mask under the nose is fine, the very mistake this project exists to fix.

`label_fixes.csv` lists each face checked by eye, by the name the dataset tool gives its crop
(`<source>_<image stem>_<object index>`), with the label its dataset gives (a fix applies only while the
dataset still says that) and ours. It holds no image and nothing copied from the datasets.

How the list was made: the faces looked at were those where a model disagreed with the label about the
incorrect class (on the training split, a model trained on the other half of it), plus validation and
test faces it gave a probability of being incorrect of 0.1 or more; a label was changed only where the
nose or the mouth is plainly uncovered, and unclear faces kept theirs. A second round did the same for the
validation and test faces of the end-to-end fine-tuned model (`--fine-tune all`), also looking at the
incorrect faces it missed, and for the training faces it gave 0.3 or more though it had trained on them.
Faces the models agree on were not looked at, so more wrong labels remain.
"""

from __future__ import annotations

from pathlib import Path

from facemask.errors import DatasetError
from facemask.files import read_csv
from facemask.labels import CLASSES, canonical_label

LABEL_FIXES = Path(__file__).with_name("label_fixes.csv")


def read_label_fixes(path: str | Path = LABEL_FIXES) -> dict[str, tuple[str, str]]:
    """face name → (the label its dataset gives, our label), both in our spelling of the classes."""
    fixes = {}
    for line, row in enumerate(read_csv(path, "label fixes"), start=2):
        was, label = canonical_label(row.get("was") or ""), canonical_label(row.get("class") or "")
        if not row.get("face") or was is None or label is None:
            raise DatasetError(f"{path}:{line}: needs a face name and was/class among {CLASSES}")
        fixes[row["face"]] = (was, label)
    return fixes


def fixed_label(fixes: dict[str, tuple[str, str]], face: str, label: str) -> str:
    """Our label for a face its dataset labels `label`."""
    was, ours = fixes.get(face, (None, None))
    return ours if was == label else label
