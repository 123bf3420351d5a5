"""Face mask detection: for every face in a frame, a mask worn, none, or one worn incorrectly.

    from facemask import CLASSES, MaskDetector
    det = MaskDetector.load()
    faces = det.detect(frame_bgr)      # [Face(box, label, confidence, probs), ...]
    probs = det.classify([crop_bgr])   # (N, 3) in CLASSES order
"""

from .detector import Face, MaskDetector
from .errors import FacemaskError
from .labels import CLASSES

__all__ = ["CLASSES", "Face", "FacemaskError", "MaskDetector"]
