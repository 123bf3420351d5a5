"""Live face mask detection on a webcam, a video file or a stream: python detect_mask_video.py [--video PATH]"""

from facemask.cli import video_console

if __name__ == "__main__":
    video_console()
