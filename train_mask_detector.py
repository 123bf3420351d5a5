"""Train the face mask classifier: python train_mask_detector.py --dataset dataset --model models/mask_detector.h5"""

from facemask.cli import train_console

if __name__ == "__main__":
    train_console()
