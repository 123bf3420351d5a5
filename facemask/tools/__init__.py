"""Offline tools on data and figures: building the dataset, synthesising masks, evaluating on annotated photos."""
