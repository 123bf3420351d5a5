"""Live face mask detection on a webcam, a video file or a stream: python detect_mask_video.py [--video PATH]"""

from facemask.cli import video_main

if __name__ == "__main__":
    raise SystemExit(video_main())
