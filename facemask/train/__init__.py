"""Training: the tf.data pipeline, the model, the training loop and its report (used by train_mask_detector.py)."""
