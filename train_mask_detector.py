"""Train the face mask classifier: python train_mask_detector.py --dataset dataset --model models/mask_detector.h5"""

from facemask.cli import train_main

if __name__ == "__main__":
    raise SystemExit(train_main())
