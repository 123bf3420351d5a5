"""Face mask detection on images: python detect_mask_image.py --image PATH (a file or a folder)"""

from facemask.cli import image_console

if __name__ == "__main__":
    image_console()
